//! What one run measured (its wall time, the launch-floor run before it,
//! the message-floor run after it, and the numbers of its report) and the
//! medians over a case's runs.

use crate::stats::median;
use mpitorrent_core::report::RunReport;
use mpitorrent_core::stats::ResourceUse;
use serde::Serialize;
use std::time::Duration;

/// One run of mpitorrent, with the floor runs just before and after it.
#[derive(Clone, Debug, Serialize)]
pub struct RunSample {
    /// The whole `mpirun` of mpitorrent, launch included.
    pub wall_seconds: f64,
    /// The whole `mpirun` of `mpi-floor` at the same `-np`.
    pub floor_seconds: f64,
    /// The whole `mpirun` of `mpi-message-floor` making this run's segment
    /// round trips (its report's `downloaded_from`) with its window.
    pub message_floor_seconds: f64,
    /// From the tracker's ACK to its TERMINATE (the report's own wall).
    pub swarm_seconds: f64,
    pub segments: u64,
    /// Messages of every kind per downloaded segment.
    pub messages_per_segment: f64,
    /// Transport messages (MPI sends: a bundle of several protocol
    /// messages counts once) per downloaded segment.
    pub transport_per_segment: f64,
    /// Messages to the tracker per downloaded segment.
    pub tracker_messages_per_segment: f64,
    /// The lowest Jain index over the files; none if no file was uploaded.
    pub fairness_min: Option<f64>,
    /// CPU time of every rank's process, the tracker's included.
    pub cpu_seconds: f64,
    /// The largest peak resident memory of any rank.
    pub peak_mib: f64,
    /// The tracker rank's CPU time per message it received, in µs (see
    /// [`tracker_us_per_message`]).
    pub tracker_us_per_message: f64,
}

/// The time of one tick of `mpitorrent sim`, taken as one 1 MiB segment
/// at 10 Gbit/s: 1 MiB x 8 / 10e9 s = 838.9 µs.
pub const TICK_MICROS: f64 = (1u64 << 20) as f64 * 8.0 / 10e9 * 1e6;

/// What one message costs the real tracker: its rank's CPU time (user and
/// system, the whole process) over the messages it received, in µs. That
/// is the MPI receive, the decoding, the tracker machine, the encoding and
/// the MPI sends of its answers, plus the rank's share of what is not per
/// message (MPI's start-up, and polling while no message waits): an upper
/// bound on a message's cost, the closer the busier the tracker.
pub fn tracker_us_per_message(report: &RunReport) -> f64 {
    let messages = report.messages.to_tracker.max(1) as f64;
    report.tracker_resources.cpu_seconds * 1e6 / messages
}

/// The messages a tracker that spends `us_per_message` on each handles in
/// one simulator tick ([`TICK_MICROS`]): what `mpitorrent sim
/// --tracker-capacity` means.
pub fn messages_per_tick(us_per_message: f64) -> f64 {
    TICK_MICROS / us_per_message
}

impl RunSample {
    pub fn new(
        wall: Duration,
        floor: Duration,
        message_floor: Duration,
        report: &RunReport,
    ) -> RunSample {
        RunSample {
            wall_seconds: wall.as_secs_f64(),
            floor_seconds: floor.as_secs_f64(),
            message_floor_seconds: message_floor.as_secs_f64(),
            swarm_seconds: report.wall_seconds,
            segments: report.segments_downloaded,
            messages_per_segment: report.messages.per_segment,
            transport_per_segment: report.messages.transport_per_segment,
            tracker_messages_per_segment: report.messages.to_tracker_per_segment,
            fairness_min: report
                .files
                .iter()
                .filter_map(|f| f.fairness)
                .min_by(f64::total_cmp),
            cpu_seconds: cpu_seconds(report),
            peak_mib: peak_mib(report),
            tracker_us_per_message: tracker_us_per_message(report),
        }
    }
}

/// Every rank's process in a report: the tracker's and each peer's.
fn resources(report: &RunReport) -> impl Iterator<Item = ResourceUse> + '_ {
    let peers = report.peers.iter().map(|p| p.resources);
    peers.chain([report.tracker_resources])
}

/// The CPU time of every rank's process, the tracker's included.
pub fn cpu_seconds(report: &RunReport) -> f64 {
    resources(report).map(|r| r.cpu_seconds).sum()
}

/// The largest peak resident memory of any rank, in MiB.
pub fn peak_mib(report: &RunReport) -> f64 {
    resources(report).map(|r| r.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0
}

/// The median of each number over a case's successful runs.
#[derive(Clone, Debug, Serialize)]
pub struct Medians {
    pub wall_seconds: f64,
    pub floor_seconds: f64,
    /// Median wall over median floor: how many launches of an empty MPI
    /// job the swarm costs.
    pub ratio: f64,
    pub message_floor_seconds: f64,
    /// Median wall over median message floor: how many times the bare
    /// segment traffic the swarm costs.
    pub message_floor_ratio: f64,
    pub swarm_seconds: f64,
    pub segments: f64,
    pub messages_per_segment: f64,
    pub transport_per_segment: f64,
    pub tracker_messages_per_segment: f64,
    pub fairness_min: Option<f64>,
    pub cpu_seconds: f64,
    pub peak_mib: f64,
    pub tracker_us_per_message: f64,
    /// [`TICK_MICROS`] / `tracker_us_per_message`.
    pub tracker_messages_per_tick: f64,
}

impl Medians {
    /// `None` if no run succeeded.
    pub fn of(runs: &[RunSample]) -> Option<Medians> {
        let of = |field: fn(&RunSample) -> f64| median(runs.iter().map(field));
        let wall_seconds = of(|r| r.wall_seconds)?;
        let floor_seconds = of(|r| r.floor_seconds)?;
        let message_floor_seconds = of(|r| r.message_floor_seconds)?;
        let tracker_us_per_message = of(|r| r.tracker_us_per_message)?;
        Some(Medians {
            wall_seconds,
            floor_seconds,
            ratio: wall_seconds / floor_seconds,
            message_floor_seconds,
            message_floor_ratio: wall_seconds / message_floor_seconds,
            swarm_seconds: of(|r| r.swarm_seconds)?,
            segments: of(|r| r.segments as f64)?,
            messages_per_segment: of(|r| r.messages_per_segment)?,
            transport_per_segment: of(|r| r.transport_per_segment)?,
            tracker_messages_per_segment: of(|r| r.tracker_messages_per_segment)?,
            fairness_min: median(runs.iter().filter_map(|r| r.fairness_min)),
            cpu_seconds: of(|r| r.cpu_seconds)?,
            peak_mib: of(|r| r.peak_mib)?,
            tracker_us_per_message,
            tracker_messages_per_tick: messages_per_tick(tracker_us_per_message),
        })
    }
}
