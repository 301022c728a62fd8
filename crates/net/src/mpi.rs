//! The MPI transport: rsmpi over the system's MPI library, polled, never
//! parked.
//!
//! # Why it looks like this
//!
//! A peer rank runs a download thread and an upload thread, and both call
//! MPI. That needs `MPI_THREAD_MULTIPLE`, which [`initialize`] asks for and
//! insists on. It is not enough, though: in Open MPI a thread blocked in
//! `MPI_Recv` or `MPI_Wait` busy-polls the progress engine, and on a
//! machine with fewer cores than threads it starves the rank's other thread
//! (of the core and of the library's locks). Measured here (Open MPI 4.1,
//! 2 cores, 4 ranks): 2,000 request/reply round trips between the download
//! and upload threads of two ranks took 5.6–17 s with blocking receives,
//! and 15–20 ms with the polling below (measurements next to `Backoff`).
//!
//! So no thread ever waits inside MPI:
//!
//! - [`MpiEndpoint::recv`] polls each wanted channel's tag with
//!   `MPI_Improbe` (a matched probe: the message it finds is reserved for
//!   this thread, so the sibling thread cannot take it between probe and
//!   receive), receives the matched message with `MPI_Mrecv` (blocking,
//!   but only while the bytes of an already matched message are copied: a
//!   large message's sender is polling its request meanwhile), and between
//!   rounds of probes backs off (spin, then yield, then short sleeps), so a
//!   waiting thread answers within microseconds when traffic flows and costs
//!   little CPU when it does not.
//! - [`MpiEndpoint::send`] starts an `MPI_Isend` and polls it to completion
//!   with the same backoff. A small message (under Open MPI's shared-memory
//!   eager limit, 4 KiB) completes on the first test; a large one
//!   (rendezvous protocol) completes once the receiving thread has probed
//!   it, while this thread keeps driving progress.
//!
//! The backoff lives in one place, `Backoff`, shared by both.
//!
//! Each thread gets its own endpoint and its own handle on the world
//! communicator ([`MpiFabric::endpoint`] is called on the thread that uses
//! it): rsmpi's communicators are not `Send` under Open MPI. Threads keep
//! their traffic apart by tag, one tag per [`Channel`], and each thread only
//! probes the tags of the channels it serves.
//!
//! # Order of things
//!
//! ```no_run
//! # fn main() -> Result<(), mpitorrent_net::TransportError> {
//! use mpitorrent_net::mpi::{initialize, MpiFabric};
//! use mpitorrent_net::{Endpoint, Fabric};
//!
//! let universe = initialize()?; // MPI_Init_thread(MPI_THREAD_MULTIPLE)
//! let fabric = MpiFabric::new();
//! std::thread::scope(|s| {
//!     s.spawn(|| fabric.endpoint().rank()); // one endpoint per thread
//! });
//! drop(universe); // MPI_Finalize: only after every thread is joined
//! # Ok(())
//! # }
//! ```
//!
//! # Caveat: large sends wait for the receiver to probe
//!
//! Because `send` completes its request before returning, sending a
//! message above the eager limit returns only once the destination thread
//! has probed it. Two threads that send each other large messages at the
//! same moment would wait on each other forever, and a send to a thread
//! that has stopped receiving never returns. The protocol avoids both:
//! large messages (segment data, swarm replies) go to download threads, a
//! download thread only ever sends small ones (keep them under 4 KiB), and
//! it receives every reply it asked for before it stops. A download thread
//! that quits on an error breaks the last rule: an owner can then be stuck
//! sending it an ACK. Two things keep that from hanging the job: a failed
//! download thread keeps receiving (and dropping) what arrives for it until
//! the tracker's abort reaches its rank, and the ranks of an aborted job
//! give `MPI_Finalize` a few seconds only ([`finalize_within`]), after
//! which they exit and `mpirun` ends whatever is still stuck.

