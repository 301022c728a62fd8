//! Several small encoded messages to one rank in one transport message.
//!
//! Every segment is still answered by its own ACK: a bundle only shares
//! the envelope. Under MPI a message costs the same whether it holds one
//! 8-byte ACK or fifty (a send, a matched probe, a receive, and usually a
//! wake-up of a sleeping thread), so when an uploader has several answers
//! for one rank at the same moment (a batch of requests whose segments it
//! already holds, or a batch that arrived together from its own parent) it
//! sends them together.
//!
//! ```text
//!   [BUNDLE_MARK] [varint count] { [varint length] [one encoded message] } x count
//! ```
//!
//! Each frame is a whole message as [`encode`](super::encode) writes it
//! (its own version byte first); a frame is never itself a bundle. A lone
//! message is sent as itself, never wrapped, so the classic protocol's
//! traffic is unchanged.

use super::{decode, decode_owned, WireError, WIRE_VERSION};
use crate::Message;

/// The first byte of a bundle: the version byte with its top bit set, so a
/// rank of another build reads it as a version mismatch.
pub const BUNDLE_MARK: u8 = 0x80 | WIRE_VERSION;

/// The most bytes a bundle of `frames` frames adds to the frames' own
/// (the mark, the count, and each frame's length: varints of up to 5
/// bytes at these sizes).
pub fn overhead(frames: usize) -> usize {
    1 + 5 + 5 * frames
}

/// One transport message holding `frames`, in order. Two or more frames
/// make a bundle; a single one is returned as it is.
pub fn bundle(mut frames: Vec<Vec<u8>>) -> Vec<u8> {
    if frames.len() == 1 {
        return frames.pop().expect("one frame");
    }
    let body: usize = frames.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(body + overhead(frames.len()));
    out.push(BUNDLE_MARK);
    push_varint(&mut out, frames.len() as u64);
    for frame in &frames {
        push_varint(&mut out, frame.len() as u64);
        out.extend_from_slice(frame);
    }
    out
}

/// Every message in a received transport message: the one it is, or each
/// of a bundle's, in order. A lone segment ACK keeps the received buffer as
/// its payload (no copy); a bundle's frames are small and are copied.
pub fn decode_all(bytes: Vec<u8>) -> Result<Vec<Message>, WireError> {
    if bytes.first() != Some(&BUNDLE_MARK) {
        return Ok(vec![decode_owned(bytes)?]);
    }
    let malformed = |what: &str| WireError::Malformed(format!("bundle: {what}"));
    let mut rest = &bytes[1..];
    let count = take_varint(&mut rest).ok_or_else(|| malformed("no frame count"))?;
    // Each frame takes at least two bytes (its length and a version byte):
    // a count beyond that is a lie, refused before anything is reserved.
    if count < 2 || count > rest.len() as u64 / 2 {
        return Err(malformed(&format!(
            "{count} frame(s) in {} byte(s)",
            rest.len()
        )));
    }
    let mut messages = Vec::with_capacity(count as usize);
    for i in 0..count {
        let len = take_varint(&mut rest).ok_or_else(|| malformed("a frame without length"))?;
        if len > rest.len() as u64 {
            return Err(malformed(&format!(
                "frame {i} announces {len} byte(s), {} left",
                rest.len()
            )));
        }
        let (frame, after) = rest.split_at(len as usize);
        messages.push(decode(frame)?);
        rest = after;
    }
    if !rest.is_empty() {
        return Err(malformed(&format!(
            "{} byte(s) after the last frame",
            rest.len()
        )));
    }
    Ok(messages)
}

fn push_varint(out: &mut Vec<u8>, value: u64) {
    postcard::to_io(&value, out).expect("postcard serializes a length");
}

/// Reads a postcard varint off the front of `rest`.
fn take_varint(rest: &mut &[u8]) -> Option<u64> {
    let (value, after) = postcard::take_from_bytes::<u64>(rest).ok()?;
    *rest = after;
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::super::encode;
    use super::*;
    use crate::{FileId, Payload};
    use proptest::prelude::*;

    fn ack(index: u32) -> Message {
        Message::SegmentAck {
            file: FileId(2),
            index,
            payload: Payload::default(),
        }
    }

    #[test]
    fn a_bundle_gives_back_its_messages_in_order() {
        let messages: Vec<Message> = (0..40).map(ack).chain([Message::Terminate]).collect();
        let frames = messages.iter().map(encode).collect::<Vec<_>>();
        let body: usize = frames.iter().map(Vec::len).sum();
        let bytes = bundle(frames);
        assert_eq!(bytes[0], BUNDLE_MARK);
        assert!(bytes.len() <= body + overhead(messages.len()));
        assert_eq!(decode_all(bytes).unwrap(), messages);
    }

    #[test]
    fn a_lone_message_is_not_wrapped() {
        let one = encode(&ack(7));
        assert_eq!(bundle(vec![one.clone()]), one);
        assert_eq!(decode_all(one).unwrap(), vec![ack(7)]);
    }

    #[test]
    fn a_bundle_inside_a_bundle_and_bad_counts_are_refused() {
        let inner = bundle(vec![encode(&ack(1)), encode(&ack(2))]);
        let nested = bundle(vec![inner, encode(&ack(3))]);
        assert!(matches!(
            decode_all(nested),
            Err(WireError::Version { found: BUNDLE_MARK })
        ));
        for bytes in [vec![BUNDLE_MARK], vec![BUNDLE_MARK, 1, 1, WIRE_VERSION]] {
            assert!(matches!(decode_all(bytes), Err(WireError::Malformed(_))));
        }
        let mut huge = vec![BUNDLE_MARK];
        push_varint(&mut huge, u64::MAX);
        assert!(matches!(decode_all(huge), Err(WireError::Malformed(_))));
    }

    #[test]
    fn every_truncation_of_a_bundle_is_an_error() {
        let bytes = bundle(vec![encode(&ack(1)), encode(&Message::Terminate)]);
        for cut in 1..bytes.len() {
            assert!(decode_all(bytes[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        let mut longer = bytes;
        longer.push(0);
        assert!(decode_all(longer).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_on_bundled_garbage(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut bytes = vec![BUNDLE_MARK];
            bytes.extend(body);
            let _ = decode_all(bytes);
        }
    }
}
