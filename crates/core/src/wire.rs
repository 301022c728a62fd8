//! The one wire codec every transport uses: a version byte, then the
//! message in `postcard` (compact, varint-encoded serde), then, for a
//! segment ACK, the payload's length (a postcard varint) and its bytes, raw,
//! which end the message.
//!
//! ```text
//!   [WIRE_VERSION] [postcard(Message) header] [ACK only: varint length] [ACK only: payload]
//! ```
//!
//! The payload goes after the header rather than inside it so that real
//! data is never copied by the codec: [`encode_segment_ack`] lets the
//! sender read a segment straight into the message, and [`decode_owned`]
//! hands the received buffer to the [`Payload`] whole (the header stays in
//! front of it, unread). [`encode`] and [`decode`] are the same format for
//! callers that hold a message or borrow bytes.
//!
//! Several small messages to one rank may travel in one [`bundle`].
//!
//! Decoding never panics and never trusts a length it has not seen bytes
//! for: bad input from another rank (a bug, or a different build of the
//! binary) is a [`WireError`], which the caller reports and aborts on.

use crate::{FileId, Message, Payload, SegmentIdx};
use std::io;

mod bundle;
pub use bundle::{bundle, decode_all, overhead as bundle_overhead, BUNDLE_MARK};

/// Bumped whenever the meaning or layout of a message changes.
/// 2: REGISTER carries candidates, LEAVE, and the ACK payload after the header.
/// 3: REGISTER carries the peer's destination folder (`share`).
/// 4: SWARM_REQUEST and PEER_UPDATE name the hint policy they ask for;
///    TREE_OFFER and TREE_PLAN (`share`: modes, times, folders, links,
///    free space, reruns) before REGISTER.
/// 5: TREE_OFFER says how many segments of its source the peer hashed
///    (`share --manifest`).
/// 6: TREE_PLAN packs small files (`share`); SEGMENT_BATCH (several
///    segments asked of one owner, which may be a relay) and the `relay`
///    hint policy.
/// 7: `share` starts at once: HASHES (a seeder's hashes sent while it
///    serves, an empty hash in a listing standing for one to come), the
///    TREE_PLAN's `compared` files, STATS' start times; the `tree` hint
///    policy.
/// 8: a source shared by several seeders is read once: REGISTER's
///    `stripes`, TREE_OFFER's `manifest`, TREE_PLAN's `stripes`, STATS'
///    `source_bytes_read`.
/// 9: bundles (several small messages to one rank in one transport
///    message, [`bundle`]).
pub const WIRE_VERSION: u8 = 9;

/// A message that could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    #[error("empty message")]
    Empty,
    #[error(
        "wire version {found} where {WIRE_VERSION} was expected \
         (are all ranks running the same mpitorrent build?)"
    )]
    Version { found: u8 },
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Encodes a message for sending.
pub fn encode(msg: &Message) -> Vec<u8> {
    match msg {
        Message::SegmentAck {
            file,
            index,
            payload,
        } => encode_segment_ack(*file, *index, payload.len(), |out| {
            out.extend_from_slice(payload);
            Ok(())
        })
        .expect("appending exactly the payload's bytes cannot fail"),
        _ => header(msg),
    }
}

/// Encodes a segment ACK whose `len` payload bytes `fill` appends to the
/// message (for instance by reading them from disk straight into its spare
/// room, which is reserved), so they are never copied again. `fill`'s error
/// is returned as is; appending any other number of bytes than `len` is an
/// `UnexpectedEof` error (a file that shrank under us).
pub fn encode_segment_ack(
    file: FileId,
    index: SegmentIdx,
    len: usize,
    fill: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
) -> io::Result<Vec<u8>> {
    let ack = Message::SegmentAck {
        file,
        index,
        payload: Payload::default(),
    };
    let mut out = header(&ack);
    postcard::to_io(&(len as u64), &mut out).expect("postcard serializes a length");
    out.reserve_exact(len);
    let start = out.len();
    fill(&mut out)?;
    let appended = out.len() - start;
    if appended != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("read {appended} byte(s) of a {len}-byte segment"),
        ));
    }
    Ok(out)
}

/// The version byte and the postcard header of `msg`.
fn header(msg: &Message) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION];
    // Serializing to a Vec cannot fail for these plain data types.
    postcard::to_io(msg, &mut out).expect("postcard serializes every Message");
    out
}

