//! Running a real-data case (a scenario with one strategy, window and write
//! mode): each run is `mpitorrent share`, `mpi-bcast` moving the same bytes
//! (the baseline, through the page cache) and `mpi-bcast --direct`
//! (the baseline of `share --direct`), all timed as whole `mpirun`s from a
//! clean destination and flushed disk, and every tree checked byte for byte
//! afterwards. A wrong output of any fails the run: a wrong baseline is a
//! bug too.

use super::case_id::CaseId;
use super::data::{ShareDir, Tree};
use super::small::{run_cp, run_tar_bcast};
use super::{disk, each_case, unmeasured, CaseResult, Done, ShareKind, PEAK_TARGET_MIB};
use crate::bcast_report::BcastReport;
use crate::runner::{problem_list, read_report, repeat, Runner, Settings};
use crate::sample::{cpu_seconds, peak_mib};
use crate::stats::median;
use anyhow::{bail, Context, Result};
use mpitorrent_core::report::RunReport;
use serde::Serialize;
use std::ffi::OsString;
use std::time::Duration;

const MIB: f64 = (1u64 << 20) as f64;

/// One run: mpitorrent's job and the baseline's right after it.
#[derive(Clone, Debug, Serialize)]
pub struct ShareSample {
    /// The whole `mpirun` of `mpitorrent share`, launch included.
    pub wall_seconds: f64,
    /// The whole `mpirun` of `mpi-bcast` moving the same files.
    pub bcast_seconds: f64,
    /// The same with `mpi-bcast --direct`.
    pub bcast_direct_seconds: f64,
    /// From the tracker's ACK to its TERMINATE (the report's own wall).
    pub swarm_seconds: f64,
    /// Bytes mpitorrent moved (its report's `bytes_downloaded`).
    pub bytes: u64,
    /// Bytes `mpi-bcast` wrote over all ranks.
    pub bcast_bytes: u64,
    /// Segments mpitorrent received with the wrong bytes and fetched again.
    pub verification_failures: u64,
    /// CPU time of every rank's process, the tracker's included.
    pub cpu_seconds: f64,
    /// The largest peak resident memory of any rank of mpitorrent.
    pub peak_mib: f64,
    /// The same for `mpi-bcast`.
    pub bcast_peak_mib: f64,
    /// share-small-files only: `cp -r` to every receiver's folder, side by
    /// side, and the CPU of every process of it and of the bcast baseline
    /// (which there is `tar c | mpi-bcast | tar x`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cp_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cp_cpu_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bcast_cpu_seconds: Option<f64>,
}

impl ShareSample {
    /// From the walls of mpitorrent, the baseline and the direct
    /// baseline, and their reports (no `cp` baseline).
    fn new(walls: [Duration; 3], report: &RunReport, bcast_report: &BcastReport) -> Self {
        let [wall, bcast, bcast_direct] = walls.map(|w| w.as_secs_f64());
        ShareSample {
            wall_seconds: wall,
            bcast_seconds: bcast,
            bcast_direct_seconds: bcast_direct,
            swarm_seconds: report.wall_seconds,
            bytes: report.bytes_downloaded,
            bcast_bytes: bcast_report.total_bytes(),
            verification_failures: report.verification_failures,
            cpu_seconds: cpu_seconds(report),
            peak_mib: peak_mib(report),
            bcast_peak_mib: bcast_report.peak_mib(),
            cp_seconds: None,
            cp_cpu_seconds: None,
            bcast_cpu_seconds: None,
        }
    }
}