use crate::{Endpoint, Envelope, Fabric, TransportError};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Threading;
use mpitorrent_core::{Channel, Rank};
use std::cell::Cell;
use std::fmt;
use std::time::{Duration, Instant};

/// Initialises MPI with `MPI_THREAD_MULTIPLE`.
///
/// Fails if MPI was already initialised in this process, or if the library
/// offers a lower thread level. Dropping the returned [`Universe`] calls
/// `MPI_Finalize`: join every thread that uses MPI first.
pub fn initialize() -> Result<Universe, TransportError> {
    let (universe, provided) =
        mpi::initialize_with_threading(Threading::Multiple).ok_or_else(|| {
            TransportError::Mpi(
                "MPI was already initialised in this process; mpitorrent must initialise it \
                 itself, once, with MPI_THREAD_MULTIPLE"
                    .into(),
            )
        })?;
    require_multiple(provided)?;
    Ok(universe)
}

/// The error for a library that cannot give every thread MPI.
fn require_multiple(provided: Threading) -> Result<(), TransportError> {
    if provided < Threading::Multiple {
        return Err(TransportError::Mpi(format!(
            "the MPI library provides thread level {}, but mpitorrent needs \
             MPI_THREAD_MULTIPLE (its download and upload threads both call MPI)",
            thread_level_name(provided)
        )));
    }
    Ok(())
}

fn thread_level_name(level: Threading) -> &'static str {
    match level {
        Threading::Single => "MPI_THREAD_SINGLE",
        Threading::Funneled => "MPI_THREAD_FUNNELED",
        Threading::Serialized => "MPI_THREAD_SERIALIZED",
        Threading::Multiple => "MPI_THREAD_MULTIPLE",
    }
}

/// Ends the whole job now (`MPI_Abort` on the world communicator), for when
/// a rank cannot tell the others through the protocol. Outside an MPI run
/// (not initialised, or already finalised) it exits the process with `code`.
pub fn abort(code: i32) -> ! {
    if mpi::is_initialized() && !mpi::is_finalized() {
        SimpleCommunicator::world().abort(code)
    }
    std::process::exit(code)
}

/// How long a rank of an aborted job waits in `MPI_Finalize` before it
/// gives up on the others (see [`finalize_within`]). Ranks that are not
/// stuck learn of the abort within a poll interval (100 ms), clean up and
/// reach `MPI_Finalize` well within this.
pub const ABORT_GRACE: Duration = Duration::from_secs(3);

/// Calls `MPI_Finalize` (by dropping `universe`), but if it has not
/// returned after `grace`, ends the process with `code` without it.
///
/// For the ranks of an aborted job. `MPI_Finalize` waits for every rank
/// (Open MPI fences), and after an abort a rank can be stuck for good: an
/// owner's upload thread handing a large ACK to a download thread that
/// failed and stopped receiving (see the module docs). Exiting non-zero
/// lets `mpirun` end whatever is left of the job instead of waiting on it.
pub fn finalize_within(universe: Universe, grace: Duration, code: i32) {
    std::thread::spawn(move || {
        std::thread::sleep(grace);
        use std::io::Write;
        let _ = std::io::stderr().flush();
        let _ = std::io::stdout().flush();
        // SAFETY: `_exit` ends the process at once; no Rust state is
        // touched afterwards. `exit` is avoided because it would run
        // MPI's exit handlers while the main thread is inside MPI.
        unsafe { libc::_exit(code) }
    });
    drop(universe);
}

/// Makes [`MpiEndpoint`]s for the threads of this rank. Create it after
/// [`initialize`]; it holds nothing, so it is `Sync` and free to share.
#[derive(Clone, Copy, Debug, Default)]
pub struct MpiFabric {
    _private: (),
}

impl MpiFabric {
    /// The fabric of this rank. MPI must be initialised (see [`initialize`])
    /// before any endpoint is made.
    pub fn new() -> Self {
        MpiFabric { _private: () }
    }
}

