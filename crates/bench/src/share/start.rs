//! `share-start`: how soon the first segment moves (issue 15). A seeder
//! registers its files with their sizes alone and hashes them while the
//! swarm runs, so the first segment must not wait for the whole source:
//! its time must not grow with the size.
//!
//! Two inputs, written once: one file of `--share-size` and one [`SCALE`]
//! times larger (1 and 8 GiB by default). Every run is the launch floor
//! (`mpi-floor` at the same `-np`), then a share of the small file, then
//! of the large one, each from seeder rank 1 to the 2 other peers of `-np
//! 4` from a clean destination, checked byte for byte. The large share
//! writes more than the page cache keeps of the small file, and the small
//! one evicts what the large one left of the large file's start, so both
//! read the start of their source cold. One unmeasured share of the small
//! file comes first, as in the other real-data cases.
//!
//! The time to the first segment is the report's `first_segment_ms`:
//! from the sending rank's own process start, MPI's start-up included.
//! The target: the large file's median within [`RATIO_TARGET`] x the
//! small one's, and under [`FIRST_SEGMENT_TARGET_MS`].

use super::case::run_share;
use super::case_id::{verdict, CaseId};
use super::data::ShareDir;
use super::table::{gib, optional};
use super::{each_case, unmeasured, CaseResult, Done, ShareKind};
use crate::runner::{repeat, Runner, Settings};
use crate::sample::cpu_seconds;
use crate::stats::median;
use crate::table::{case_row, render, Column};
use anyhow::{Context, Result};
use mpitorrent_core::report::RunReport;
use serde::Serialize;
use std::time::Duration;

/// The large file's size over the small one's.
pub const SCALE: u64 = 8;
/// The bound on the large file's first segment over the small one's.
pub const RATIO_TARGET: f64 = 1.5;
/// The bound on the large file's first segment, in ms.
pub const FIRST_SEGMENT_TARGET_MS: f64 = 1000.0;

/// One share of one of the two files.
#[derive(Clone, Debug, Serialize)]
pub struct StartTimes {
    /// The report's: the earliest over the peers, from each one's start.
    pub first_segment_ms: u64,
    /// The latest REGISTER_ACK over the peers, from each one's start.
    pub registered_ms: u64,
    /// When the seeder sent its last hashes, from its start.
    pub hashes_done_ms: Option<u64>,
    /// The whole `mpirun`, launch included.
    pub wall_seconds: f64,
    /// From the tracker's ACK to its TERMINATE.
    pub swarm_seconds: f64,
    /// Of every rank's process, the tracker's included.
    pub cpu_seconds: f64,
}

impl StartTimes {
    fn new(wall: Duration, report: &RunReport) -> Result<StartTimes> {
        let peers = report.peers.iter();
        Ok(StartTimes {
            first_segment_ms: report
                .first_segment_ms
                .context("the report has no first_segment_ms: no segment moved")?,
            registered_ms: peers.map(|p| p.start.registered_ms).max().unwrap_or(0),
            hashes_done_ms: report.peers.iter().find_map(|p| p.start.hashes_done_ms),
            wall_seconds: wall.as_secs_f64(),
            swarm_seconds: report.wall_seconds,
            cpu_seconds: cpu_seconds(report),
        })
    }
}

/// One run: the launch floor, then the small file's share and the large
/// one's.
#[derive(Clone, Debug, Serialize)]
pub struct StartSample {
    pub floor_seconds: f64,
    pub small: StartTimes,
    pub large: StartTimes,
}

/// Medians of one size's shares.
#[derive(Clone, Debug, Serialize)]
pub struct SizeMedians {
    pub first_segment_ms: f64,
    pub registered_ms: f64,
    pub hashes_done_ms: Option<f64>,
    pub wall_seconds: f64,
    pub swarm_seconds: f64,
    pub cpu_seconds: f64,
}

