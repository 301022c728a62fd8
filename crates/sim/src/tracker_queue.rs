//! The tracker's capacity: rank 0 handles at most `capacity` messages per
//! tick; what arrives while it is busy waits in a FIFO queue at the
//! tracker, and is handled in a later tick.
//!
//! A real tracker is one rank's one thread: at 10,000 peers the paced
//! strategy sends it thousands of messages per segment time, which no
//! thread can answer (the benchmark measures what one message costs; see
//! `DEFAULT_TRACKER_CAPACITY`). The queue makes the simulator charge for
//! that. Its answers leave when a message is handled, so a queue delays
//! them too.
//!
//! The rules, which keep the order of arrival:
//!
//! - a message that arrives when nothing waits and the tick's budget is
//!   not spent is handled at once;
//! - otherwise it joins the back of the queue; whenever the queue is not
//!   empty a wake-up is due, at the next tick: it handles the front of the
//!   queue, up to the whole budget of that tick (messages arriving in that
//!   tick before it join the back, so they never pass the queue).
//!
//! Capacity 0 (a free tracker) does not use this queue at all.

use std::collections::VecDeque;

/// What became of a message that arrived at the tracker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Arrival<M> {
    /// Handle it now.
    Handle(M),
    /// It waits; schedule a wake-up at this tick (`None`: one is due).
    Queued(Option<u64>),
}

/// What the queue measured, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct QueueStats {
    pub capacity: u64,
    /// Messages the tracker handled.
    pub handled: u64,
    /// Ticks every handled message waited, summed.
    pub waited: u64,
    /// The longest a message waited, in ticks.
    pub max_wait: u64,
    /// The most messages that waited at once.
    pub longest: usize,
}

impl QueueStats {
    /// The mean ticks a handled message waited (0 if none was handled).
    pub fn mean_wait(&self) -> f64 {
        if self.handled == 0 {
            0.0
        } else {
            self.waited as f64 / self.handled as f64
        }
    }
}

/// The messages of type `M` (with the tick each arrived) waiting for the
/// tracker.
#[derive(Debug)]
pub(crate) struct TrackerQueue<M> {
    waiting: VecDeque<(u64, M)>,
    /// The tick whose budget `used` counts.
    tick: u64,
    used: u64,
    stats: QueueStats,
}

impl<M> TrackerQueue<M> {
    /// A queue for a tracker that handles `capacity >= 1` messages a tick.
    pub fn new(capacity: u64) -> Self {
        debug_assert!(capacity > 0, "capacity 0 is a free tracker: no queue");
        TrackerQueue {
            waiting: VecDeque::new(),
            tick: 0,
            used: 0,
            stats: QueueStats {
                capacity: capacity.max(1),
                ..QueueStats::default()
            },
        }
    }

    /// Whether the tracker may handle one more message at tick `now`.
    fn has_room(&mut self, now: u64) -> bool {
        if now != self.tick {
            self.tick = now;
            self.used = 0;
        }
        self.used < self.stats.capacity
    }

    /// Counts one message that arrived at `arrived`, handled at `now`.
    fn count(&mut self, arrived: u64, now: u64) {
        self.used += 1;
        let wait = now - arrived;
        self.stats.handled += 1;
        self.stats.waited += wait;
        self.stats.max_wait = self.stats.max_wait.max(wait);
    }

    /// `message` arrives at tick `now`.
    pub fn arrive(&mut self, now: u64, message: M) -> Arrival<M> {
        let was_empty = self.waiting.is_empty();
        if was_empty && self.has_room(now) {
            self.count(now, now);
            return Arrival::Handle(message);
        }
        self.waiting.push_back((now, message));
        self.stats.longest = self.stats.longest.max(self.waiting.len());
        // A queue that was not empty already has its wake-up.
        Arrival::Queued(was_empty.then_some(now + 1))
    }

    /// At a wake-up at tick `now`: the next waiting message to handle now,
    /// while the tick's budget lasts.
    pub fn take(&mut self, now: u64) -> Option<M> {
        if self.waiting.is_empty() || !self.has_room(now) {
            return None;
        }
        let (arrived, message) = self.waiting.pop_front()?;
        self.count(arrived, now);
        Some(message)
    }