/// Decodes bytes received from another rank, copying an ACK's payload.
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    let (msg, start) = decode_header(bytes)?;
    attach_payload(msg, start, bytes.len(), || bytes[start..].to_vec().into())
}

/// Decodes a received buffer, keeping it as an ACK's payload (no copy).
pub fn decode_owned(bytes: Vec<u8>) -> Result<Message, WireError> {
    let (msg, start) = decode_header(&bytes)?;
    let end = bytes.len();
    attach_payload(msg, start, end, || Payload::tail_of(bytes, start))
}

/// The message's header (with an ACK's payload length read), and where the
/// bytes after it start.
fn decode_header(bytes: &[u8]) -> Result<(Message, usize), WireError> {
    let (&version, body) = bytes.split_first().ok_or(WireError::Empty)?;
    if version != WIRE_VERSION {
        return Err(WireError::Version { found: version });
    }
    let malformed = |e: postcard::Error| WireError::Malformed(e.to_string());
    let (msg, mut rest) = postcard::take_from_bytes::<Message>(body).map_err(malformed)?;
    if let Message::SegmentAck { .. } = msg {
        let (len, payload) = postcard::take_from_bytes::<u64>(rest).map_err(malformed)?;
        if len != payload.len() as u64 {
            return Err(WireError::Malformed(format!(
                "a segment ACK announces {len} payload byte(s) but carries {}",
                payload.len()
            )));
        }
        rest = payload;
    }
    Ok((msg, bytes.len() - rest.len()))
}

