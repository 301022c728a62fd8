//! The event queue: events keyed by (tick, order of scheduling).
//!
//! Ticks are small, dense integers and most events land a tick or two
//! ahead, so the queue is a ring of per-tick buckets (a calendar queue)
//! rather than a heap: scheduling and taking an event are O(1), and events
//! of one tick come out in the order they were scheduled, which is what
//! makes a run deterministic.

use std::collections::VecDeque;

/// How far past its last event a bucket's memory is prefetched.
const WRITE_AHEAD: usize = 512;

/// Events of type `E` waiting for their tick.
#[derive(Debug)]
pub(crate) struct Calendar<E> {
    /// The tick of `buckets[0]`: the current tick.
    now: u64,
    buckets: VecDeque<VecDeque<E>>,
    len: usize,
}

impl<E> Calendar<E> {
    pub fn new() -> Self {
        Calendar {
            now: 0,
            buckets: VecDeque::new(),
            len: 0,
        }
    }

    /// The tick of the event taken last (0 before any).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Events still waiting.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Schedules `event` at tick `at`, after every event already scheduled
    /// for that tick. `at` must not be in the past.
    pub fn schedule(&mut self, at: u64, event: E) {
        debug_assert!(at >= self.now, "scheduled at {at}, now {}", self.now);
        let offset = at.saturating_sub(self.now) as usize;
        if self.buckets.len() <= offset {
            self.buckets.resize_with(offset + 1, VecDeque::new);
        }
        let bucket = &mut self.buckets[offset];
        bucket.push_back(event);
        self.len += 1;
        // A bucket is filled in order, a megabyte or so a tick at 10,000
        // peers, in memory last used a few ticks ago: loading the slots
        // a little ahead of the writes keeps them from stalling.
        if let Some(last) = bucket.back() {
            let ahead = (last as *const E as *const u8).wrapping_add(WRITE_AHEAD);
            mpitorrent_core::prefetch::line(ahead);
        }
    }

    /// The event `ahead` places after the next one, if it is in the
    /// current tick.
    pub fn peek(&self, ahead: usize) -> Option<&E> {
        self.buckets.front()?.get(ahead)
    }

    /// Starts loading into the cache the slot of the event `ahead` places
    /// after the next one, if it is in the current tick.
    pub fn prefetch(&self, ahead: usize) {
        if let Some(event) = self.peek(ahead) {
            mpitorrent_core::prefetch::lines(event, 2);
        }
    }

    /// Takes the next event and its tick, advancing the clock to it.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        if self.len == 0 {
            return None;
        }
        loop {
            let front = self.buckets.front_mut().expect("len > 0 means a bucket");
            if let Some(event) = front.pop_front() {
                self.len -= 1;
                return Some((self.now, event));
            }
            // Keep the emptied bucket's allocation for a later tick.
            let empty = self.buckets.pop_front().expect("checked above");
            self.buckets.push_back(empty);
            self.now += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_by_tick_then_by_scheduling_order() {
        let mut c = Calendar::new();
        c.schedule(3, "c1");
        c.schedule(1, "a");
        c.schedule(3, "c2");
        c.schedule(0, "z");
        assert_eq!(c.len(), 4);
        assert_eq!(c.pop(), Some((0, "z")));
        assert_eq!(c.pop(), Some((1, "a")));
        // Scheduled during tick 1 for tick 1: still this tick, last.
        c.schedule(1, "b");
        assert_eq!(c.pop(), Some((1, "b")));
        assert_eq!(c.pop(), Some((3, "c1")));
        c.schedule(10, "far");
        assert_eq!(c.pop(), Some((3, "c2")));
        assert_eq!(c.pop(), Some((10, "far")));
        assert_eq!(c.pop(), None);
        assert_eq!(c.now(), 10);
    }
}
