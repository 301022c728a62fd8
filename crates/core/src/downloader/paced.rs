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
        let taken = self.active.as_ref().map_or(0, |a| {
            a.in_flight.len() + a.storing.len() + a.hints.len()
        });
        window.saturating_sub(taken) as u32
    }

    /// (Paced.) Asks the tracker for hints if half the window is free and
    /// no answer is pending.
    pub(super) fn ask_for_work(&mut self, now: Duration) {
        if self.config.strategy != Strategy::Paced {
            return;
        }
        let free = self.free_slots();
        let half = std::env::var("MPT_HALF").ok().and_then(|v| v.parse().ok()).unwrap_or(self.config.window.max(2) / 2);
        let Some(active) = self.active.as_mut() else {
            return;
        };
        if active.refresh_pending || free < half || active.file.is_complete() {
            return;
        }
        active.refresh_pending = true;
        let msg = Message::PeerUpdate {
            file: active.file.id,
            received: std::mem::take(&mut active.since_update),
            hints: PACED_HINTS | free,
        };
        self.transmits.push_back(Transmit { to: TRACKER, msg });
        let total = self.stats.received.total();
        self.stats.progress.push((millis(now), total));
    }
}