/// Medians over a case's successful runs, and the worst of the targets.
#[derive(Clone, Debug, Serialize)]
pub struct ShareMedians {
    pub wall_seconds: f64,
    pub bcast_seconds: f64,
    pub bcast_direct_seconds: f64,
    /// Median wall over median `mpi-bcast` wall (the target).
    pub ratio: f64,
    /// Median wall over median `mpi-bcast --direct` wall.
    pub direct_ratio: f64,
    /// Median bytes moved over median wall.
    pub mib_per_second: f64,
    pub bcast_mib_per_second: f64,
    pub swarm_seconds: f64,
    pub cpu_seconds: f64,
    /// The largest of any rank in any run (not a median: it is a bound).
    pub peak_mib: f64,
    pub bcast_peak_mib: f64,
    /// Summed over the runs.
    pub verification_failures: u64,
    /// share-small-files only: the `cp -r` baseline, median wall over it,
    /// and the baselines' CPU.
    pub cp_seconds: Option<f64>,
    pub cp_ratio: Option<f64>,
    pub cp_cpu_seconds: Option<f64>,
    pub bcast_cpu_seconds: Option<f64>,
}

impl ShareMedians {
    /// `None` if no run succeeded.
    pub fn of(runs: &[ShareSample]) -> Option<ShareMedians> {
        let of = |field: fn(&ShareSample) -> f64| median(runs.iter().map(field));
        let max = |field: fn(&ShareSample) -> f64| runs.iter().map(field).fold(0.0, f64::max);
        let wall_seconds = of(|r| r.wall_seconds)?;
        let bcast_seconds = of(|r| r.bcast_seconds)?;
        let bcast_direct_seconds = of(|r| r.bcast_direct_seconds)?;
        let optional = |field: fn(&ShareSample) -> Option<f64>| {
            let values: Option<Vec<f64>> = runs.iter().map(field).collect();
            median(values?)
        };
        let cp_seconds = optional(|r| r.cp_seconds);
        Some(ShareMedians {
            cp_seconds,
            cp_ratio: cp_seconds.map(|cp| wall_seconds / cp),
            cp_cpu_seconds: optional(|r| r.cp_cpu_seconds),
            bcast_cpu_seconds: optional(|r| r.bcast_cpu_seconds),
            wall_seconds,
            bcast_seconds,
            bcast_direct_seconds,
            ratio: wall_seconds / bcast_seconds,
            direct_ratio: wall_seconds / bcast_direct_seconds,
            mib_per_second: of(|r| r.bytes as f64)? / MIB / wall_seconds,
            bcast_mib_per_second: of(|r| r.bcast_bytes as f64)? / MIB / bcast_seconds,
            swarm_seconds: of(|r| r.swarm_seconds)?,
            cpu_seconds: of(|r| r.cpu_seconds)?,
            peak_mib: max(|r| r.peak_mib),
            bcast_peak_mib: max(|r| r.bcast_peak_mib),
            verification_failures: runs.iter().map(|r| r.verification_failures).sum(),
        })
    }
}

/// One real-data case and what its runs measured.
#[derive(Debug, Serialize)]
pub struct ShareCaseResult {
    #[serde(flatten)]
    pub id: CaseId,
    /// `--share-size`: the one file of one-to-all, the shards together of
    /// all-gather (0 for small-files, whose tree is fixed).
    pub size: u64,
    /// Bytes a correct run writes over all ranks.
    pub bytes: u64,
    pub runs: Vec<ShareSample>,
    /// One line per failed run: a job failed, timed out or wrote a wrong output.
    pub failures: Vec<String>,
    /// `null` if no run succeeded.
    pub median: Option<ShareMedians>,
    /// The bounds: on `median.ratio` (`null`: none for this
    /// scenario and size) and on `median.peak_mib`.
    pub ratio_target: Option<f64>,
    pub peak_target_mib: f64,
}

impl CaseResult for ShareCaseResult {
    fn failures(&mut self) -> &mut Vec<String> {
        &mut self.failures
    }

    fn progress(&self) -> (usize, Option<f64>) {
        let wall = self.median.as_ref().map(|m| m.wall_seconds);
        (self.runs.len(), wall)
    }
}

impl ShareCaseResult {
    fn new(kind: ShareKind, settings: Settings, size: u64) -> ShareCaseResult {
        ShareCaseResult {
            id: CaseId::new(kind, settings),
            size: if kind == ShareKind::SmallFiles {
                0
            } else {
                size
            },
            bytes: 0,
            runs: Vec::new(),
            failures: Vec::new(),
            median: None,
            ratio_target: kind.ratio_target(size),
            peak_target_mib: PEAK_TARGET_MIB,
        }
    }
}

