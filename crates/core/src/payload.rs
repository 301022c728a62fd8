//! [`Payload`]: a segment's bytes, possibly still inside the buffer of the
//! message that carried them.
//!
//! A segment of real data is a megabyte; copying it out of the received
//! message, then into a new message, costs as much memory traffic as the
//! transfer itself. So the wire codec hands the received buffer over whole
//! and a `Payload` views the bytes past the message header, and an upload
//! reads a segment straight into the message it will send
//! ([`crate::wire::encode_segment_ack`]). In classic mode a payload is
//! empty.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// A segment's bytes: `buffer[start..]`.
#[derive(Clone, Default)]
pub struct Payload {
    buffer: Vec<u8>,
    start: usize,
}

impl Payload {
    /// The bytes of `buffer` from `start` on, without copying them.
    ///
    /// # Panics
    ///
    /// If `start` is past the end of `buffer`.
    pub fn tail_of(buffer: Vec<u8>, start: usize) -> Self {
        assert!(start <= buffer.len(), "a payload starts inside its buffer");
        Payload { buffer, start }
    }

    /// The bytes, as a vector of their own (a copy only if the payload
    /// shares its buffer with a header).
    pub fn into_vec(self) -> Vec<u8> {
        if self.start == 0 {
            self.buffer
        } else {
            self.buffer[self.start..].to_vec()
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Payload::tail_of(bytes, 0)
    }
}

impl Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buffer[self.start..]
    }
}

impl DerefMut for Payload {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buffer[self.start..]
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Payload {}

impl fmt::Debug for Payload {
    /// Short: the length and the first few bytes (a segment can be a
    /// megabyte, and debug output lands in logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        let bytes: &[u8] = self;
        let more = if bytes.len() > SHOWN { ", .." } else { "" };
        write!(
            f,
            "Payload({} bytes: {:02x?}{more})",
            bytes.len(),
            &bytes[..bytes.len().min(SHOWN)]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_views_the_bytes_after_the_header() {
        let payload = Payload::tail_of(vec![9, 9, 1, 2, 3], 2);
        assert_eq!(&*payload, &[1, 2, 3]);
        assert_eq!(payload, Payload::from(vec![1, 2, 3]));
        assert_eq!(payload.into_vec(), vec![1, 2, 3]);
    }

    #[test]
    fn debug_shows_the_length_and_a_prefix() {
        let payload = Payload::from((0..20).collect::<Vec<u8>>());
        assert_eq!(
            format!("{payload:?}"),
            "Payload(20 bytes: [00, 01, 02, 03, 04, 05, 06, 07], ..)"
        );
        assert_eq!(format!("{:?}", Payload::default()), "Payload(0 bytes: [])");
    }

    #[test]
    #[should_panic(expected = "inside its buffer")]
    fn a_tail_cannot_start_past_the_end() {
        let _ = Payload::tail_of(vec![1], 2);
    }
}
