//! The upload side of a peer as a state machine: answer each segment
//! request with ACK if this peer holds the segment and NACK if not, until
//! the tracker says TERMINATE (or the job aborts).
//!
//! An ACK carries the segment, which only the driver can read (from disk,
//! or nothing at all where a segment is only its hash); so the uploader
//! does not send it but says what to serve ([`UploadEvent::Serve`]), with
//! the file as the holdings know it, and the driver reads the bytes
//! straight into the one message it sends. Everything else it sends is a
//! [`Transmit`]. Either way it counts what it sent, for the peer's STATS.

use crate::holdings::{HeldFile, Holdings};
#[cfg(feature = "sim-speed")]
use crate::prefetch::{self, Depth};
use crate::stats::{SentCounts, TransferCounts};
use crate::{
    FileId, Message, MessageKind, Payload, ProtocolError, Rank, SegmentIdx, Transmit, TRACKER,
};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// A segment to send: segment `index` of `file` to rank `to`, as a segment
/// ACK whose bytes the driver reads into the message
/// ([`crate::wire::encode_segment_ack`]). Counted as sent already.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Serve {
    pub to: Rank,
    /// The file as this peer's holdings keep it.
    pub file: Arc<HeldFile>,
    pub index: SegmentIdx,
}

impl Serve {
    /// The ACK where a segment is only its hash (classic mode, the
    /// simulator): no bytes to read.
    pub fn hash_only(&self) -> Transmit {
        let msg = Message::SegmentAck {
            file: self.file.id,
            index: self.index,
            payload: Payload::default(),
        };
        Transmit { to: self.to, msg }
    }
}

/// A segment of a SEGMENT_BATCH that waits for this peer to receive it.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    to: Rank,
    file: FileId,
    index: SegmentIdx,
}

/// What the upload side reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadEvent {
    /// Send this segment.
    Serve(Serve),
    /// TERMINATE arrived: the swarm is done, stop serving.
    Terminated,
    /// The job is being aborted, for this reason.
    Aborted { reason: String },
}

/// Counts of what the upload side answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Segments sent (ACKs), by (file, destination).
    pub sent: TransferCounts,
    pub nacks: u64,
    /// When the first segment was served (as the driver's clock said).
    pub first_served_ms: Option<u64>,
}

/// The upload state machine.
#[derive(Debug)]
pub struct Uploader {
    rank: Rank,
    holdings: Arc<Holdings>,
    stats: UploadStats,
    sent: SentCounts,
    stopped: bool,
    /// Segments of a SEGMENT_BATCH this peer is still receiving itself (it
    /// was named as their relay): (requester, file, segment), in the order
    /// asked, served as they arrive ([`Uploader::serve_arrived`]).
    waiting: Vec<Waiting>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<UploadEvent>,
}

