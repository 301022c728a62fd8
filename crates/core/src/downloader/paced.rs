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
use crate::{Message, Transmit, TRACKER};
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
        self.transmits.push_back(Transmit { to: TRACKER, msg });
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
