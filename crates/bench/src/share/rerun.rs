//! `share-rerun`: the one-to-all share (one file of `--share-size` from
//! rank 1 to the 7 other peers of `-np 9`) run again over complete
//! destinations (issue 15, cheap reruns).
//!
//! One share first, unmeasured, fills the destinations. Then every run is
//! the launch floor (`mpi-floor` at the same `-np`), a plain rerun and a
//! `--verify` rerun, every output checked byte for byte after each. A
//! plain rerun must take every copy as complete by size and time, reading
//! neither the copies nor the source (the report's `reruns`: every
//! receiver's file reused, no segment hashed at a destination or at the
//! seeder, no byte moved), and take under [`RERUN_TARGET_SECONDS`], the
//! whole `mpirun`, launch included. A `--verify` rerun must hash every
//! copy and the source and move nothing; its time has no target.

use super::case::share_job;
use super::case_id::{verdict, CaseId};
use super::data::{ShareDir, Tree};
use super::table::gib;
use super::{each_case, unmeasured, CaseResult, Done, ShareKind};
use crate::runner::{repeat, Runner, Settings};
use crate::sample::cpu_seconds;
use crate::stats::median;
use crate::table::{case_row, render, Column};
use mpitorrent_core::content::segment_count;
use mpitorrent_core::report::RunReport;
use mpitorrent_core::tree::RerunCounts;
use serde::Serialize;
use std::time::Duration;

/// The bound on a plain rerun's wall time, in seconds.
pub const RERUN_TARGET_SECONDS: f64 = 1.0;

/// mpitorrent's default `--segment-size` (the benchmark passes none).
const SEGMENT_SIZE: u64 = 1 << 20;

/// One rerun, plain or `--verify`.
#[derive(Clone, Debug, Serialize)]
pub struct RerunJob {
    /// The whole `mpirun`, launch included.
    pub wall_seconds: f64,
    /// From the tracker's ACK to its TERMINATE.
    pub swarm_seconds: f64,
    /// Of every rank's process, the tracker's included.
    pub cpu_seconds: f64,
    /// The report's `reruns`.
    pub counts: RerunCounts,
    pub bytes_downloaded: u64,
    /// The seeders' HASHES batches, and when the last was sent (ms from
    /// the seeder's start): what a rerun spent hashing the source while
    /// the swarm ran.
    pub seeder_hash_batches: u64,
    pub seeder_hashes_done_ms: Option<u64>,
}

impl RerunJob {
    fn new(wall: Duration, report: &RunReport) -> RerunJob {
        RerunJob {
            wall_seconds: wall.as_secs_f64(),
            swarm_seconds: report.wall_seconds,
            cpu_seconds: cpu_seconds(report),
            counts: report.reruns.unwrap_or_default(),
            bytes_downloaded: report.bytes_downloaded,
            seeder_hash_batches: report.peers.iter().map(|p| p.start.hash_batches).sum(),
            seeder_hashes_done_ms: report.peers.iter().find_map(|p| p.start.hashes_done_ms),
        }
    }

    /// Whether it reused, hashed and moved what `expected` says (and no
    /// byte).
    fn as_expected(&self, expected: &RerunCounts) -> bool {
        self.counts == *expected && self.bytes_downloaded == 0
    }
}

/// What a rerun over `receivers` complete copies of a file of `segments`
/// segments must count: all reused and nothing hashed, or with `--verify`
/// every copy and the source hashed and nothing reused.
pub fn expected_counts(receivers: u64, segments: u64, verify: bool) -> RerunCounts {
    match verify {
        false => RerunCounts {
            files_reused: receivers,
            segments_reused: receivers * segments,
            segments_hashed: 0,
            source_segments_hashed: 0,
        },
        true => RerunCounts {
            files_reused: 0,
            segments_reused: 0,
            segments_hashed: receivers * segments,
            source_segments_hashed: segments,
        },
    }
}

/// One run: the launch floor, the plain rerun, the `--verify` rerun.
#[derive(Clone, Debug, Serialize)]
pub struct RerunSample {
    pub floor_seconds: f64,
    pub plain: RerunJob,
    pub verify: RerunJob,
}

impl RerunSample {
    /// The `--verify` rerun if `verify`, else the plain one.
    fn job(&self, verify: bool) -> &RerunJob {
        if verify {
            &self.verify
        } else {
            &self.plain
        }
    }
}

/// Medians of one kind of rerun, and how many runs counted as expected.
#[derive(Clone, Debug, Serialize)]
pub struct JobMedians {
    pub wall_seconds: f64,
    pub swarm_seconds: f64,
    pub cpu_seconds: f64,
    pub runs_as_expected: usize,
}

