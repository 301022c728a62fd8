//! How a thread waits between two polls of MPI (see [`Backoff`]): one
//! rule for every wait of the MPI transport, receives, sends in flight and
//! matched receives alike. A receive that may be woken (a [`Wake`]) sleeps
//! on the wake instead of the clock, so a wake-up ends its sleep at once
//! rather than at the next poll.

use crate::endpoint::Wake;
use std::time::{Duration, Instant};

/// How a thread waits between two polls of MPI: spin briefly (the answer is
/// often microseconds away), then yield the core for a moment (ranks
/// outnumber cores, and the thread we wait for may need this one), then
/// sleep, each sleep a quarter of the time waited so far, capped (nothing
/// is coming soon; keep an idle rank's CPU low).
///
/// Sleeps grow with the wait, not by steps, and that matters in
/// request/reply traffic: a thread that sleeps long before answering makes
/// its partner wait long, and if the partner then slept as long, its next
/// answer would find the first thread asleep again, and the pair would
/// lock into a sleep per message. A sleep of at most a quarter of the wait
/// so far oversleeps an answer by at most a quarter: each round trip after
/// a long idle is shorter than the one before, until both threads are back
/// in their yielding phase. (Sleeps doubling from 50 µs would need a
/// yielding phase longer than the longest sleep, 1.5 ms, after every
/// message to avoid that lock-step, and yielding, on cores shared by every
/// rank's threads, is then a third of the CPU of a 1 GiB `share`.)
///
/// Tuned with `examples/mpi_pingpong.rs` (Open MPI 4.1.4, 2 cores, 4
/// ranks, each with a download and an upload thread; release build):
///
/// | spins | yield for | sleeps                | 2,000 round trips      | 4 MiB trip | idle CPU |
/// |-------|-----------|-----------------------|------------------------|------------|----------|
/// | 6     | 0         | 50 µs–1 ms, doubling  | 18 ms, worst 5.6 s (a) | 4.0 ms     | 1.5 %    |
/// | 6     | 200 µs    | 50 µs–1 ms, doubling  | 16 ms, worst 2.7 s (a) | 3.3 ms     | 2.0 %    |
/// | 6     | 1.5 ms    | 50 µs–1 ms, doubling  | 15–20 ms, worst 51 ms  | 3.4–5.0 ms | 2.5 %    |
/// | 6     | 3 ms      | 50 µs–1 ms, doubling  | 17 ms, worst 41 ms     | 3.9 ms     | 3.0 %    |
/// | 0     | 1.5 ms    | 50 µs–1 ms, doubling  | 27 ms, worst 48 ms     | 3.8 ms     | 2.0 %    |
/// | 10    | 1.5 ms    | 50 µs–1 ms, doubling  | 18 ms, worst 40 ms     | 5.2 ms     | 2.5 %    |
/// | 6     | 0.8 ms    | 50–500 µs, doubling   | 15 ms, worst 22 ms     | 3.7 ms     | 3.0 %    |
/// | 6     | 1.5 ms    | 20–250 µs, doubling   | 15 ms, worst 30 ms     | 3.4 ms     | 5.0 %    |
/// | 6     | 200 µs    | 50 µs–1 ms, wait / 4  | 9–30 ms, median 16 ms  | 2.6–13 ms  | 3.0–3.7 % | (chosen, b)
///
/// (b) on another 2-core machine (Intel Xeon), 4 runs, where the rule of
/// the third row (1.5 ms, doubling) measured 10–20 ms, 3.7–8.8 ms and
/// 3.7–5.3 % in 3 runs: the same within that machine's noise, so the
/// choice rests on the CPU of `share` below. Round trips: median and worst
/// over 8 runs × the 2 measuring ranks. 4 MiB: median of 5 trips per rank
/// (the first, ~12 ms, pays for page faults). Idle CPU: per rank, both threads polling `recv` in 100 ms
/// slices, from `/proc/self/stat` (and `ps`). (a) the pair locked into one
/// sleep per message, as described above. Binding (`--bind-to none`,
/// `--bind-to core:overload-allowed`, or the default, which is no binding
/// when oversubscribed) made no difference. On `share` (1 GiB from one
/// seeder to 7 ranks) the chosen rule uses 11.6–13.5 CPU s with `--direct`
/// where the third row's uses 16.3–18.2 s, and 29.6–30.9 s instead of
/// 32.0–33.5 s through the page cache, for the same wall time.
#[derive(Clone, Debug)]
pub(super) struct Backoff {
    started: Instant,
    spins: u32,
}

/// One wait of a [`Backoff`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pause {
    /// Busy-wait this many `spin_loop` calls.
    Spin(u32),
    /// Give the core to another thread.
    Yield,
    /// Sleep this long.
    Sleep(Duration),
}

