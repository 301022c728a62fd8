//! When the download side tells the tracker what it received (PEER_UPDATE),
//! and what it asks for in return: every `update_every` segments, or
//! whenever its strategy asks for work (see
//! [`DownloadPolicy::ask_for_work`](crate::strategy::DownloadPolicy)).

use super::Downloader;
use crate::stats::millis;
use crate::strategy::Window;
use crate::{FileId, Message, ProtocolError, Rank, SegmentIdx, Transmit, TRACKER};
use std::time::Duration;

impl Downloader {
    /// What the strategy's choices see of the window now.
    pub(super) fn window(&self) -> Window {
        Window {
            update_every: self.config.update_every,
            size: self.config.window,
            free: self.free_slots(),
        }
    }

    /// Slots of the window not taken by a request in flight, a segment
    /// being stored or a hint waiting to be used.
    fn free_slots(&self) -> u32 {
        let window = self.config.window.max(1) as usize;
        let taken = self
            .active
            .as_ref()
            .map_or(0, |a| a.in_flight.len() + a.storing.len() + a.hints.len());
        window.saturating_sub(taken) as u32
    }

    /// Queues a PEER_UPDATE, whose answer is owed from now on.
    fn send_peer_update(&mut self, msg: Message) {
        debug_assert!(matches!(msg, Message::PeerUpdate { .. }));
        self.refreshes_owed += 1;
        self.transmits.push_back(Transmit { to: TRACKER, msg });
    }

    /// Counts a segment `from` sent as held, updates the tracker when the
    /// strategy says one is due, and moves on.
    pub(super) fn accept(
        &mut self,
        now: Duration,
        from: Rank,
        file: FileId,
        index: SegmentIdx,
    ) -> Result<(), ProtocolError> {
        let window = self.window();
        self.stats.received.add(file, from);
        let active = self.active.as_mut().expect("a segment of the active file");
        active.file.insert(index);
        active.since_update.push((index, from));
        let since = active.since_update.len();
        if self.policy.update_after_segment(since, &window) && !active.file.is_complete() {
            let received = std::mem::take(&mut active.since_update);
            let hints = self.policy.hint_request(&window);
            self.send_peer_update(Message::PeerUpdate {
                file,
                received,
                hints,
            });
            let total = self.stats.received.total();
            self.stats.progress.push((millis(now), total));
        }
        self.fill_window()?;
        self.complete_if_done(now);
        self.ask_for_work(now);
        Ok(())
    }

    /// Sends a PEER_UPDATE between the periodic ones if the strategy asks
    /// for work now.
    pub(super) fn ask_for_work(&mut self, now: Duration) {
        let window = self.window();
        let Some(active) = self.active.as_mut() else {
            return;
        };
        if active.file.is_complete()
            || active.waits_for_hashes()
            || !self.policy.ask_for_work(&window)
        {
            return;
        }
        // Progress is sampled every `update_every` segments, as with the
        // periodic updates, though these come more often.
        let held = active.file.held_count();
        let every = self.config.update_every.max(1);
        let before = held.saturating_sub(active.since_update.len() as u32);
        let sample = held / every != before / every;
        let msg = Message::PeerUpdate {
            file: active.file.id,
            received: std::mem::take(&mut active.since_update),
            hints: self.policy.hint_request(&window),
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