/// Every case of `kind`, one per entry of `settings`, on inputs of `size`
/// bytes written once for all of them; `done` sees each case as it ends.
pub fn run_kind(
    runner: &Runner,
    kind: ShareKind,
    size: u64,
    settings: &[Settings],
    done: &mut Done,
) -> Vec<ShareCaseResult> {
    eprintln!("bench: {}: writing its input files", kind.name());
    let dir = ShareDir::create(kind, size).and_then(|dir| Ok((dir.bytes()?, dir)));
    let new = |settings| ShareCaseResult::new(kind, settings, size);
    each_case(
        kind,
        settings,
        &dir,
        done,
        new,
        |case, (bytes, dir), settings, label| {
            case.bytes = *bytes;
            // One run first, measured by no one: on this kind of VM the first
            // job to write gigabytes after a pause (the inputs being written,
            // the previous case's checks) pays for fresh memory that the next
            // ones do not, and that made the first of 3 runs up to twice as
            // slow as the others, for mpitorrent and the baselines alike.
            let warm_up = unmeasured(label, "warm-up run", once(runner, dir, settings, false));
            let mut run = 0;
            (case.runs, case.failures) = repeat(label, runner.plan().runs, || {
                run += 1;
                let (sample, report) = once(runner, dir, settings, run % 2 == 0)?;
                case.id.used(&report);
                Ok(sample)
            });
            case.failures.extend(warm_up);
            case.median = ShareMedians::of(&case.runs);
        },
    )
}

/// One run of mpitorrent and one of each baseline, each checked: the
/// sample, and mpitorrent's report.
///
/// Runs alternate which of mpitorrent and the page-cache baseline goes
/// first (`bcast_first`): on a virtual machine the first job to write
/// gigabytes into freshly freed memory pays more for its pages than the one
/// after it, and always letting one side go first made the ratio swing by
/// 50% between runs. The direct baseline, which fills no page cache, goes
/// last.
fn once(
    runner: &Runner,
    dir: &ShareDir,
    settings: Settings,
    bcast_first: bool,
) -> Result<(ShareSample, RunReport)> {
    if dir.kind() == ShareKind::SmallFiles {
        return once_small(runner, dir, settings);
    }
    let ((wall, report), (bcast, bcast_report)) = if bcast_first {
        let bcast = run_bcast(runner, dir, false)?;
        (run_share(runner, dir, settings)?, bcast)
    } else {
        let share = run_share(runner, dir, settings)?;
        (share, run_bcast(runner, dir, false)?)
    };
    let (bcast_direct, _) = run_bcast(runner, dir, true)?;
    let sample = ShareSample::new([wall, bcast, bcast_direct], &report, &bcast_report);
    Ok((sample, report))
}

/// [`once`] for share-small-files: mpitorrent, `cp -r` and
/// `tar c | mpi-bcast | tar x` (then with `mpi-bcast --direct`), in that
/// order: a tree of 3 MB leaves no page cache to fill for the next.
fn once_small(
    runner: &Runner,
    dir: &ShareDir,
    settings: Settings,
) -> Result<(ShareSample, RunReport)> {
    let (wall, report) = run_share(runner, dir, settings)?;
    let cp = run_cp(dir)?;
    let (bcast, bcast_report) = run_tar_bcast(runner, dir, false)?;
    let (bcast_direct, _) = run_tar_bcast(runner, dir, true)?;
    let sample = ShareSample {
        cp_seconds: Some(cp.wall.as_secs_f64()),
        cp_cpu_seconds: Some(cp.cpu_seconds),
        bcast_cpu_seconds: Some(bcast.cpu_seconds),
        ..ShareSample::new(
            [wall, bcast.wall, bcast_direct.wall],
            &report,
            &bcast_report,
        )
    };
    Ok((sample, report))
}

