//! The upload side of a peer as a state machine: answer each segment
//! request with ACK if this peer holds the segment and NACK if not, until
//! the tracker says TERMINATE (or the job aborts).

use crate::holdings::Holdings;
use crate::prefetch::{self, Depth};
use crate::stats::TransferCounts;
use crate::{Message, Payload, ProtocolError, Rank, Transmit, TRACKER};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// What the upload side reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadEvent {
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
}

/// The upload state machine.
#[derive(Debug)]
pub struct Uploader {
    rank: Rank,
    holdings: Arc<Holdings>,
    stats: UploadStats,
    stopped: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<UploadEvent>,
}

impl Uploader {
    pub fn new(rank: Rank, holdings: Arc<Holdings>) -> Self {
        Uploader {
            rank,
            holdings,
            stats: UploadStats::default(),
            stopped: false,
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

    /// Prefetch hint (see [`crate::prefetch`]): starts loading what the
    /// next segment request will touch, `depth` steps from this machine's
    /// own fields (which `Depth::Fields` loads).
    pub fn prefetch(&self, depth: Depth) {
        match depth {
            Depth::Fields => prefetch::lines(self, usize::MAX),
            Depth::Pointees => {
                self.holdings.prefetch(Depth::Fields);
                self.stats.sent.prefetch();
            }
            Depth::Beyond => self.holdings.prefetch(Depth::Pointees),
        }
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
        _now: Duration,
        from: Rank,
        msg: Message,
    ) -> Result<(), ProtocolError> {
        match msg {
            Message::SegmentRequest { file, index } => {
                let msg = if self.holdings.has(file, index) {
                    self.stats.sent.add(file, from);
                    Message::SegmentAck {
                        file,
                        index,
                        payload: Payload::default(),
                    }
                } else {
                    self.stats.nacks += 1;
                    Message::SegmentNack { file, index }
                };
                self.transmits.push_back(Transmit { to: from, msg });
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
    use crate::FileId;

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
        assert!(matches!(sent[1].msg, Message::SegmentAck { index: 1, .. }));
        assert!(matches!(sent[2].msg, Message::SegmentNack { index: 7, .. }));
        assert_eq!(sent[3].to, Rank(3));
        assert_eq!(u.stats().sent.total(), 1);
        assert_eq!(u.stats().nacks, 3);
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