    /// After the [`TrackerQueue::take`]s of a wake-up at `now`: the tick of
    /// the next one, if messages still wait.
    pub fn next_wake(&self, now: u64) -> Option<u64> {
        (!self.waiting.is_empty()).then_some(now + 1)
    }

    /// Messages handled before tick `now` (for the utilization up to the
    /// makespan).
    pub fn handled_before(&self, now: u64) -> u64 {
        let this_tick = if self.tick == now { self.used } else { 0 };
        self.stats.handled - this_tick
    }

    pub fn stats(&self) -> QueueStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message handled, with the tick: arrivals as `(tick, name)`,
    /// in order, with wake-ups run as the world runs them (at their tick,
    /// after the arrivals scheduled before them).
    fn run(capacity: u64, arrivals: &[(u64, &'static str)]) -> Vec<(u64, &'static str)> {
        let mut queue = TrackerQueue::new(capacity);
        let mut handled = Vec::new();
        let mut wake: Option<u64> = None;
        let mut arrivals = arrivals.iter().peekable();
        loop {
            // The wake-up was scheduled a tick ahead, after what was then
            // already scheduled for that tick: arrivals of its tick first.
            let next_arrival = arrivals.peek().map(|&&(t, _)| t);
            match (next_arrival, wake) {
                (Some(t), Some(w)) if t <= w => {}
                (_, Some(w)) => {
                    while let Some(m) = queue.take(w) {
                        handled.push((w, m));
                    }
                    wake = queue.next_wake(w);
                    continue;
                }
                (None, None) => break,
                (Some(_), None) => {}
            }
            let &(t, m) = arrivals.next().expect("peeked");
            match queue.arrive(t, m) {
                Arrival::Handle(m) => handled.push((t, m)),
                Arrival::Queued(Some(at)) => wake = Some(at),
                Arrival::Queued(None) => assert!(wake.is_some(), "a wake-up is due"),
            }
        }
        handled
    }

    #[test]
    fn capacity_1_handles_3_messages_of_one_tick_in_3_ticks_in_order() {
        let handled = run(1, &[(5, "a"), (5, "b"), (5, "c")]);
        assert_eq!(handled, vec![(5, "a"), (6, "b"), (7, "c")]);
    }

    #[test]
    fn the_wait_is_counted() {
        let mut queue = TrackerQueue::new(1);
        assert_eq!(queue.arrive(5, "a"), Arrival::Handle("a"));
        assert_eq!(queue.arrive(5, "b"), Arrival::Queued(Some(6)));
        assert_eq!(queue.arrive(5, "c"), Arrival::Queued(None));
        assert_eq!(queue.take(6), Some("b"));
        assert_eq!(queue.take(6), None, "the budget of tick 6 is spent");
        assert_eq!(queue.next_wake(6), Some(7));
        assert_eq!(queue.handled_before(6), 1);
        assert_eq!(queue.take(7), Some("c"));
        assert_eq!(queue.next_wake(7), None);
        let stats = queue.stats();
        assert_eq!((stats.handled, stats.waited, stats.max_wait), (3, 3, 2));
        assert_eq!(stats.longest, 2);
        assert_eq!(stats.mean_wait(), 1.0);
    }

    #[test]
    fn arrivals_never_pass_the_queue() {
        // Capacity 2: tick 0 brings 5; "d" and "e" wait. At tick 1, "f"
        // arrives before the wake-up; the wake-up handles "c" and "d",
        // and "e" and "f" go on waiting, in that order.
        let arrivals = [
            (0, "a"),
            (0, "b"),
            (0, "c"),
            (0, "d"),
            (0, "e"),
            (1, "f"),
            (4, "g"),
        ];
        let handled = run(2, &arrivals);
        let expected = vec![
            (0, "a"),
            (0, "b"),
            (1, "c"),
            (1, "d"),
            (2, "e"),
            (2, "f"),
            (4, "g"),
        ];
        assert_eq!(handled, expected);
    }

    #[test]
    fn under_capacity_nothing_waits() {
        let arrivals = [(0, "a"), (0, "b"), (1, "c"), (3, "d"), (3, "e")];
        let mut queue = TrackerQueue::new(2);
        for &(t, m) in &arrivals {
            assert_eq!(queue.arrive(t, m), Arrival::Handle(m));
        }
        let stats = queue.stats();
        assert_eq!((stats.handled, stats.max_wait, stats.longest), (5, 0, 0));
    }
}