impl Fabric for MpiFabric {
    type Endpoint = MpiEndpoint;

    /// An endpoint with its own world communicator handle.
    ///
    /// # Panics
    ///
    /// If MPI is not initialised or already finalised (a bug in the caller:
    /// calling MPI then would crash the process less politely).
    fn endpoint(&self) -> MpiEndpoint {
        assert!(
            mpi::is_initialized() && !mpi::is_finalized(),
            "MpiFabric::endpoint needs MPI initialised (mpi::initialize) and not yet finalised"
        );
        let world = SimpleCommunicator::world();
        let rank = Rank(u32::try_from(world.rank()).expect("MPI ranks are non-negative"));
        let size = u32::try_from(world.size()).expect("MPI sizes are non-negative");
        MpiEndpoint {
            world,
            rank,
            size,
            next_channel: Cell::new(0),
        }
    }
}

/// One thread's endpoint on `MPI_COMM_WORLD`; see the [module docs](self).
pub struct MpiEndpoint {
    /// Not `Send`: an endpoint stays on the thread that made it.
    world: SimpleCommunicator,
    rank: Rank,
    size: u32,
    /// Where in the caller's channel list the next probe round starts, so a
    /// busy channel cannot starve the others.
    next_channel: Cell<usize>,
}

impl fmt::Debug for MpiEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpiEndpoint")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl MpiEndpoint {
    /// One round of matched probes over `channels`, starting at the channel
    /// after the one that last delivered; receives the first message found.
    fn poll(&self, channels: &[Channel]) -> Result<Option<Envelope>, TransportError> {
        let count = channels.len();
        let first = self.next_channel.get();
        let any = self.world.any_process();
        for offset in 0..count {
            let position = (first + offset) % count;
            let channel = channels[position];
            let Some(matched) = any.immediate_matched_probe_with_tag(channel.tag()) else {
                continue;
            };
            let (bytes, status) = matched.matched_receive_vec::<u8>();
            self.next_channel.set((position + 1) % count);
            let from = u32::try_from(status.source_rank()).map_err(|_| {
                TransportError::Mpi(format!(
                    "MPI reported source rank {} for a message on tag {}",
                    status.source_rank(),
                    channel.tag()
                ))
            })?;
            return Ok(Some(Envelope {
                from: Rank(from),
                channel,
                bytes,
            }));
        }
        Ok(None)
    }
}

impl Endpoint for MpiEndpoint {
    fn rank(&self) -> Rank {
        self.rank
    }

    fn size(&self) -> u32 {
        self.size
    }

    fn send(&self, to: Rank, channel: Channel, bytes: Vec<u8>) -> Result<(), TransportError> {
        // rsmpi asserts on a bad rank and MPI aborts on an oversized count;
        // both are caller errors we would rather report.
        if to.0 >= self.size {
            return Err(TransportError::Disconnected {
                rank: to,
                detail: format!("no such rank in a job of {}", self.size),
            });
        }
        if i32::try_from(bytes.len()).is_err() {
            return Err(TransportError::Mpi(format!(
                "a message of {} bytes to rank {to} is over MPI's limit of {} bytes",
                bytes.len(),
                i32::MAX
            )));
        }
        let destination = self.world.process_at_rank(to.0 as i32);
        mpi::request::scope(|scope| {
            let mut request = destination.immediate_send_with_tag(scope, &bytes[..], channel.tag());
            let mut backoff = Backoff::new();
            loop {
                match request.test() {
                    Ok(_status) => break,
                    Err(pending) => {
                        request = pending;
                        backoff.snooze(None);
                    }
                }
            }
        });
        Ok(())
    }

