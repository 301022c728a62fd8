//! Running a swarm: under MPI (`run`, or no command) or in this process
//! (`local`), with rank 0 showing its progress, then reporting how it went:
//! one error line from the rank that should say it, or the end-of-run
//! summary, the `--report` file and the `--timeline` picture.
//!
//! The report and the timeline are created (as temporaries beside their
//! paths, see [`mpitorrent_fs::temp`]) before the swarm starts, so that a
//! folder that is missing or cannot be written fails the job at once, not
//! after it has run; they get their contents and final names at the end.

use crate::cli::{ClassicArgs, ShareArgs, SwarmArgs};
use crate::progress::ProgressDisplay;
use crate::settings::Seeders;
use crate::timeline;
use anyhow::{Context, Result};
use mpitorrent_core::report::{RunReport, RunSettings};
use mpitorrent_core::strategy::Strategy;
use mpitorrent_fs::TempFile;
use mpitorrent_net::fault::{FaultPlan, FAULT_ENV};
use mpitorrent_net::job::{run_local_job, JobConfig, JobError, RankOutcome};
use mpitorrent_net::peer::PeerOptions;
use mpitorrent_net::resources::process_resources;
use mpitorrent_net::share::content::WriteOptions;
use mpitorrent_net::share::job::ShareSpec;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Exit status for a command line that cannot work (as clap uses).
pub const USAGE: u8 = 2;

/// What a job moves: classic hash listings, or real files.
pub enum Workload {
    Classic(ClassicArgs),
    Share(ShareSpec),
}

impl Workload {
    /// Why this workload cannot run in a job of `ranks` ranks, if it
    /// cannot (every rank checks, before any message is sent).
    fn problem(&self, ranks: u32) -> Option<String> {
        match self {
            Workload::Share(ShareSpec {
                seeders: Some(seeders),
                ..
            }) => crate::settings::seeders_problem(seeders, ranks),
            _ => None,
        }
    }

    /// The real files `share` asks for.
    pub fn share(args: &ShareArgs) -> Workload {
        Workload::Share(ShareSpec {
            from: args.from.clone(),
            to: args.to.clone(),
            seeders: args.seeders.as_ref().and_then(Seeders::ranks),
            segment_size: args.segment_size,
            write: WriteOptions {
                fsync: args.fsync,
                direct: args.direct,
            },
            links: args.links,
            verify: args.verify,
            check_space: !args.no_space_check,
            manifest: args.manifest.clone(),
            // Only strategies that ask the holder the tracker names find a
            // segment's one reader; the others ask owners in turn.
            stripes: matches!(
                args.swarm.strategy(),
                Strategy::Tree | Strategy::Relay | Strategy::Paced
            ),
        })
    }
}

fn job_config(args: &SwarmArgs, workload: &Workload, own_process: bool) -> Result<JobConfig> {
    // Tests inject faults through the environment, so that the binary they
    // run is exactly the one users run.
    let fault = match std::env::var(FAULT_ENV) {
        Ok(plan) => Some(plan.parse::<FaultPlan>().map_err(anyhow::Error::msg)?),
        Err(_) => None,
    };
    let (classic, share) = match workload {
        Workload::Classic(folders) => (folders.clone(), None),
        Workload::Share(spec) => (ClassicArgs::default(), Some(spec.clone())),
    };
    Ok(JobConfig {
        input_dir: classic.input_dir,
        output_dir: classic.output_dir,
        peer: PeerOptions {
            window: args.window(),
            strategy: args.strategy(),
            seed: args.seed,
            own_process,
            fault,
            started: Some(mpitorrent_net::resources::process_start()),
            ..PeerOptions::default()
        },
        stall_timeout: (args.stall_timeout > 0).then(|| Duration::from_secs(args.stall_timeout)),
        swarm_sample: args.swarm_sample.map(|s| s as usize),
        share,
        refuse: None,
    })
}

/// The temporary for a file the user asked for with `option` at `path`,
/// written by rank 0; an error names the option and the path.
pub fn file_beside(option: &str, path: &Path) -> Result<TempFile> {
    TempFile::beside(path, 0).with_context(|| format!("{option} {}", path.display()))
}

/// Writes `bytes` into `temp` and renames it into place; then removes what
/// a killed earlier run left for the same file (only rank 0's temporaries
/// of that name that no live process holds: see [`mpitorrent_fs::stale`]),
/// now that it is whole.
pub fn save_file(temp: &TempFile, bytes: &[u8]) -> Result<()> {
    temp.write_and_commit(bytes)?;
    if let Err(e) = mpitorrent_fs::stale::remove_stale_beside(temp) {
        tracing::warn!("cannot remove what an earlier run left: {e}");
    }
    Ok(())
}

/// Rank 0's `--report` and `--timeline` files, created before the swarm
/// runs and written after it (dropped unwritten, they leave nothing).
#[derive(Default)]
struct RunFiles {
    report: Option<TempFile>,
    timeline: Option<TempFile>,
}

