//! A deterministic simulator of mpitorrent: the real protocol at thousands
//! of peers, in virtual time, in one thread.
//!
//! It runs the same [`Tracker`](mpitorrent_core::tracker::Tracker) and
//! peer machine ([`Peer`](mpitorrent_core::peer::Peer): registration, the
//! download and upload sides, LEAVE, STATS) as `mpirun` does, and every
//! message goes through the same wire codec; only the transport is a
//! model. A run is a pure function of the scenario, the [`SimConfig`] and
//! its seed: the same inputs give the same [`SimReport`], bit for bit.
//!
//! # The model
//!
//! - Time is counted in ticks; the machines see tick `t` as
//!   `Duration::from_millis(t)`, so every time in the run report (a file's
//!   `completed_ms`, a peer's progress) reads as ticks.
//! - In one tick every rank can send at most one segment and receive at
//!   most one ([`links`]): an ACK (which carries the segment) waits in the
//!   sender's uplink queue, then in the receiver's downlink queue, and is
//!   delivered the tick after it was taken in. A slow peer's uplink starts
//!   a segment only every `k` ticks.
//! - Every other message (the tracker's, requests, NACKs) is a control
//!   message: it arrives `latency` ticks after it was sent, and uses no
//!   link capacity.
//! - The tracker handles at most `tracker_capacity` messages per tick
//!   (0: any number); the others wait at the tracker, first come first
//!   served, and its answers leave when it handles them
//!   ([`tracker_queue`]).
//! - Every peer sends REGISTER at tick 0. A late peer's download side
//!   starts `by` ticks after its ACK; a leaving peer, once it has all its
//!   files, tells the tracker LEAVE for each file it downloaded and drops
//!   its segments (its upload side answers NACK for them from then on).
//! - The makespan is the tick the last peer completed its last downloaded
//!   file. For one file it is measured against the lower bound of
//!   [`bound`]: `S + ceil(log2(P + 1)) - 1` for one seed.
//!
//! # The run loop
//!
//! ```text
//!   every peer: send REGISTER at tick 0
//!   while let Some((tick, event)) = calendar.pop():    // by (tick, order)
//!     Deliver(bytes) -> machine.handle_message(tick, from, wire::decode(bytes)?)
//!                       then drain its transmits (check, encode, schedule)
//!                       and its events (check outputs; a Serve is sent
//!                       as its ACK; at the ACK, start or schedule downloads)
//!     Uplink(rank)   -> the next queued segment leaves, through the downlink
//!     StartDownloads -> a late peer's downloader starts
//!     TrackerWake    -> the tracker handles the front of its queue,
//!                       as many as its capacity per tick
//! ```
//!
//! At 10,000 peers the machines' state is far bigger than the caches, so
//! the loop also asks, a few events ahead, for the memory each coming event
//! will touch to be loaded ([`mpitorrent_core::prefetch`]); and the peers'
//! holdings keep each file's segment hashes once for all of them. Neither
//! changes what any machine does.
//!
//! A run fails (a [`SimError`]) on anything a user or the protocol would
//! call wrong: a machine's protocol error, a rank sending to itself or to a
//! rank after its TERMINATE, a file completed with the wrong hashes or not
//! at all, a tracker report whose peers' STATS do not match the tracker's
//! own counts, an abort, a stall, or more than `max_ticks` ticks. These
//! checks, and the delivering and draining of the machines, are
//! `mpitorrent-harness`'s, which the core's swarm tests use too; the
//! simulator's own part is time: the calendar and the links. A run that would not fit in
//! memory is refused before it starts ([`memory`]), and so are settings
//! that cannot be simulated ([`SimConfig::validate`]).

pub mod bound;
mod calendar;
mod config;
mod encoded;
pub mod inbox;
mod input;
mod links;
pub mod memory;
mod peer;
mod report;
mod tracker_queue;
mod world;

pub use config::{
    LatePeers, SimConfig, SlowPeers, DEFAULT_MAX_TICKS, DEFAULT_TRACKER_CAPACITY, MAX_DELAY_TICKS,
    MAX_TICKS_LIMIT, MAX_TRACKER_CAPACITY,
};
pub use input::{broadcast, scenario_from_dir};
pub use report::{Fairness, SimReport, SimSettings, TrackerQueueReport};

use mpitorrent_core::scenario::Scenario;

/// Why a simulation did not finish well.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    #[error("{0}")]
    Config(String),
    /// A machine or the run broke the protocol (a bug to fix).
    #[error("tick {tick}: {message}")]
    Protocol { tick: u64, message: String },
    /// The tracker aborted the job.
    #[error("tick {tick}: the job was aborted: {reason}")]
    Aborted { tick: u64, reason: String },
    /// Nothing is in flight, but the job is not over.
    #[error("tick {tick}: the swarm stalled with no message in flight; {waiting}")]
    Stalled { tick: u64, waiting: String },
    #[error("the swarm was still running at tick {max_ticks} (--max-ticks); {waiting}")]
    TooLong { max_ticks: u64, waiting: String },
    /// The run would not fit in this machine's memory (see [`memory`]).
    #[error(
        "simulating {peers} peers ({downloads} segments to download, {owned} owned at the \
         start) would take about {} of memory ({} bytes per segment downloaded, {} per \
         segment owned), but this machine has {} available ({measure} in /proc/meminfo): \
         simulate fewer peers or segments",
        memory::human(*.needed),
        memory::BYTES_PER_DOWNLOAD,
        memory::BYTES_PER_OWNED,
        memory::human(*.available)
    )]
    TooBig {
        peers: u64,
        downloads: u64,
        owned: u64,
        needed: u64,
        available: u64,
        measure: &'static str,
    },
}

/// Runs `scenario` under `config` to its end.
pub fn run(scenario: &Scenario, config: &SimConfig) -> Result<SimReport, SimError> {
    let finished = checked_world(scenario, config)?.run()?;
    Ok(report(finished, scenario, config))
}

/// The world of a run, once its settings and its size are found fine.
fn checked_world<'a>(
    scenario: &'a Scenario,
    config: &'a SimConfig,
) -> Result<world::World<'a>, SimError> {
    config.validate().map_err(SimError::Config)?;
    memory::Footprint::of(scenario).check(config, memory::available_memory())?;
    Ok(world::World::new(scenario, config))
}

/// The report of a finished run.
fn report(finished: world::Finished, scenario: &Scenario, config: &SimConfig) -> SimReport {
    SimReport::build(finished, config, bound::lower_bound(scenario))
}