    fn recv(
        &self,
        channels: &[Channel],
        timeout: Duration,
    ) -> Result<Option<Envelope>, TransportError> {
        // A timeout too large for the clock means "wait forever".
        let deadline = Instant::now().checked_add(timeout);
        let mut backoff = Backoff::new();
        loop {
            if let Some(envelope) = self.poll(channels)? {
                return Ok(Some(envelope));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            backoff.snooze(deadline);
        }
    }
}

/// How a thread waits between two polls of MPI: spin briefly (the answer is
/// often microseconds away), then yield the core for a while (ranks
/// outnumber cores, and the thread we wait for may need this one), then
/// sleep for growing, capped, intervals (nothing is coming soon; keep an idle
/// rank's CPU low).
///
/// The yielding phase is measured in time, not in steps (how long a yield
/// takes depends on what else is runnable), and it lasts longer than the
/// longest sleep. That matters in request/reply traffic: if it were shorter,
/// a thread that slept `SLEEP_MAX` before answering would make its partner
/// sleep too, the partner's next request would then find the first thread
/// asleep again, and the pair would lock into a sleep per message.
///
/// Tuned with `examples/mpi_pingpong.rs` (Open MPI 4.1.4, 2 cores, 4
/// ranks, each with a download and an upload thread; release build):
///
/// | spins | yield for | sleeps     | 2,000 round trips      | 4 MiB trip | idle CPU |
/// |-------|-----------|------------|------------------------|------------|----------|
/// | 6     | 0         | 50 µs–1 ms | 18 ms, worst 5.6 s (a) | 4.0 ms     | 1.5 %    |
/// | 6     | 200 µs    | 50 µs–1 ms | 16 ms, worst 2.7 s (a) | 3.3 ms     | 2.0 %    |
/// | 6     | 1.5 ms    | 50 µs–1 ms | 15–20 ms, worst 51 ms  | 3.4–5.0 ms | 2.5 %    | (chosen)
/// | 6     | 3 ms      | 50 µs–1 ms | 17 ms, worst 41 ms     | 3.9 ms     | 3.0 %    |
/// | 0     | 1.5 ms    | 50 µs–1 ms | 27 ms, worst 48 ms     | 3.8 ms     | 2.0 %    |
/// | 10    | 1.5 ms    | 50 µs–1 ms | 18 ms, worst 40 ms     | 5.2 ms     | 2.5 %    |
/// | 6     | 0.8 ms    | 50–500 µs  | 15 ms, worst 22 ms     | 3.7 ms     | 3.0 %    |
/// | 6     | 1.5 ms    | 20–250 µs  | 15 ms, worst 30 ms     | 3.4 ms     | 5.0 %    |
///
/// Round trips: median and worst over 8 runs × the 2 measuring ranks (the
/// chosen row: 8 batches, medians 15–20 ms). 4 MiB: median of 5 trips per
/// rank (the first, ~12 ms, pays for page faults). Idle CPU: per rank, both
/// threads polling `recv` in 100 ms slices, from `/proc/self/stat` (and
/// `ps`). (a) the pair locked into one sleep per message, as described
/// above. Binding (`--bind-to none`, `--bind-to core:overload-allowed`, or
/// the default, which is no binding when oversubscribed) made no
/// difference.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    started: Instant,
    spins: u32,
    sleep: Duration,
}

/// One wait of a [`Backoff`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pause {
    /// Busy-wait this many `spin_loop` hints.
    Spin(u32),
    /// Give the core to another thread.
    Yield,
    /// Sleep this long.
    Sleep(Duration),
}

impl Backoff {
    /// Spins before the first yield; the n-th is 2^n `spin_loop` hints.
    const SPIN_STEPS: u32 = 6;
    /// How long, from the start of the wait, to keep yielding. Longer than
    /// `SLEEP_MAX` plus timer slack, for the reason above.
    const YIELD_FOR: Duration = Duration::from_micros(1500);
    /// The first sleep; each later one doubles, up to `SLEEP_MAX`.
    const SLEEP_MIN: Duration = Duration::from_micros(50);
    /// The longest sleep: the most latency a wait adds once a thread idles.
    const SLEEP_MAX: Duration = Duration::from_micros(1000);