impl JobMedians {
    fn of(jobs: &[&RerunJob], expected: &RerunCounts) -> Option<JobMedians> {
        let of = |field: fn(&RerunJob) -> f64| median(jobs.iter().map(|j| field(j)));
        Some(JobMedians {
            wall_seconds: of(|j| j.wall_seconds)?,
            swarm_seconds: of(|j| j.swarm_seconds)?,
            cpu_seconds: of(|j| j.cpu_seconds)?,
            runs_as_expected: jobs.iter().filter(|j| j.as_expected(expected)).count(),
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RerunMedians {
    pub floor_seconds: f64,
    pub plain: JobMedians,
    pub verify: JobMedians,
}

/// One case of share-rerun and what its runs measured.
#[derive(Debug, Serialize)]
pub struct RerunResult {
    #[serde(flatten)]
    pub id: CaseId,
    /// The file's size.
    pub size: u64,
    /// What each kind of rerun must count (and `bytes_downloaded` 0).
    pub expected_plain: RerunCounts,
    pub expected_verify: RerunCounts,
    pub runs: Vec<RerunSample>,
    pub failures: Vec<String>,
    pub median: Option<RerunMedians>,
    pub rerun_target_seconds: f64,
}

impl RerunResult {
    fn medians(&self) -> Option<RerunMedians> {
        let jobs =
            |verify: bool| -> Vec<&RerunJob> { self.runs.iter().map(|r| r.job(verify)).collect() };
        Some(RerunMedians {
            floor_seconds: median(self.runs.iter().map(|r| r.floor_seconds))?,
            plain: JobMedians::of(&jobs(false), &self.expected_plain)?,
            verify: JobMedians::of(&jobs(true), &self.expected_verify)?,
        })
    }
}

/// Every case of share-rerun, one per entry of `settings`, on one file of
/// `size` bytes written once for all.
pub fn run(runner: &Runner, size: u64, settings: &[Settings], done: &mut Done) -> Vec<RerunResult> {
    let kind = ShareKind::Rerun;
    eprintln!("bench: {}: writing its input files", kind.name());
    let dir = ShareDir::create(kind, size);
    let receivers = match &dir {
        Ok(dir) => dir.receivers(Tree::Share).len() as u64,
        Err(_) => 0,
    };
    let segments = segment_count(size, SEGMENT_SIZE);
    let new = |settings| RerunResult {
        id: CaseId::new(kind, settings),
        size,
        expected_plain: expected_counts(receivers, segments, false),
        expected_verify: expected_counts(receivers, segments, true),
        runs: Vec::new(),
        failures: Vec::new(),
        median: None,
        rerun_target_seconds: RERUN_TARGET_SECONDS,
    };
    each_case(
        kind,
        settings,
        &dir,
        done,
        new,
        |case, dir, settings, label| {
            // The first share, unmeasured, from clean destinations.
            let first = dir
                .clean()
                .and_then(|()| share_job(runner, dir, settings, &[]));
            let first = unmeasured(label, "the first share", first);
            (case.runs, case.failures) = repeat(label, runner.plan().runs, || {
                let floor = runner.floor(dir.path(), kind.ranks())?;
                let (wall, report) = share_job(runner, dir, settings, &[])?;
                let plain = RerunJob::new(wall, &report);
                let (wall, report) = share_job(runner, dir, settings, &["--verify"])?;
                case.id.used(&report);
                Ok(RerunSample {
                    floor_seconds: floor.as_secs_f64(),
                    plain,
                    verify: RerunJob::new(wall, &report),
                })
            });
            case.failures.extend(first);
            case.median = case.medians();
            dir.clean().ok();
        },
    )
}

impl CaseResult for RerunResult {
    fn failures(&mut self) -> &mut Vec<String> {
        &mut self.failures
    }

    fn progress(&self) -> (usize, Option<f64>) {
        let wall = self.median.as_ref().map(|m| m.plain.wall_seconds);
        (self.runs.len(), wall)
    }
}

const COLUMNS: [Column; 18] = [
    ("scenario", false),
    ("np", true),
    ("strategy", false),
    ("window", true),
    ("writes", false),
    ("GiB file", true),
    ("rerun", false),
    ("wall s", true),
    ("swarm s", true),
    ("CPU s", true),
    ("floor s", true),
    ("files reused", true),
    ("segs reused", true),
    ("segs hashed", true),
    ("source segs hashed", true),
    ("bytes moved", true),
    ("counts ok", true),
    ("runs ok", true),
];

/// The table of every share-rerun case: a row for the plain reruns and
/// one for the `--verify` ones, with the counts of the last run.
pub fn render_cases(cases: &[RerunResult]) -> String {
    let mut rows = Vec::new();
    for case in cases {
        for verify in [false, true] {
            let mut names = case.id.cells();
            names.push(gib(case.size));
            names.push(if verify { "--verify" } else { "plain" }.to_string());
            let last = case.runs.last().map(|r| r.job(verify));
            let medians = case.median.as_ref().zip(last).map(|(m, last)| {
                let job = if verify { &m.verify } else { &m.plain };
                let c = &last.counts;
                vec![
                    format!("{:.3}", job.wall_seconds),
                    format!("{:.3}", job.swarm_seconds),
                    format!("{:.2}", job.cpu_seconds),
                    format!("{:.3}", m.floor_seconds),
                    c.files_reused.to_string(),
                    c.segments_reused.to_string(),
                    c.segments_hashed.to_string(),
                    c.source_segments_hashed.to_string(),
                    last.bytes_downloaded.to_string(),
                    format!("{}/{}", job.runs_as_expected, case.runs.len()),
                ]
            });
            let (ok, failed) = (case.runs.len(), case.failures.len());
            rows.push(case_row(&COLUMNS, names, medians, ok, failed));
        }
    }
    render(&COLUMNS, &rows)
}

/// One line per case: the plain rerun's time and both reruns' counts
/// against what they must be.
pub fn targets(cases: &[RerunResult]) -> Vec<String> {
    cases.iter().filter_map(target_line).collect()
}

fn target_line(case: &RerunResult) -> Option<String> {
    let m = case.median.as_ref()?;
    let runs = case.runs.len();
    let counts = |job: &JobMedians, expected: &RerunCounts, verify: bool| {
        let seen = case.runs.iter().map(|r| r.job(verify));
        let wrong = seen.rev().find(|j| !j.as_expected(expected));
        let what = wrong.map_or_else(String::new, |j| {
            format!(
                ": got {}, {} bytes moved",
                show(&j.counts),
                j.bytes_downloaded
            )
        });
        format!(
            "counts as expected in {}/{runs} runs ({}; want {}, 0 bytes moved{what})",
            job.runs_as_expected,
            verdict(job.runs_as_expected == runs),
            show(expected)
        )
    };
    Some(format!(
        "{} (-np {}, {} GiB to {} ranks): rerun over complete destinations {:.3} s wall ({}; \
         target < {} s; launch floor {:.3} s), {:.2} CPU s, {}; --verify rerun {:.3} s wall (no \
         target), {:.2} CPU s, {}",
        case.id.verdict_name(),
        case.id.ranks,
        gib(case.size),
        case.expected_plain.files_reused,
        m.plain.wall_seconds,
        verdict(m.plain.wall_seconds < case.rerun_target_seconds),
        case.rerun_target_seconds,
        m.floor_seconds,
        m.plain.cpu_seconds,
        counts(&m.plain, &case.expected_plain, false),
        m.verify.wall_seconds,
        m.verify.cpu_seconds,
        counts(&m.verify, &case.expected_verify, true),
    ))
}

/// "files_reused F, segments_reused S, segments_hashed H,
/// source_segments_hashed X".
fn show(c: &RerunCounts) -> String {
    format!(
        "files_reused {}, segments_reused {}, segments_hashed {}, source_segments_hashed {}",
        c.files_reused, c.segments_reused, c.segments_hashed, c.source_segments_hashed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(wall: f64, counts: RerunCounts) -> RerunJob {
        RerunJob {
            wall_seconds: wall,
            swarm_seconds: wall / 4.0,
            cpu_seconds: wall * 2.0,
            counts,
            bytes_downloaded: 0,
            seeder_hash_batches: 0,
            seeder_hashes_done_ms: None,
        }
    }

    #[test]
    fn counts_and_times_against_the_targets() {
        let (plain, verify) = (
            expected_counts(7, 1024, false),
            expected_counts(7, 1024, true),
        );
        assert_eq!((plain.files_reused, plain.segments_reused), (7, 7168));
        assert_eq!(
            (verify.segments_hashed, verify.source_segments_hashed),
            (7168, 1024)
        );
        let hashed_source = RerunCounts {
            source_segments_hashed: 1024,
            ..plain
        };
        let mut case = RerunResult {
            id: CaseId::new(ShareKind::Rerun, Settings::default()),
            size: 1 << 30,
            expected_plain: plain,
            expected_verify: verify,
            runs: [(0.8, plain), (1.4, hashed_source), (0.9, plain)]
                .map(|(wall, counts)| RerunSample {
                    floor_seconds: 0.6,
                    plain: job(wall, counts),
                    verify: job(5.0, verify),
                })
                .to_vec(),
            failures: Vec::new(),
            median: None,
            rerun_target_seconds: RERUN_TARGET_SECONDS,
        };
        assert!(case.medians().is_some());
        case.runs[2].verify.bytes_downloaded = 4096;
        case.median = case.medians();
        let m = case.median.as_ref().unwrap();
        assert_eq!((m.plain.wall_seconds, m.plain.runs_as_expected), (0.9, 2));
        assert_eq!(m.verify.runs_as_expected, 2);
        let line = &targets(std::slice::from_ref(&case))[0];
        assert!(line.contains("0.900 s wall (OK; target < 1 s"), "{line}");
        assert!(
            line.contains("2/3 runs (NOT MET; want files_reused 7, segments_reused 7168"),
            "{line}"
        );
        assert!(line.contains("got files_reused 7, segments_reused 7168, segments_hashed 0, source_segments_hashed 1024"), "{line}");
        assert!(line.contains("4096 bytes moved"), "{line}");
        let table = render_cases(&[case]);
        assert_eq!(table.lines().count(), 3, "{table}");
    }
}
