//! An encoded message on its way: the bytes of `wire::encode`, kept inline
//! when they are few (requests, ACKs and NACKs, most of a run's messages,
//! take under a dozen bytes) and on the heap otherwise, so that the
//! messages in flight at 10,000 peers are not as many heap buffers, cold
//! by the time they are delivered.

/// Messages up to this many bytes are kept inline.
const INLINE: usize = 22;

#[derive(Debug)]
pub(crate) enum Encoded {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Encoded {
    pub fn new(encoded: Vec<u8>) -> Self {
        if encoded.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..encoded.len()].copy_from_slice(&encoded);
            Encoded::Inline {
                len: encoded.len() as u8,
                bytes,
            }
        } else {
            Encoded::Heap(encoded.into_boxed_slice())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Encoded::Inline { len, bytes } => &bytes[..*len as usize],
            Encoded::Heap(bytes) => bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_bytes_inline_or_not() {
        for len in [0, 1, INLINE, INLINE + 1, 300] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let encoded = Encoded::new(bytes.clone());
            assert_eq!(encoded.as_slice(), &bytes[..]);
            assert_eq!(matches!(encoded, Encoded::Inline { .. }), len <= INLINE);
        }
    }
}