impl Backoff {
    /// Spins before the first yield; the n-th is 2^n `spin_loop` calls.
    const SPIN_STEPS: u32 = 6;
    /// How long, from the start of the wait, to keep yielding.
    const YIELD_FOR: Duration = Duration::from_micros(200);
    /// A sleep is the time waited so far divided by this...
    const SLEEP_FRACTION: u32 = 4;
    /// ...but at least this (shorter sleeps cost more than they save)...
    const SLEEP_MIN: Duration = Duration::from_micros(50);
    /// ...and at most this: the most latency a wait adds once a thread
    /// idles.
    const SLEEP_MAX: Duration = Duration::from_micros(1000);

    /// A backoff for a wait that starts now.
    pub(super) fn new() -> Self {
        Backoff::starting_at(Instant::now())
    }

    fn starting_at(started: Instant) -> Self {
        Backoff { started, spins: 0 }
    }

    /// The next wait, for a caller that polled in vain at `now`.
    pub(super) fn next_pause(&mut self, now: Instant) -> Pause {
        if self.spins < Self::SPIN_STEPS {
            self.spins += 1;
            return Pause::Spin(1 << self.spins);
        }
        let waited = now.saturating_duration_since(self.started);
        if waited < Self::YIELD_FOR {
            return Pause::Yield;
        }
        Pause::Sleep((waited / Self::SLEEP_FRACTION).clamp(Self::SLEEP_MIN, Self::SLEEP_MAX))
    }

    /// Waits once, never sleeping past `deadline`.
    pub(super) fn snooze(&mut self, deadline: Option<Instant>) {
        self.snooze_until_woken(deadline, None);
    }

    /// Waits once, never sleeping past `deadline`, and sleeping only until
    /// `wake` is woken; whether it was (the wake-up is then taken). Spins
    /// and yields are short: the caller looks at `wake` between polls.
    pub(super) fn snooze_until_woken(
        &mut self,
        deadline: Option<Instant>,
        wake: Option<&Wake>,
    ) -> bool {
        let now = Instant::now();
        match self.next_pause(now) {
            Pause::Spin(hints) => (0..hints).for_each(|_| std::hint::spin_loop()),
            Pause::Yield => std::thread::yield_now(),
            Pause::Sleep(sleep) => {
                let sleep = until_deadline(sleep, deadline, now);
                match wake {
                    _ if sleep.is_zero() => {}
                    Some(wake) => return wake.sleep(sleep),
                    None => std::thread::sleep(sleep),
                }
            }
        }
        false
    }
}

/// `sleep`, shortened so that it ends by `deadline`.
fn until_deadline(sleep: Duration, deadline: Option<Instant>, now: Instant) -> Duration {
    match deadline {
        Some(deadline) => sleep.min(deadline.saturating_duration_since(now)),
        None => sleep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spins_then_yields_then_sleeps_a_quarter_of_the_wait() {
        let start = Instant::now();
        let mut backoff = Backoff::starting_at(start);
        for n in 1..=Backoff::SPIN_STEPS {
            assert_eq!(backoff.next_pause(start), Pause::Spin(1 << n));
        }
        let almost = start + Backoff::YIELD_FOR - Duration::from_micros(1);
        assert_eq!(backoff.next_pause(start), Pause::Yield);
        assert_eq!(backoff.next_pause(almost), Pause::Yield);
        let after = |micros| backoff_at(start, Duration::from_micros(micros));
        assert_eq!(after(200), Pause::Sleep(Backoff::SLEEP_MIN));
        assert_eq!(after(800), Pause::Sleep(Duration::from_micros(200)));
        assert_eq!(after(2_000), Pause::Sleep(Duration::from_micros(500)));
        assert_eq!(after(4_000), Pause::Sleep(Backoff::SLEEP_MAX));
        assert_eq!(after(60_000_000), Pause::Sleep(Backoff::SLEEP_MAX));
    }

    /// The pause of a backoff that started at `start`, past its spins, at
    /// `start + waited`.
    fn backoff_at(start: Instant, waited: Duration) -> Pause {
        let mut backoff = Backoff::starting_at(start);
        backoff.spins = Backoff::SPIN_STEPS;
        backoff.next_pause(start + waited)
    }

    #[test]
    fn a_fresh_backoff_starts_over() {
        let start = Instant::now();
        let mut backoff = Backoff::starting_at(start);
        while backoff.next_pause(start + Backoff::YIELD_FOR) != Pause::Sleep(Backoff::SLEEP_MIN) {}
        assert_eq!(Backoff::new().next_pause(Instant::now()), Pause::Spin(2));
    }

    #[test]
    fn sleeps_end_by_the_deadline() {
        let now = Instant::now();
        let ms = Duration::from_millis(1);
        assert_eq!(until_deadline(ms, None, now), ms);
        assert_eq!(until_deadline(ms, Some(now + 4 * ms), now), ms);
        assert_eq!(until_deadline(4 * ms, Some(now + ms), now), ms);
        assert_eq!(until_deadline(ms, Some(now), now + ms), Duration::ZERO);
    }
}
