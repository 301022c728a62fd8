//! Small messages to one rank, gathered while a thread works through what
//! its state machine said to send and sent as one transport message (a
//! [`wire::bundle`]) when it is done. An upload thread that serves a batch
//! of segments it already holds answers each with its own ACK; with
//! segments that carry no bytes (the classic mode) or tiny ones, those ACKs
//! are a few bytes each, and under MPI each message costs the same send,
//! probe, receive and often wake-up of a sleeping thread, whatever its
//! size. Large messages (real segments) go as they come, and a rank's
//! messages keep their order.

use crate::{Endpoint, TransportError};
use mpitorrent_core::wire::{self, bundle_overhead};
use mpitorrent_core::{Channel, Rank};

/// The largest bundle: under Open MPI's shared-memory eager limit (4 KiB),
/// so that its send completes at once instead of waiting for its receiver
/// to probe it.
pub const BUNDLE_BYTES: usize = 4000;

/// A message this size or smaller may share a bundle; a larger one is sent
/// alone (after what waits for its rank, so the order holds).
const SHARED_BYTES: usize = BUNDLE_BYTES / 4;

/// What waits to be sent; see the [module docs](self).
#[derive(Debug, Default)]
pub struct Outbox {
    waiting: Vec<Waiting>,
}

/// The messages for one rank's channel, in the order given.
#[derive(Debug)]
struct Waiting {
    to: Rank,
    channel: Channel,
    frames: Vec<Vec<u8>>,
    bytes: usize,
}

impl Waiting {
    fn fits(&self, len: usize) -> bool {
        self.bytes + len + bundle_overhead(self.frames.len() + 1) <= BUNDLE_BYTES
    }
}

impl Outbox {
    /// Sends `bytes` to `channel` on rank `to`, now or at the next
    /// [`flush`](Self::flush).
    pub fn send<E: Endpoint>(
        &mut self,
        endpoint: &E,
        to: Rank,
        channel: Channel,
        bytes: Vec<u8>,
    ) -> Result<(), TransportError> {
        let found = self
            .waiting
            .iter()
            .position(|w| w.to == to && w.channel == channel);
        if let Some(i) = found {
            if bytes.len() <= SHARED_BYTES && self.waiting[i].fits(bytes.len()) {
                let waiting = &mut self.waiting[i];
                waiting.bytes += bytes.len();
                waiting.frames.push(bytes);
                return Ok(());
            }
            let full = self.waiting.swap_remove(i);
            endpoint.send(to, channel, wire::bundle(full.frames))?;
        }
        if bytes.len() > SHARED_BYTES {
            return endpoint.send(to, channel, bytes);
        }
        self.waiting.push(Waiting {
            to,
            channel,
            bytes: bytes.len(),
            frames: vec![bytes],
        });
        Ok(())
    }

    /// Sends everything that waits: a lone message as itself, several to
    /// one rank's channel as a bundle.
    pub fn flush<E: Endpoint>(&mut self, endpoint: &E) -> Result<(), TransportError> {
        for waiting in self.waiting.drain(..) {
            endpoint.send(waiting.to, waiting.channel, wire::bundle(waiting.frames))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Wake;
    use crate::Envelope;
    use mpitorrent_core::{FileId, Message, Payload};
    use std::cell::RefCell;
    use std::time::Duration;

    /// Records what is sent.
    #[derive(Default)]
    struct Recorder(RefCell<Vec<(Rank, Vec<u8>)>>);

    impl Endpoint for Recorder {
        fn rank(&self) -> Rank {
            Rank(1)
        }
        fn size(&self) -> u32 {
            4
        }
        fn send(&self, to: Rank, _: Channel, bytes: Vec<u8>) -> Result<(), TransportError> {
            self.0.borrow_mut().push((to, bytes));
            Ok(())
        }
        fn recv_until_woken(
            &self,
            _: &[Channel],
            _: Duration,
            _: Option<&Wake>,
        ) -> Result<Option<Envelope>, TransportError> {
            Ok(None)
        }
    }

    fn ack(index: u32, len: usize) -> Vec<u8> {
        wire::encode(&Message::SegmentAck {
            file: FileId(0),
            index,
            payload: Payload::from(vec![7; len]),
        })
    }

    /// Each sent message's ACK indices, per destination.
    fn sent(recorder: &Recorder) -> Vec<(u32, Vec<u32>)> {
        let indices = |bytes: &Vec<u8>| {
            wire::decode_all(bytes.clone())
                .unwrap()
                .into_iter()
                .map(|m| match m {
                    Message::SegmentAck { index, .. } => index,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let sent = recorder.0.borrow();
        sent.iter().map(|(to, b)| (to.0, indices(b))).collect()
    }

    #[test]
    fn small_messages_to_one_rank_go_together_in_order() {
        let (endpoint, mut outbox) = (Recorder::default(), Outbox::default());
        for i in 0..5 {
            outbox
                .send(&endpoint, Rank(2), Channel::Download, ack(i, 0))
                .unwrap();
            outbox
                .send(&endpoint, Rank(3), Channel::Download, ack(10 + i, 0))
                .unwrap();
        }
        outbox
            .send(&endpoint, Rank(3), Channel::Upload, ack(20, 0))
            .unwrap();
        assert!(endpoint.0.borrow().is_empty(), "nothing before the flush");
        outbox.flush(&endpoint).unwrap();
        assert_eq!(
            sent(&endpoint),
            [
                (2, vec![0, 1, 2, 3, 4]),
                (3, vec![10, 11, 12, 13, 14]),
                (3, vec![20])
            ]
        );
        // A lone message is itself, not a bundle of one.
        assert_eq!(endpoint.0.borrow()[2].1, ack(20, 0));
    }

    #[test]
    fn a_large_message_goes_alone_after_what_waits_for_its_rank() {
        let (endpoint, mut outbox) = (Recorder::default(), Outbox::default());
        outbox
            .send(&endpoint, Rank(2), Channel::Download, ack(0, 0))
            .unwrap();
        outbox
            .send(&endpoint, Rank(2), Channel::Download, ack(1, 0))
            .unwrap();
        outbox
            .send(&endpoint, Rank(2), Channel::Download, ack(2, 1 << 20))
            .unwrap();
        outbox
            .send(&endpoint, Rank(2), Channel::Download, ack(3, 0))
            .unwrap();
        outbox.flush(&endpoint).unwrap();
        assert_eq!(
            sent(&endpoint),
            [(2, vec![0, 1]), (2, vec![2]), (2, vec![3])]
        );
    }

    #[test]
    fn a_bundle_stays_under_its_limit() {
        let (endpoint, mut outbox) = (Recorder::default(), Outbox::default());
        for i in 0..100 {
            outbox
                .send(&endpoint, Rank(2), Channel::Download, ack(i, 500))
                .unwrap();
        }
        outbox.flush(&endpoint).unwrap();
        let sent = endpoint.0.borrow();
        assert!(sent.len() > 10, "{} messages", sent.len());
        assert!(sent.iter().all(|(_, b)| b.len() <= BUNDLE_BYTES));
        drop(sent);
        let order: Vec<u32> = super::tests::sent(&endpoint)
            .into_iter()
            .flat_map(|(_, i)| i)
            .collect();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
    }
}