impl SizeMedians {
    fn of(times: &[&StartTimes]) -> Option<SizeMedians> {
        let of = |field: fn(&StartTimes) -> f64| median(times.iter().map(|t| field(t)));
        let hashes: Option<Vec<f64>> = (times.iter())
            .map(|t| t.hashes_done_ms.map(|ms| ms as f64))
            .collect();
        Some(SizeMedians {
            first_segment_ms: of(|t| t.first_segment_ms as f64)?,
            registered_ms: of(|t| t.registered_ms as f64)?,
            hashes_done_ms: hashes.and_then(median),
            wall_seconds: of(|t| t.wall_seconds)?,
            swarm_seconds: of(|t| t.swarm_seconds)?,
            cpu_seconds: of(|t| t.cpu_seconds)?,
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StartMedians {
    pub floor_seconds: f64,
    pub small: SizeMedians,
    pub large: SizeMedians,
    /// The large file's median first segment over the small one's.
    pub ratio: f64,
}

impl StartMedians {
    /// `None` if no run succeeded.
    pub fn of(runs: &[StartSample]) -> Option<StartMedians> {
        let small = SizeMedians::of(&runs.iter().map(|r| &r.small).collect::<Vec<_>>())?;
        let large = SizeMedians::of(&runs.iter().map(|r| &r.large).collect::<Vec<_>>())?;
        Some(StartMedians {
            floor_seconds: median(runs.iter().map(|r| r.floor_seconds))?,
            ratio: large.first_segment_ms / small.first_segment_ms.max(1.0),
            small,
            large,
        })
    }

    /// Whether the two bounds hold.
    fn met(&self) -> (bool, bool) {
        (
            self.ratio <= RATIO_TARGET,
            self.large.first_segment_ms < FIRST_SEGMENT_TARGET_MS,
        )
    }
}

/// One case of share-start and what its runs measured.
#[derive(Debug, Serialize)]
pub struct StartResult {
    #[serde(flatten)]
    pub id: CaseId,
    /// The small file's size and the large one's.
    pub sizes: [u64; 2],
    pub runs: Vec<StartSample>,
    pub failures: Vec<String>,
    pub median: Option<StartMedians>,
    pub ratio_target: f64,
    pub first_segment_target_ms: f64,
}

/// Every case of share-start, one per entry of `settings`, on a file of
/// `size` bytes and one of [`SCALE`] x `size`, written once for all.
pub fn run(runner: &Runner, size: u64, settings: &[Settings], done: &mut Done) -> Vec<StartResult> {
    let kind = ShareKind::Start;
    eprintln!("bench: {}: writing its input files", kind.name());
    let dirs = ShareDir::create(kind, size)
        .and_then(|small| Ok((small, ShareDir::create(kind, size * SCALE)?)));
    let new = |settings| StartResult {
        id: CaseId::new(kind, settings),
        sizes: [size, size * SCALE],
        runs: Vec::new(),
        failures: Vec::new(),
        median: None,
        ratio_target: RATIO_TARGET,
        first_segment_target_ms: FIRST_SEGMENT_TARGET_MS,
    };
    each_case(
        kind,
        settings,
        &dirs,
        done,
        new,
        |case, (small, large), settings, label| {
            let warm_up = unmeasured(label, "warm-up run", run_share(runner, small, settings));
            (case.runs, case.failures) = repeat(label, runner.plan().runs, || {
                let floor = runner.floor(small.path(), kind.ranks())?;
                let (wall, report) = run_share(runner, small, settings)?;
                let small = StartTimes::new(wall, &report)?;
                let (wall, report) = run_share(runner, large, settings)?;
                case.id.used(&report);
                Ok(StartSample {
                    floor_seconds: floor.as_secs_f64(),
                    small,
                    large: StartTimes::new(wall, &report)?,
                })
            });
            case.failures.extend(warm_up);
            case.median = StartMedians::of(&case.runs);
        },
    )
}

impl CaseResult for StartResult {
    fn failures(&mut self) -> &mut Vec<String> {
        &mut self.failures
    }

    fn progress(&self) -> (usize, Option<f64>) {
        let wall = self.median.as_ref().map(|m| m.large.wall_seconds);
        (self.runs.len(), wall)
    }
}

const COLUMNS: [Column; 15] = [
    ("scenario", false),
    ("np", true),
    ("strategy", false),
    ("window", true),
    ("writes", false),
    ("GiB file", true),
    ("first segment ms", true),
    ("vs small", true),
    ("registered ms", true),
    ("hashes done ms", true),
    ("wall s", true),
    ("swarm s", true),
    ("CPU s", true),
    ("floor s", true),
    ("runs ok", true),
];

/// The table of every share-start case: a row per file size.
pub fn render_cases(cases: &[StartResult]) -> String {
    let mut rows = Vec::new();
    for case in cases {
        for (index, size) in case.sizes.into_iter().enumerate() {
            let mut names = case.id.cells();
            names.push(gib(size));
            let medians = case.median.as_ref().map(|m| {
                let (times, ratio) = match index {
                    0 => (&m.small, 1.0),
                    _ => (&m.large, m.ratio),
                };
                vec![
                    format!("{:.0}", times.first_segment_ms),
                    format!("{ratio:.2}"),
                    format!("{:.0}", times.registered_ms),
                    optional(times.hashes_done_ms, 0),
                    format!("{:.3}", times.wall_seconds),
                    format!("{:.3}", times.swarm_seconds),
                    format!("{:.2}", times.cpu_seconds),
                    format!("{:.3}", m.floor_seconds),
                ]
            });
            let (ok, failed) = (case.runs.len(), case.failures.len());
            rows.push(case_row(&COLUMNS, names, medians, ok, failed));
        }
    }
    render(&COLUMNS, &rows)
}

/// One line per case: the first segment against the bounds.
pub fn targets(cases: &[StartResult]) -> Vec<String> {
    cases.iter().filter_map(target_line).collect()
}

fn target_line(case: &StartResult) -> Option<String> {
    let m = case.median.as_ref()?;
    let (ratio_ok, under_ok) = m.met();
    let [small, large] = case.sizes.map(gib);
    Some(format!(
        "{} (-np {}): first segment {:.0} ms for {small} GiB, {:.0} ms for {large} GiB (medians, \
         from the sending rank's start; launch floor {:.3} s): {large} / {small} GiB = {:.2} \
         ({}; target <= {}), {:.0} ms ({}; target < {} ms); whole share {:.2} s / {:.2} s wall, \
         {:.2} / {:.2} CPU s",
        case.id.verdict_name(),
        case.id.ranks,
        m.small.first_segment_ms,
        m.large.first_segment_ms,
        m.floor_seconds,
        m.ratio,
        verdict(ratio_ok),
        case.ratio_target,
        m.large.first_segment_ms,
        verdict(under_ok),
        case.first_segment_target_ms,
        m.small.wall_seconds,
        m.large.wall_seconds,
        m.small.cpu_seconds,
        m.large.cpu_seconds,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(first_segment_ms: u64, wall_seconds: f64) -> StartTimes {
        StartTimes {
            first_segment_ms,
            registered_ms: first_segment_ms / 2,
            hashes_done_ms: None,
            wall_seconds,
            swarm_seconds: wall_seconds / 2.0,
            cpu_seconds: wall_seconds * 2.0,
        }
    }

    fn sample(small: u64, large: u64) -> StartSample {
        StartSample {
            floor_seconds: 0.5,
            small: times(small, 3.0),
            large: times(large, 30.0),
        }
    }

    #[test]
    fn medians_ratio_and_verdicts() {
        assert!(StartMedians::of(&[]).is_none());
        let runs = [sample(400, 500), sample(300, 900), sample(500, 700)];
        let m = StartMedians::of(&runs).unwrap();
        assert_eq!(
            (m.small.first_segment_ms, m.large.first_segment_ms),
            (400.0, 700.0)
        );
        assert_eq!(m.ratio, 1.75);
        assert_eq!(m.met(), (false, true));
        assert_eq!(m.small.hashes_done_ms, None);
        let case = StartResult {
            id: CaseId::new(ShareKind::Start, Settings::default()),
            sizes: [1 << 30, 8 << 30],
            runs: runs.to_vec(),
            failures: Vec::new(),
            median: Some(m),
            ratio_target: RATIO_TARGET,
            first_segment_target_ms: FIRST_SEGMENT_TARGET_MS,
        };
        let line = &targets(std::slice::from_ref(&case))[0];
        assert!(
            line.contains(
                "8.00 / 1.00 GiB = 1.75 (NOT MET; target <= 1.5), 700 ms (OK; target < 1000 ms)"
            ),
            "{line}"
        );
        let table = render_cases(&[case]);
        assert_eq!(table.lines().count(), 3, "{table}");
        let large: Vec<&str> = table.lines().nth(2).unwrap().split_whitespace().collect();
        assert_eq!(large[6..9], ["8.00", "700", "1.75"], "{table}");
    }
}