/// `mpitorrent share` from a clean destination, its outputs checked and
/// removed: its wall time and its report.
pub(super) fn run_share(
    runner: &Runner,
    dir: &ShareDir,
    settings: Settings,
) -> Result<(Duration, RunReport)> {
    dir.clean()?;
    let measured = share_job(runner, dir, settings, &[])?;
    dir.clean()?;
    Ok(measured)
}

/// `mpitorrent share` with `extra` options over the destinations as they
/// are, after a synced disk, every output checked and left in place: its
/// wall time and its report.
pub(super) fn share_job(
    runner: &Runner,
    dir: &ShareDir,
    settings: Settings,
    extra: &[&str],
) -> Result<(Duration, RunReport)> {
    let plan = runner.plan();
    let report_path = dir.share_report();
    if report_path.exists() {
        std::fs::remove_file(&report_path)?;
    }
    disk::sync()?;
    let mut args = dir.share_args();
    args.extend(extra.iter().map(OsString::from));
    args.extend(settings.args(&report_path));
    let wall = runner
        .job(&plan.binary, dir.kind().ranks(), args, dir.path())
        .run()
        .context("mpitorrent share")?;
    let problems = dir.check(Tree::Share)?;
    if !problems.is_empty() {
        bail!(
            "WRONG OUTPUT of mpitorrent share in {}",
            problem_list(&problems)
        );
    }
    Ok((wall, read_report(&report_path)?))
}

/// One `mpirun` of `mpi-bcast` (with `--direct` if `direct`) for `dir`'s
/// scenario: its wall time.
pub(super) fn mpi_bcast(runner: &Runner, dir: &ShareDir, direct: bool) -> Result<Duration> {
    let plan = runner.plan();
    let np = dir.kind().ranks();
    runner
        .job(&plan.bcast, np, dir.bcast_args(direct), dir.path())
        .run()
        .context("mpi-bcast")
}

/// `mpi-bcast` (with `--direct` if `direct`) the same way: its wall time
/// and its report.
fn run_bcast(runner: &Runner, dir: &ShareDir, direct: bool) -> Result<(Duration, BcastReport)> {
    dir.clean()?;
    disk::sync()?;
    let bcast = mpi_bcast(runner, dir, direct)?;
    let problems = dir.check(Tree::Bcast)?;
    if !problems.is_empty() {
        bail!("WRONG OUTPUT of mpi-bcast in {}", problem_list(&problems));
    }
    let report = BcastReport::read(&dir.bcast_report())?;
    dir.clean()?;
    Ok((bcast, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(wall: f64, bcast: f64, peak: f64) -> ShareSample {
        ShareSample {
            wall_seconds: wall,
            bcast_seconds: bcast,
            bcast_direct_seconds: bcast / 2.0,
            swarm_seconds: wall - 1.0,
            bytes: 1 << 30,
            bcast_bytes: 1 << 30,
            verification_failures: 1,
            cpu_seconds: 2.0,
            peak_mib: peak,
            bcast_peak_mib: peak / 2.0,
            cp_seconds: None,
            cp_cpu_seconds: None,
            bcast_cpu_seconds: None,
        }
    }

    #[test]
    fn medians_ratio_rate_and_worst_peak() {
        assert!(ShareMedians::of(&[]).is_none());
        let runs = [
            sample(4.0, 2.0, 30.0),
            sample(8.0, 4.0, 50.0),
            sample(2.0, 1.0, 40.0),
        ];
        let m = ShareMedians::of(&runs).unwrap();
        assert_eq!((m.wall_seconds, m.bcast_seconds, m.ratio), (4.0, 2.0, 2.0));
        assert_eq!((m.bcast_direct_seconds, m.direct_ratio), (1.0, 4.0));
        assert_eq!(m.mib_per_second, 256.0);
        assert_eq!(m.bcast_mib_per_second, 512.0);
        assert_eq!((m.peak_mib, m.bcast_peak_mib), (50.0, 25.0));
        assert_eq!(m.verification_failures, 3);
    }
}
