//! The `paced` strategy's side of the download machine: when to ask the
//! tracker for more hints, and how many.
//!
//! A paced downloader requests only hinted segments, from the hinted
//! holder, and keeps every hint it is given. Whenever half its window is
//! free (or all of it) and no answer is pending, it sends PEER_UPDATE with
//! what it received since the last one, asking for as many hints as it
//! has free slots. The tracker answers at once, with fewer hints (even
//! none) when the holders of what it lacks are all busy; then it asks
//! again, which is how a peer waits for the swarm to grow.

use super::Downloader;
use crate::stats::millis;
use crate::strategy::{Strategy, PACED_HINTS};
use crate::Message;
use std::time::Duration;

impl Downloader {
    /// Slots of the window not taken by a request in flight, a segment
    /// being stored or a hint waiting to be used.
    pub(super) fn free_slots(&self) -> u32 {
        let window = self.config.window.max(1) as usize;
        let taken = self
            .active
            .as_ref()
            .map_or(0, |a| a.in_flight.len() + a.storing.len() + a.hints.len());
        window.saturating_sub(taken) as u32
    }

    /// (Paced.) Asks the tracker for hints if half the window is free and
    /// no answer is pending.
    pub(super) fn ask_for_work(&mut self, now: Duration) {
        if self.config.strategy != Strategy::Paced {
            return;
        }
        let free = self.free_slots();
        let half = self.config.window.max(2) / 2;
        let Some(active) = self.active.as_mut() else {
            return;
        };
        if active.refresh_pending || free < half || active.file.is_complete() {
            return;
        }
        active.refresh_pending = true;
        // Progress is sampled every `update_every` segments, as with the
        // other strategies, though paced updates come more often.
        let held = active.file.held_count();
        let every = self.config.update_every.max(1);
        let before = held.saturating_sub(active.since_update.len() as u32);
        let sample = held / every != before / every;
        let msg = Message::PeerUpdate {
            file: active.file.id,
            received: std::mem::take(&mut active.since_update),
            hints: PACED_HINTS | free,
        };
        self.send_peer_update(msg);
        if sample {
            let total = self.downloaded_so_far();
            self.stats.progress.push((millis(now), total));
        }
    }

    /// Segments downloaded so far: those of the files completed, and of
    /// the active one. (What `stats.received.total()` says, without a walk
    /// over every sender, which at thousands of senders and an update every
    /// few segments would dominate the run.)
    fn downloaded_so_far(&self) -> u64 {
        let completed: u64 = self
            .stats
            .completed
            .iter()
            .filter_map(|&(id, _)| self.holdings.get(id))
            .map(|file| u64::from(file.segment_count()))
            .sum();
        completed
            + self
                .active
                .as_ref()
                .map_or(0, |a| u64::from(a.file.held_count()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DownloadEvent, DownloaderConfig};
    use super::*;
    use crate::holdings::Holdings;
    use crate::{FileId, Hint, Owner, Rank, TRACKER};
    use std::sync::Arc;

    const T0: Duration = Duration::ZERO;

    fn paced(window: u32) -> Downloader {
        let config = DownloaderConfig {
            window,
            strategy: Strategy::Paced,
            ..DownloaderConfig::classic(Rank(1), vec!["f".into()])
        };
        let mut d = Downloader::new(config, Arc::new(Holdings::new()));
        d.start(T0);
        d
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
                hints: PACED_HINTS | 4
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
                hints: PACED_HINTS | 2
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
                hints: PACED_HINTS | 2
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
    fn a_file_completes_without_a_last_update() {
        let config = DownloaderConfig {
            window: 2,
            strategy: Strategy::Paced,
            ..DownloaderConfig::classic(Rank(1), vec!["f".into()])
        };
        let mut d = Downloader::new(config, Arc::new(Holdings::new()));
        d.start(T0);
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