impl RunFiles {
    fn create(args: &SwarmArgs) -> Result<RunFiles> {
        let create = |option, path: &Option<std::path::PathBuf>| {
            path.as_deref().map(|p| file_beside(option, p)).transpose()
        };
        Ok(RunFiles {
            report: create("--report", &args.report)?,
            timeline: create("--timeline", &args.timeline)?,
        })
    }

    /// Writes the report as JSON and draws the timeline.
    fn save(self, report: &RunReport) -> Result<()> {
        if let Some(temp) = self.report {
            let json = serde_json::to_string_pretty(report).expect("a report serializes");
            save_file(&temp, (json + "\n").as_bytes())?;
        }
        if let Some(temp) = self.timeline {
            timeline::write_into(temp, report)?;
        }
        Ok(())
    }
}

/// Rank 0's progress display for these options.
fn progress_display(args: &SwarmArgs) -> ProgressDisplay {
    ProgressDisplay::new(args.quiet, Duration::from_secs_f64(args.progress_interval))
}

/// Prints a rank's failure if this rank is the one that should, or, on
/// the tracker, the summary, and saves the report and the timeline into
/// `files`; gives the exit status.
fn finish(
    outcome: Result<RankOutcome, JobError>,
    args: &SwarmArgs,
    transport: &str,
    files: RunFiles,
) -> ExitCode {
    match outcome {
        Ok(RankOutcome::Tracker(data, reruns)) => {
            let settings = RunSettings {
                transport: transport.into(),
                strategy: args.strategy().to_string(),
                window: args.window(),
                per_rank_resources: transport == "mpi",
            };
            let mut report = RunReport::build(&data, settings, process_resources());
            report.reruns = reruns;
            if !args.quiet {
                eprint!("{}", report.summary());
            }
            match files.save(&report) {
                Err(err) => {
                    eprintln!("mpitorrent: error: {err:#}");
                    ExitCode::FAILURE
                }
                Ok(()) => ExitCode::SUCCESS,
            }
        }
        Ok(RankOutcome::Peer(_)) => ExitCode::SUCCESS,
        Err(err @ JobError::Aborted { reporter, .. }) => {
            if reporter {
                eprintln!("mpitorrent: error: {err}");
            }
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("mpitorrent: error: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "mpi")]
pub fn run_mpi(swarm: &SwarmArgs, workload: &Workload) -> Result<ExitCode> {
    use mpitorrent_net::mpi::{
        abort, finalize_within, initialize, MpiFabric, ABORT_GRACE, FINALIZE_GRACE,
    };
    use mpitorrent_net::share::early::EarlyScan;
    use mpitorrent_net::{Endpoint, Fabric};

    let mut job = job_config(swarm, workload, true)?;
    // A seeder's scan runs while MPI starts (see `share::early`).
    let early = job.share.as_ref().and_then(|spec| {
        let (rank, size) = crate::launcher::placement()?;
        EarlyScan::start(spec, rank, size)
    });
    let universe = initialize().context("starting MPI")?;
    let fabric = MpiFabric::new();
    let size = fabric.endpoint().size();
    if size < 2 {
        drop(universe);
        eprintln!(
            "mpitorrent: needs at least 2 MPI ranks (a tracker and a peer), got {size}.\n\
             Launch it with mpirun, e.g. `mpirun -np 4 mpitorrent` in a folder with \
             in1.txt..in3.txt,\nor run a whole swarm in one process with \
             `mpitorrent local --ranks 4`."
        );
        return Ok(ExitCode::from(USAGE));
    }
    if let Some(problem) = workload.problem(size) {
        // Every rank finds the same problem: rank 0 says it and gives the
        // status (as for a command-line error, see `launcher::exit_with`).
        let code = if fabric.endpoint().rank().is_tracker() {
            eprintln!("mpitorrent: error: {problem}");
            ExitCode::from(USAGE)
        } else {
            ExitCode::SUCCESS
        };
        drop(universe);
        return Ok(code);
    }
    // Only rank 0 sees the progress and writes the run's files; every
    // other rank stays quiet. A file that cannot be written aborts the job
    // through the tracker, before any transfer, with one message.
    let tracker = fabric.endpoint().rank().is_tracker();
    let files = match tracker.then(|| RunFiles::create(swarm)).transpose() {
        Ok(files) => files.unwrap_or_default(),
        Err(err) => {
            job.refuse = Some(format!("{err:#}"));
            RunFiles::default()
        }
    };
    let mut display = if tracker {
        progress_display(swarm)
    } else {
        ProgressDisplay::hidden()
    };
    let outcome = mpitorrent_net::job::run_rank(&fabric, &job, early, &mut |p, ranks| {
        display.observe(p, ranks)
    });
    display.finish();
    if let Err(err @ JobError::Transport { .. }) = &outcome {
        // The transport itself failed: the protocol cannot tell the other
        // ranks, so end the whole job rather than leave them waiting.
        eprintln!("mpitorrent: error: {err}");
        abort(1);
    }
    let aborted = matches!(outcome, Err(JobError::Aborted { .. }));
    let mut code = finish(outcome, swarm, "mpi", files);
    let rank = fabric.endpoint().rank();
    // After an abort the others arrive within the grace (a rank stuck
    // handing a segment to a stopped one is unstuck by the drain); at the
    // end of a good run they are all about to arrive.
    let met = drain_mpi(rank, if aborted { ABORT_GRACE } else { END_GRACE });
    if !aborted {
        let fine = match met {
            Ok(left) => unreceived_is_fine(&left),
            Err(problem) => {
                eprintln!("mpitorrent: warning: rank {rank}: {problem}");
                false
            }
        };
        if !fine {
            code = ExitCode::FAILURE;
        }
    }
    if aborted {
        // MPI_Finalize waits for every rank, and one may be dead or stuck.
        finalize_within(universe, ABORT_GRACE, 1, None);
    } else {
        // The run is over on every rank; an MPI that hangs in its own
        // teardown must not hang the job.
        let status = if code == ExitCode::SUCCESS { 0 } else { 1 };
        let warning = format!(
            "mpitorrent: warning: rank {rank}: MPI_Finalize did not return within {} s of the \
             end of the run (every rank had finished; the MPI library hangs in its teardown); \
             exiting with status {status} without it",
            FINALIZE_GRACE.as_secs()
        );
        finalize_within(universe, FINALIZE_GRACE, status, Some(warning));
    }
    Ok(code)
}

/// The environment variable that makes a message left unreceived at the
/// end of a run an error (the tests set it) rather than a warning.
pub const STRICT_SHUTDOWN_ENV: &str = "MPITORRENT_STRICT_SHUTDOWN";

/// Prints each message that was sent and never received in a run that did
/// not abort (a protocol bug: the MPI standard requires every message to be
/// received before `MPI_Finalize`); false if there was one and
/// [`STRICT_SHUTDOWN_ENV`] is set to 1.
fn unreceived_is_fine(left: &[String]) -> bool {
    let strict = std::env::var(STRICT_SHUTDOWN_ENV).is_ok_and(|v| v == "1");
    let what = if strict { "error" } else { "warning" };
    for message in left {
        eprintln!("mpitorrent: {what}: a message was never received: {message}");
    }
    left.is_empty() || !strict
}

/// How long a rank waits at the end of a good run for the others to reach
/// the end too (see [`mpitorrent_net::mpi::drain`]): they finished the
/// protocol together, so only a rank that died or hangs takes this long.
#[cfg(feature = "mpi")]
const END_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Meets every other rank before `MPI_Finalize` (see
/// [`mpitorrent_net::mpi::drain`]) and returns the messages sent to this
/// rank that nobody received, each prefixed with the rank; `Err` says
/// that the others did not all arrive within `grace` or that the check
/// itself failed.
#[cfg(feature = "mpi")]
fn drain_mpi(
    rank: mpitorrent_core::Rank,
    grace: std::time::Duration,
) -> Result<Vec<String>, String> {
    use mpitorrent_net::mpi::{drain, SHUTDOWN_SETTLE};
    let problem = match drain(grace, SHUTDOWN_SETTLE) {
        Ok(drained) if drained.all_met => {
            let prefixed = drained.unreceived.iter();
            return Ok(prefixed.map(|m| format!("rank {rank}: {m}")).collect());
        }
        Ok(_) => format!(
            "not every rank reached the end within {} s",
            grace.as_secs()
        ),
        Err(err) => format!("the check that every message was received failed: {err}"),
    };
    Err(problem)
}

#[cfg(not(feature = "mpi"))]
pub fn run_mpi(_swarm: &SwarmArgs, _workload: &Workload) -> Result<ExitCode> {
    eprintln!(
        "mpitorrent: this build has no MPI support (built without the `mpi` feature);\n\
         run a whole swarm in one process with `mpitorrent local --ranks N`."
    );
    Ok(ExitCode::from(USAGE))
}

pub fn run_local(ranks: u32, swarm: &SwarmArgs, workload: &Workload) -> Result<ExitCode> {
    if let Some(problem) = workload.problem(ranks) {
        eprintln!("mpitorrent: error: {problem}");
        return Ok(ExitCode::from(USAGE));
    }
    let job = job_config(swarm, workload, false)?;
    // Before any rank starts: a file that cannot be written is the one error.
    let mut files = Some(RunFiles::create(swarm)?);
    let mut display = progress_display(swarm);
    let ended = run_local_job(ranks, &job, &mut |p, ranks| display.observe(p, ranks));
    display.finish();
    let mut code = ExitCode::SUCCESS;
    let mut aborted = false;
    for outcome in ended.outcomes {
        aborted |= matches!(outcome, Err(JobError::Aborted { .. }));
        // Rank 0's outcome comes first: it saves the files.
        let files = files.take().unwrap_or_default();
        if finish(outcome, swarm, "local", files) != ExitCode::SUCCESS {
            code = ExitCode::FAILURE;
        }
    }
    if !aborted && !unreceived_is_fine(&ended.unreceived) {
        code = ExitCode::FAILURE;
    }
    Ok(code)
}