impl Uploader {
    pub fn new(rank: Rank, holdings: Arc<Holdings>) -> Self {
        Uploader {
            rank,
            holdings,
            stats: UploadStats::default(),
            sent: SentCounts::default(),
            stopped: false,
            waiting: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// True after TERMINATE or an abort.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// What this side has answered so far.
    pub fn stats(&self) -> &UploadStats {
        &self.stats
    }

    /// Messages this side sent (ACKs it asked to serve included).
    pub fn sent(&self) -> &SentCounts {
        &self.sent
    }

    /// Something went wrong on this side (a segment that could not be
    /// read): asks the tracker to abort the job. Its abort is what stops
    /// this side, as every other rank.
    pub fn report_failure(&mut self, reason: String) {
        self.push(Transmit {
            to: TRACKER,
            msg: Message::Abort { reason },
        });
    }

    fn push(&mut self, transmit: Transmit) {
        self.sent.add(transmit.msg.kind());
        self.transmits.push_back(transmit);
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) what the
    /// next segment request will touch, `depth` steps from this machine's
    /// own fields (which `Depth::Fields` loads).
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self, depth: Depth) {
        match depth {
            Depth::Fields => prefetch::lines(self, usize::MAX),
            Depth::Pointees => {
                self.holdings.prefetch(Depth::Fields);
                self.stats.sent.prefetch();
                self.sent.prefetch(MessageKind::SegmentAck);
            }
            Depth::Beyond => self.holdings.prefetch(Depth::Pointees),
        }
    }

    /// Serves segment `index` of `file` to `to` if this peer holds it.
    fn serve(&mut self, to: Rank, file: FileId, index: SegmentIdx) -> bool {
        // (The holdings answer `has` from the lines a prefetch loaded.)
        let held = self
            .holdings
            .has(file, index)
            .then(|| self.holdings.get(file));
        let Some(held) = held.flatten() else {
            return false;
        };
        self.serve_held(to, held, index);
        true
    }

    /// Serves segment `index`, which this peer holds, of `held` to `to`.
    fn serve_held(&mut self, to: Rank, held: Arc<HeldFile>, index: SegmentIdx) {
        self.stats.sent.add(held.id, to);
        self.sent.add(MessageKind::SegmentAck);
        self.events.push_back(UploadEvent::Serve(Serve {
            to,
            file: held,
            index,
        }));
    }

    fn nack(&mut self, to: Rank, file: FileId, index: SegmentIdx) {
        self.stats.nacks += 1;
        let msg = Message::SegmentNack { file, index };
        self.push(Transmit { to, msg });
    }

    /// Whether some requested segments wait for this peer to receive them.
    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Serves the waiting segments that arrived since (the download side
    /// stored them), in the order they were asked; NACKs those of a file
    /// this peer dropped (it left the file's swarm).
    pub fn serve_arrived(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let mut waiting = std::mem::take(&mut self.waiting);
        // Waiting segments come in runs of one file (a batch asks for one):
        // the file is looked up once per run, not once per segment, since
        // this runs every time the download side stores a segment.
        let mut run: Option<(FileId, Option<Arc<HeldFile>>, bool)> = None;
        waiting.retain(|w| {
            if run.as_ref().is_none_or(|(id, ..)| *id != w.file) {
                let held = self.holdings.get(w.file);
                let left = self.holdings.has_left(w.file);
                run = Some((w.file, held, left));
            }
            let (_, held, left) = run.as_ref().expect("looked up above");
            match held {
                Some(held) if held.has(w.index) => {
                    self.serve_held(w.to, Arc::clone(held), w.index);
                    false
                }
                _ if *left => {
                    self.nack(w.to, w.file, w.index);
                    false
                }
                _ => true,
            }
        });
        self.waiting = waiting;
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<UploadEvent> {
        self.events.pop_front()
    }

    /// Feeds one message received on the upload or control channel.
    pub fn handle_message(
        &mut self,
        now: Duration,
        from: Rank,
        msg: Message,
    ) -> Result<(), ProtocolError> {
        let served = self.stats.sent.total();
        self.handle(from, msg)?;
        // (A relay's segment served on arrival, from `serve_arrived`, is
        // not seen here: a seeder serves its first from a request.)
        if self.stats.first_served_ms.is_none() && self.stats.sent.total() > served {
            self.stats.first_served_ms = Some(crate::stats::millis(now));
        }
        Ok(())
    }

    fn handle(&mut self, from: Rank, msg: Message) -> Result<(), ProtocolError> {
        match msg {
            Message::SegmentRequest { file, index } => {
                if !self.serve(from, file, index) {
                    self.nack(from, file, index);
                }
            }
            Message::SegmentBatch { file, indices } => {
                for index in indices {
                    if self.serve(from, file, index) {
                        continue;
                    }
                    // Being received here, it is served on arrival; the
                    // tracker may even have named this peer as the relay
                    // of a file whose swarm reply its download side has
                    // not taken yet.
                    // (What a seeder of a stripe lacks never arrives.)
                    let known = self.holdings.get(file);
                    match known.map(|held| index < held.segment_count() && !held.fixed) {
                        Some(true) => self.waiting.push(Waiting {
                            to: from,
                            file,
                            index,
                        }),
                        None if !self.holdings.has_left(file) => self.waiting.push(Waiting {
                            to: from,
                            file,
                            index,
                        }),
                        _ => self.nack(from, file, index),
                    }
                }
            }
            Message::Terminate if from == TRACKER => {
                self.stopped = true;
                self.events.push_back(UploadEvent::Terminated);
            }
            Message::Abort { reason } if from == TRACKER => {
                self.stopped = true;
                self.events.push_back(UploadEvent::Aborted { reason });
            }
            other => {
                return Err(ProtocolError(format!(
                    "rank {} got {} from rank {from} on its upload channel",
                    self.rank,
                    other.kind().name()
                )))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_held_segments_and_nacks_the_rest() {
        let holdings = Arc::new(Holdings::new());
        let file = holdings.add_empty(FileId(0), "f".into(), vec!["a".into(), "b".into()]);
        file.insert(1);
        let mut u = Uploader::new(Rank(1), holdings);
        for index in [0, 1, 7] {
            let msg = Message::SegmentRequest {
                file: FileId(0),
                index,
            };
            u.handle_message(Duration::ZERO, Rank(2), msg).unwrap();
        }
        let request = Message::SegmentRequest {
            file: FileId(9),
            index: 0,
        };
        u.handle_message(Duration::ZERO, Rank(3), request).unwrap();
        let sent: Vec<_> = std::iter::from_fn(|| u.poll_transmit()).collect();
        assert!(matches!(sent[0].msg, Message::SegmentNack { index: 0, .. }));
        assert!(matches!(sent[1].msg, Message::SegmentNack { index: 7, .. }));
        assert_eq!(sent[2].to, Rank(3));
        assert_eq!(sent.len(), 3);
        let Some(UploadEvent::Serve(serve)) = u.poll_event() else {
            panic!("the held segment is to be served");
        };
        assert_eq!(
            (serve.to, serve.file.id, serve.index),
            (Rank(2), FileId(0), 1)
        );
        assert!(Arc::ptr_eq(&serve.file, &file), "the holdings' own entry");
        let ack = serve.hash_only();
        assert_eq!(ack.to, Rank(2));
        assert!(matches!(ack.msg, Message::SegmentAck { index: 1, .. }));
        assert_eq!(u.poll_event(), None);
        assert_eq!(u.stats().sent.total(), 1);
        assert_eq!(u.stats().nacks, 3);
        let counts = u.sent().to_counts();
        assert_eq!(counts.get(MessageKind::SegmentAck), 1);
        assert_eq!(counts.get(MessageKind::SegmentNack), 3);
        u.report_failure("rank 1: disk gone".into());
        let abort = u.poll_transmit().unwrap();
        assert_eq!(abort.to, TRACKER);
        assert_eq!(u.sent().to_counts().get(MessageKind::Abort), 1);
    }

    #[test]
    fn a_seeder_of_a_stripe_nacks_a_batch_outside_it_at_once() {
        let holdings = Arc::new(Holdings::new());
        holdings.add_part(FileId(0), "f".into(), vec![String::new(); 4], 2..4);
        let mut u = Uploader::new(Rank(1), holdings);
        let batch = Message::SegmentBatch {
            file: FileId(0),
            indices: vec![1, 2],
        };
        u.handle_message(Duration::ZERO, Rank(2), batch).unwrap();
        let sent: Vec<_> = std::iter::from_fn(|| u.poll_transmit()).collect();
        assert!(matches!(
            sent[..],
            [Transmit {
                msg: Message::SegmentNack { index: 1, .. },
                ..
            }]
        ));
        assert!(!u.is_waiting(), "segment 1 never arrives here");
        assert!(matches!(u.poll_event(), Some(UploadEvent::Serve(s)) if s.index == 2));
    }

    #[test]
    fn a_batch_is_served_as_its_segments_arrive() {
        let holdings = Arc::new(Holdings::new());
        let file = holdings.add_empty(FileId(0), "f".into(), vec!["a".into(); 4]);
        file.insert(2);
        let mut u = Uploader::new(Rank(1), Arc::clone(&holdings));
        let batch = |file, indices| Message::SegmentBatch {
            file: FileId(file),
            indices,
        };
        let served = |u: &mut Uploader| -> Vec<(u32, u32, u32)> {
            std::iter::from_fn(|| u.poll_event())
                .map(|e| match e {
                    UploadEvent::Serve(s) => (s.to.0, s.file.id.0, s.index),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        u.handle_message(Duration::ZERO, Rank(2), batch(0, vec![3, 2, 0]))
            .unwrap();
        // What it holds goes at once; the rest waits (no NACK), and so does
        // a batch of a file it has not been told of yet.
        assert_eq!(served(&mut u), [(2, 0, 2)]);
        u.handle_message(Duration::ZERO, Rank(3), batch(5, vec![1]))
            .unwrap();
        assert!(u.is_waiting());
        assert!(u.poll_transmit().is_none());
        u.serve_arrived();
        assert!(served(&mut u).is_empty());
        // Segments 0 and 3 arrive: served in the order asked.
        file.insert(0);
        file.insert(3);
        u.serve_arrived();
        assert_eq!(served(&mut u), [(2, 0, 3), (2, 0, 0)]);
        // File 5 arrives, then is left before its segment came: NACK.
        holdings.add_empty(FileId(5), "g".into(), vec!["b".into(); 2]);
        u.serve_arrived();
        assert!(u.is_waiting());
        holdings.remove(FileId(5));
        u.serve_arrived();
        assert!(!u.is_waiting());
        let nack = u.poll_transmit().unwrap();
        assert_eq!(nack.to, Rank(3));
        assert!(matches!(nack.msg, Message::SegmentNack { index: 1, .. }));
        // A segment beyond the file, or of a file it left, is NACKed at once.
        u.handle_message(Duration::ZERO, Rank(2), batch(0, vec![9]))
            .unwrap();
        u.handle_message(Duration::ZERO, Rank(2), batch(5, vec![0]))
            .unwrap();
        assert_eq!(std::iter::from_fn(|| u.poll_transmit()).count(), 2);
        assert!(!u.is_waiting());
        assert_eq!(u.stats().sent.total(), 3);
    }

    #[test]
    fn stops_on_terminate_from_the_tracker_only() {
        let mut u = Uploader::new(Rank(1), Arc::new(Holdings::new()));
        assert!(u
            .handle_message(Duration::ZERO, Rank(2), Message::Terminate)
            .is_err());
        u.handle_message(Duration::ZERO, TRACKER, Message::Terminate)
            .unwrap();
        assert!(u.is_stopped());
        assert_eq!(u.poll_event(), Some(UploadEvent::Terminated));
    }
}
