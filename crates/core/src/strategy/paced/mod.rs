//! `paced`: rarest-first in which the tracker also paces the holders.
//!
//! A paced downloader requests only hinted segments, from the hinted
//! holder, and keeps every hint it is given. Whenever half its window is
//! free (or all of it) and no answer is pending, it sends PEER_UPDATE with
//! what it received since the last one, asking for as many hints as it
//! has free slots. The tracker answers at once, with fewer hints (even
//! none) when the holders of what it lacks are all busy; then it asks
//! again, which is how a peer waits for the swarm to grow.
//!
//! Because the peer keeps every hint, the tracker counts each one as an
//! upload its holder owes until the segment is reported, and names only
//! holders that owe fewer than a few ([`tracker`]): no rank, the seed least
//! of all, is asked for more than it can send. At thousands of peers this
//! is what keeps one seed from being buried under everyone's first
//! requests (see the simulator's results).

mod pacing;
mod tracker;

use super::{DownloadPolicy, HintKind, HintRequest, SwarmView, Window};
use crate::downloader::OwnerList;
use crate::{Hint, Owner, SegmentIdx};
pub(crate) use pacing::Pacing;
use rand_chacha::ChaCha8Rng;
pub(super) use tracker::PacedHints;

/// The paced strategy's download side (and the relay strategy's, which
/// asks for relay hints and batches its requests).
#[derive(Debug)]
pub(super) struct Paced {
    /// The hints it asks for: `Paced` or `Relay`.
    kind: HintKind,
    /// PEER_UPDATEs that asked for hints and whose refresh is not back.
    refreshes_pending: u32,
}

impl Paced {
    pub fn new(kind: HintKind) -> Self {
        Paced {
            kind,
            refreshes_pending: 0,
        }
    }
}

impl DownloadPolicy for Paced {
    fn hint_request(&self, window: &Window) -> HintRequest {
        HintRequest {
            kind: self.kind,
            count: window.free,
        }
    }

    fn batches(&self) -> bool {
        self.kind == HintKind::Relay
    }

    fn start_file(&mut self, _segments: SegmentIdx, _rng: &mut ChaCha8Rng) -> SegmentIdx {
        self.refreshes_pending = 0;
        0
    }

    fn scans(&self) -> bool {
        false
    }

    /// Updates go with the requests for work instead.
    fn update_after_segment(&self, _since: usize, _window: &Window) -> bool {
        false
    }

    /// One update at a time, once half the window is free; a relay
    /// request may wait at the tracker, so once nothing at all is in
    /// flight a second one reports what arrived (which may be what the
    /// swarm waits for) and replaces it.
    fn ask_for_work(&mut self, window: &Window) -> bool {
        let half = window.size.max(2) / 2;
        let idle = window.free >= window.size.max(1);
        let ask = match self.refreshes_pending {
            0 => window.free >= half,
            1 => self.kind == HintKind::Relay && idle,
            _ => false,
        };
        self.refreshes_pending += u32::from(ask);
        ask
    }