/// Gives an ACK the bytes after its header (their length is checked); any
/// other message must end with its header.
fn attach_payload(
    mut msg: Message,
    start: usize,
    end: usize,
    tail: impl FnOnce() -> Payload,
) -> Result<Message, WireError> {
    match &mut msg {
        Message::SegmentAck { payload, .. } => *payload = tail(),
        _ if start < end => {
            return Err(WireError::Malformed(format!(
                "{} unexpected byte(s) after the message",
                end - start
            )))
        }
        _ => {}
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::{HintKind, HintRequest};
    use crate::{Destination, FileId, FileListing, Owner, Rank, Registration};
    use proptest::prelude::*;

    /// A seeder's offer with one entry of each kind and a file present.
    fn tree_offer() -> crate::tree::TreeOffer {
        use crate::tree::{FileMeta, Mtime, Present, TreeEntry, TreeOffer};
        let mtime = Mtime {
            secs: -3,
            nanos: 999_999_999,
        };
        TreeOffer {
            entries: vec![
                TreeEntry::File {
                    name: "bin/run".into(),
                    meta: FileMeta {
                        size: u64::MAX,
                        mode: 0o755,
                        mtime,
                    },
                },
                TreeEntry::Folder {
                    name: "empty".into(),
                    mode: 0o700,
                    mtime,
                },
                TreeEntry::Link {
                    name: "latest".into(),
                    target: "../v2/x".into(),
                },
            ],
            present: vec![Present {
                name: "bin/run".into(),
                size: 7,
                mtime,
            }],
            parts: vec![Present {
                name: "half".into(),
                size: 0,
                mtime: Mtime::default(),
            }],
            destination: Destination::default(),
            available: 1 << 40,
            source_segments_hashed: 3,
            manifest: true,
        }
    }

    fn samples() -> Vec<Message> {
        vec![
            Message::Register(Registration {
                owned: vec![FileListing {
                    name: "file1".into(),
                    hashes: vec!["aa".into(), "bb".into()],
                }],
                wanted: vec!["file2".into()],
                want_all: true,
                candidates: vec![],
                destination: Some(Destination {
                    host: "node-7".into(),
                    device: 2049,
                    inode: u64::MAX,
                    path: "/local/3/data".into(),
                }),
                stripes: vec![crate::Stripe {
                    name: "file1".into(),
                    first: 1,
                    end: 2,
                }],
            }),
            Message::Register(Registration::default()),
            Message::RegisterAck {
                file_ids: vec![FileId(0), FileId(7)],
                candidate_ids: vec![None, Some(FileId(2))],
                wanted: vec!["sub/dir/file".into()],
            },
            Message::Abort {
                reason: "rank 3: in3.txt line 2: bad".into(),
            },
            Message::SwarmRequest {
                name: "file2".into(),
                hints: HintRequest {
                    kind: HintKind::Rarest,
                    count: 20,
                },
            },
            Message::SwarmReply {
                file: FileId(1),
                hashes: vec!["cc".into()],
                owners: vec![Owner {
                    rank: Rank(2),
                    seed: true,
                    held: 1,
                    load: 12,
                }],
                hints: vec![(3, Rank(2))],
            },
            Message::PeerUpdate {
                file: FileId(1),
                received: vec![(0, Rank(2)), (5, Rank(3))],
                hints: HintRequest {
                    kind: HintKind::Paced,
                    count: u32::MAX,
                },
            },
            Message::SwarmRefresh {
                file: FileId(1),
                owners: vec![],
                hints: vec![],
            },
            Message::FileCompleted {
                file: FileId(3),
                received: vec![(7, Rank(1))],
            },
            Message::AllFilesCompleted,
            Message::SegmentRequest {
                file: FileId(2),
                index: 99_999,
            },
            Message::SegmentBatch {
                file: FileId(2),
                indices: vec![3, 99_999, 0],
            },
            Message::SegmentAck {
                file: FileId(2),
                index: 4,
                payload: vec![1, 2, 3].into(),
            },
            Message::SegmentNack {
                file: FileId(2),
                index: 4,
            },
            Message::Terminate,
            Message::Leave { file: FileId(4) },
            Message::Hashes {
                file: FileId(3),
                first: 64,
                hashes: vec!["ab".into(), "cd".into()],
            },
            Message::TreeOffer(Box::new(tree_offer())),
            Message::TreePlan(Box::new(crate::tree::TreePlan {
                entries: tree_offer().entries,
                unchanged: vec!["a/b".into()],
                rehash: vec!["c".into()],
                resume: vec!["d".into()],
                packs: vec![crate::tree::pack::Pack {
                    name: "/pack 1: a/b".into(),
                    members: vec![0],
                }],
                seeds: vec![0],
                fetches: vec![],
                compared: vec!["c".into()],
                unwanted: vec!["u".into()],
                stripes: vec![crate::Stripe {
                    name: "bin/run".into(),
                    first: 0,
                    end: 9,
                }],
            })),
            Message::Stats(Box::new(crate::stats::PeerStats {
                nacks_received: 3,
                completed: vec![(FileId(1), 250)],
                source_bytes_read: 5 << 30,
                ..Default::default()
            })),
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for msg in samples() {
            assert_eq!(decode(&encode(&msg)).unwrap(), msg);
            assert_eq!(decode_owned(encode(&msg)).unwrap(), msg);
        }
    }

    #[test]
    fn an_ack_filled_in_place_is_the_same_message() {
        let filled = encode_segment_ack(FileId(3), 9, 4, |out| {
            out.extend_from_slice(b"data");
            Ok(())
        })
        .unwrap();
        let ack = Message::SegmentAck {
            file: FileId(3),
            index: 9,
            payload: b"data".to_vec().into(),
        };
        assert_eq!(filled, encode(&ack));
        assert_eq!(decode_owned(filled).unwrap(), ack);
        let failed = encode_segment_ack(FileId(3), 9, 4, |_| Err(io::Error::other("disk gone")));
        assert_eq!(failed.unwrap_err().to_string(), "disk gone");
        let short = encode_segment_ack(FileId(3), 9, 4, |out| {
            out.push(1);
            Ok(())
        });
        assert_eq!(short.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn an_empty_ack_payload_round_trips() {
        let ack = Message::SegmentAck {
            file: FileId(1),
            index: 0,
            payload: Payload::default(),
        };
        assert_eq!(decode_owned(encode(&ack)).unwrap(), ack);
    }

    #[test]
    fn rejects_empty_wrong_version_and_trailing_bytes() {
        assert_eq!(decode(&[]), Err(WireError::Empty));
        let mut bytes = encode(&Message::Terminate);
        bytes[0] = WIRE_VERSION + 1;
        assert!(matches!(
            decode(&bytes),
            Err(WireError::Version { found }) if found == WIRE_VERSION + 1
        ));
        let mut bytes = encode(&Message::Terminate);
        bytes.push(0);
        assert!(matches!(decode(&bytes), Err(WireError::Malformed(_))));
        assert!(matches!(decode_owned(bytes), Err(WireError::Malformed(_))));
    }

    #[test]
    fn every_truncation_is_an_error() {
        for msg in samples() {
            let bytes = encode(&msg);
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "{msg:?} cut at {cut}");
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn never_panics_on_versioned_garbage(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut bytes = vec![WIRE_VERSION];
            bytes.extend(body);
            let _ = decode(&bytes);
        }
    }
}
