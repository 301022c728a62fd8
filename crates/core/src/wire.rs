//! The one wire codec every transport uses: a version byte, then the
//! message in `postcard` (compact, varint-encoded serde).
//!
//! Decoding never panics and never trusts a length it has not seen bytes
//! for: bad input from another rank (a bug, or a different build of the
//! binary) is a [`WireError`], which the caller reports and aborts on.

use crate::Message;

/// Bumped whenever the meaning or layout of a message changes.
pub const WIRE_VERSION: u8 = 1;

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
    let mut out = vec![WIRE_VERSION];
    // Serializing to a Vec cannot fail for these plain data types.
    postcard::to_io(msg, &mut out).expect("postcard serializes every Message");
    out
}

/// Decodes bytes received from another rank.
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    let (&version, body) = bytes.split_first().ok_or(WireError::Empty)?;
    if version != WIRE_VERSION {
        return Err(WireError::Version { found: version });
    }
    let (msg, rest) =
        postcard::take_from_bytes(body).map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Malformed(format!(
            "{} unexpected byte(s) after the message",
            rest.len()
        )));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileId, FileListing, Owner, Rank, Registration};
    use proptest::prelude::*;

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
            }),
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
                hints: 20,
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
                hints: 0,
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
            Message::SegmentAck {
                file: FileId(2),
                index: 4,
                payload: vec![1, 2, 3],
            },
            Message::SegmentNack {
                file: FileId(2),
                index: 4,
            },
            Message::Terminate,
            Message::Leave { file: FileId(4) },
            Message::Stats(Box::new(crate::stats::PeerStats {
                nacks_received: 3,
                completed: vec![(FileId(1), 250)],
                ..Default::default()
            })),
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for msg in samples() {
            assert_eq!(decode(&encode(&msg)).unwrap(), msg);
        }
    }

    #[test]
    fn rejects_empty_wrong_version_and_trailing_bytes() {
        assert_eq!(decode(&[]), Err(WireError::Empty));
        let mut bytes = encode(&Message::Terminate);
        bytes[0] = 9;
        assert!(matches!(
            decode(&bytes),
            Err(WireError::Version { found: 9 })
        ));
        let mut bytes = encode(&Message::Terminate);
        bytes.push(0);
        assert!(matches!(decode(&bytes), Err(WireError::Malformed(_))));
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