    /// A backoff for a wait that starts now.
    pub(crate) fn new() -> Self {
        Backoff::starting_at(Instant::now())
    }

    fn starting_at(started: Instant) -> Self {
        Backoff {
            started,
            spins: 0,
            sleep: Duration::ZERO,
        }
    }

    /// The next wait, for a caller that polled in vain at `now`.
    pub(crate) fn next_pause(&mut self, now: Instant) -> Pause {
        if self.spins < Self::SPIN_STEPS {
            self.spins += 1;
            return Pause::Spin(1 << self.spins);
        }
        if now.saturating_duration_since(self.started) < Self::YIELD_FOR {
            return Pause::Yield;
        }
        self.sleep = if self.sleep.is_zero() {
            Self::SLEEP_MIN
        } else {
            (self.sleep * 2).min(Self::SLEEP_MAX)
        };
        Pause::Sleep(self.sleep)
    }

    /// Waits once, never sleeping past `deadline`.
    pub(crate) fn snooze(&mut self, deadline: Option<Instant>) {
        let now = Instant::now();
        match self.next_pause(now) {
            Pause::Spin(hints) => (0..hints).for_each(|_| std::hint::spin_loop()),
            Pause::Yield => std::thread::yield_now(),
            Pause::Sleep(sleep) => {
                let sleep = until_deadline(sleep, deadline, now);
                if !sleep.is_zero() {
                    std::thread::sleep(sleep);
                }
            }
        }
    }
}

// The yielding must outlast the longest sleep (see `Backoff`).
const _: () = assert!(Backoff::YIELD_FOR.as_nanos() > Backoff::SLEEP_MAX.as_nanos() * 5 / 4);

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
    fn backoff_spins_then_yields_then_sleeps_up_to_the_cap() {
        let start = Instant::now();
        let mut backoff = Backoff::starting_at(start);
        for n in 1..=Backoff::SPIN_STEPS {
            assert_eq!(backoff.next_pause(start), Pause::Spin(1 << n));
        }
        let almost = start + Backoff::YIELD_FOR - Duration::from_micros(1);
        assert_eq!(backoff.next_pause(start), Pause::Yield);
        assert_eq!(backoff.next_pause(almost), Pause::Yield);
        let later = start + Backoff::YIELD_FOR;
        let sleeps: Vec<Duration> = (0..40)
            .map(|_| match backoff.next_pause(later) {
                Pause::Sleep(d) => d,
                other => panic!("expected a sleep, got {other:?}"),
            })
            .collect();
        assert_eq!(sleeps[0], Backoff::SLEEP_MIN);
        assert_eq!(sleeps[1], 2 * Backoff::SLEEP_MIN);
        assert!(sleeps.windows(2).all(|w| w[0] <= w[1]), "{sleeps:?}");
        assert_eq!(*sleeps.last().unwrap(), Backoff::SLEEP_MAX);
    }

    #[test]
    fn a_fresh_backoff_starts_over() {
        let start = Instant::now();
        let mut backoff = Backoff::starting_at(start);
        while backoff.next_pause(start + Backoff::YIELD_FOR) != Pause::Sleep(Backoff::SLEEP_MAX) {}
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

    #[test]
    fn less_than_thread_multiple_is_a_clear_error() {
        assert!(require_multiple(Threading::Multiple).is_ok());
        let err = require_multiple(Threading::Serialized)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("provides thread level MPI_THREAD_SERIALIZED"),
            "{err}"
        );
        assert!(err.contains("needs MPI_THREAD_MULTIPLE"), "{err}");
    }

    #[test]
    fn thread_levels_have_their_mpi_names() {
        assert_eq!(
            thread_level_name(Threading::Serialized),
            "MPI_THREAD_SERIALIZED"
        );
    }
}