    /// Every hint is kept (the tracker counts it as owed). A refresh names
    /// no owners: those of the swarm reply stay, to retry after a NACK.
    fn refreshed(&mut self, owners: Vec<Owner>, hints: Vec<Hint>, view: SwarmView<'_>) {
        if !owners.is_empty() {
            *view.owners = OwnerList::new(owners, view.me);
        }
        view.hints.extend(hints);
        self.refreshes_pending = self.refreshes_pending.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use crate::downloader::tests::started;
    use crate::downloader::{DownloadEvent, Downloader};
    use crate::strategy::{HintKind, HintRequest, Strategy};
    use crate::{FileId, Hint, Message, Owner, Rank, TRACKER};
    use std::time::Duration;

    fn paced_hints(count: u32) -> HintRequest {
        HintRequest {
            kind: HintKind::Paced,
            count,
        }
    }

    const T0: Duration = Duration::ZERO;

    fn paced(window: u32) -> Downloader {
        started(Strategy::Paced, window)
    }

    fn drain(d: &mut Downloader) -> Vec<Message> {
        std::iter::from_fn(|| d.poll_transmit())
            .map(|t| t.msg)
            .collect()
    }

    fn requests(sent: &[Message]) -> Vec<u32> {
        sent.iter()
            .filter_map(|m| match m {
                Message::SegmentRequest { index, .. } => Some(*index),
                _ => None,
            })
            .collect()
    }

    fn seed(rank: u32) -> Owner {
        Owner {
            rank: Rank(rank),
            seed: true,
            held: 8,
            load: 0,
        }
    }

    fn reply(d: &mut Downloader, hints: Vec<Hint>) {
        let msg = Message::SwarmReply {
            file: FileId(0),
            hashes: (0..8).map(|i| format!("h{i}")).collect(),
            owners: vec![seed(9)],
            hints,
        };
        d.handle_message(T0, TRACKER, msg).unwrap();
    }

    fn ack(d: &mut Downloader, from: u32, index: u32) {
        let msg = Message::SegmentAck {
            file: FileId(0),
            index,
            payload: crate::Payload::default(),
        };
        d.handle_message(T0, Rank(from), msg).unwrap();
    }

    fn refresh(d: &mut Downloader, hints: Vec<Hint>) {
        let msg = Message::SwarmRefresh {
            file: FileId(0),
            owners: vec![],
            hints,
        };
        d.handle_message(T0, TRACKER, msg).unwrap();
    }

    #[test]
    fn asks_for_a_full_window_and_fetches_only_hinted_segments() {
        let mut d = paced(4);
        assert_eq!(
            drain(&mut d),
            vec![Message::SwarmRequest {
                name: "f".into(),
                hints: paced_hints(4)
            }]
        );
        // Two hints: it asks exactly those holders, nothing else (no scan),
        // and since half its window is free it asks for two more.
        reply(&mut d, vec![(5, Rank(2)), (1, Rank(3))]);
        let sent = drain(&mut d);
        assert_eq!(requests(&sent), vec![5, 1]);
        assert_eq!(
            sent.last(),
            Some(&Message::PeerUpdate {
                file: FileId(0),
                received: vec![],
                hints: paced_hints(2)
            })
        );
    }

    #[test]
    fn one_update_at_a_time_reporting_what_arrived() {
        let mut d = paced(4);
        drain(&mut d);
        reply(&mut d, vec![(0, Rank(2)), (1, Rank(2)), (2, Rank(3))]);
        // Three of four slots taken: not half free, no update yet.
        assert_eq!(requests(&drain(&mut d)), vec![0, 1, 2]);
        ack(&mut d, 2, 0);
        let sent = drain(&mut d);
        assert_eq!(
            sent,
            vec![Message::PeerUpdate {
                file: FileId(0),
                received: vec![(0, Rank(2))],
                hints: paced_hints(2)
            }]
        );
        // Its answer is pending: more segments arrive, no second update.
        ack(&mut d, 2, 1);
        assert!(drain(&mut d).is_empty());
        // The refresh's hints are added (and used); its empty owner list
        // leaves the swarm reply's owners for retries after a NACK.
        refresh(&mut d, vec![(7, Rank(4))]);
        let sent = drain(&mut d);
        assert_eq!(requests(&sent), vec![7]);
        assert!(matches!(
            sent.last(),
            Some(Message::PeerUpdate { received, .. }) if received == &[(1, Rank(2))]
        ));
        let nack = Message::SegmentNack {
            file: FileId(0),
            index: 7,
        };
        d.handle_message(T0, Rank(4), nack).unwrap();
        let retry = std::iter::from_fn(|| d.poll_transmit()).next().unwrap();
        assert_eq!(retry.to, Rank(9), "the seed of the swarm reply");
    }

    #[test]
    fn relay_requests_to_one_holder_travel_together() {
        let mut d = started(Strategy::Relay, 8);
        assert_eq!(
            drain(&mut d),
            vec![Message::SwarmRequest {
                name: "f".into(),
                hints: HintRequest {
                    kind: HintKind::Relay,
                    count: 8
                }
            }]
        );
        reply(&mut d, vec![(5, Rank(2)), (1, Rank(3)), (6, Rank(2))]);
        let sent: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
        let messages: Vec<Message> = sent.iter().map(|t| t.msg.clone()).collect();
        assert!(requests(&messages).is_empty(), "no single requests");
        let batches: Vec<(Rank, Vec<u32>)> = sent
            .into_iter()
            .filter_map(|t| match t.msg {
                Message::SegmentBatch { indices, .. } => Some((t.to, indices)),
                _ => None,
            })
            .collect();
        assert_eq!(batches, [(Rank(2), vec![5, 6]), (Rank(3), vec![1])]);
    }

    #[test]
    fn a_file_completes_without_a_last_update() {
        let mut d = paced(2);
        drain(&mut d);
        let msg = Message::SwarmReply {
            file: FileId(0),
            hashes: vec!["a".into()],
            owners: vec![seed(9)],
            hints: vec![(0, Rank(9))],
        };
        d.handle_message(T0, TRACKER, msg).unwrap();
        drain(&mut d);
        ack(&mut d, 9, 0);
        let sent = drain(&mut d);
        assert!(matches!(sent[0], Message::FileCompleted { .. }), "{sent:?}");
        assert_eq!(sent[1], Message::AllFilesCompleted);
        assert!(matches!(
            d.poll_event(),
            Some(DownloadEvent::FileCompleted { .. })
        ));
    }
}
