//! Running a swarm: under MPI (`run`, or no command) or in this process
//! (`local`), with rank 0 showing its progress, then reporting how it went:
//! one error line from the rank that should say it, or the end-of-run
//! summary, the `--report` file and the `--timeline` picture.

use crate::cli::{ClassicArgs, ShareArgs, SwarmArgs};
use crate::progress::ProgressDisplay;
use crate::timeline;
use anyhow::{Context, Result};
use mpitorrent_core::report::{RunReport, RunSettings};
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
            seeders: args.seeders.clone(),
            segment_size: args.segment_size,
            write: WriteOptions {
                fsync: args.fsync,
                direct: args.direct,
            },
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
            window: args.window,
            strategy: args.strategy,
            seed: args.seed,
            own_process,
            fault,
            ..PeerOptions::default()
        },
        stall_timeout: (args.stall_timeout > 0).then(|| Duration::from_secs(args.stall_timeout)),
        swarm_sample: args.swarm_sample.map(|s| s as usize),
        share,
    })
}

/// Rank 0's progress display for these options.
fn progress_display(args: &SwarmArgs) -> ProgressDisplay {
    ProgressDisplay::new(args.quiet, Duration::from_secs_f64(args.progress_interval))
}

/// Prints a rank's failure if this rank is the one that should, or, on
/// the tracker, the summary, the report and the timeline; gives the exit
/// status.
fn finish(outcome: Result<RankOutcome, JobError>, args: &SwarmArgs, transport: &str) -> ExitCode {
    match outcome {
        Ok(RankOutcome::Tracker(data)) => {
            let settings = RunSettings {
                transport: transport.into(),
                strategy: args.strategy.to_string(),
                window: args.window,
                per_rank_resources: transport == "mpi",
            };
            let report = RunReport::build(&data, settings, process_resources());
            if !args.quiet {
                eprint!("{}", report.summary());
            }
            match save(&report, args) {
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

/// Writes the files the options ask for: the report, the timeline.
fn save(report: &RunReport, args: &SwarmArgs) -> Result<()> {
    if let Some(path) = &args.report {
        write_report(path, report)?;
    }
    if let Some(path) = &args.timeline {
        timeline::write(path, report)?;
    }
    Ok(())
}

/// Writes the report as JSON under a temporary name, then renames it.
fn write_report(path: &Path, report: &RunReport) -> Result<()> {
    let json = serde_json::to_string_pretty(report).expect("a report serializes");
    let temp = path.with_extension("json.part");
    std::fs::write(&temp, json + "\n")
        .and_then(|()| std::fs::rename(&temp, path))
        .with_context(|| format!("cannot write the report to {}", path.display()))
}

#[cfg(feature = "mpi")]
pub fn run_mpi(swarm: &SwarmArgs, workload: &Workload) -> Result<ExitCode> {
    use mpitorrent_net::mpi::{abort, finalize_within, initialize, MpiFabric, ABORT_GRACE};
    use mpitorrent_net::{Endpoint, Fabric};

    let job = job_config(swarm, workload, true)?;
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
    // Only rank 0 sees the progress; every other rank stays quiet.
    let mut display = if fabric.endpoint().rank().is_tracker() {
        progress_display(swarm)
    } else {
        ProgressDisplay::hidden()
    };
    let outcome = mpitorrent_net::job::run_rank(&fabric, &job, &mut |p| display.observe(p));
    display.finish();
    if let Err(err @ JobError::Transport { .. }) = &outcome {
        // The transport itself failed: the protocol cannot tell the other
        // ranks, so end the whole job rather than leave them waiting.
        eprintln!("mpitorrent: error: {err}");
        abort(1);
    }
    let aborted = matches!(outcome, Err(JobError::Aborted { .. }));
    let code = finish(outcome, swarm, "mpi");
    if aborted {
        // MPI_Finalize waits for every rank, and after an abort one can be
        // stuck handing a segment to a rank that stopped: wait a little.
        finalize_within(universe, ABORT_GRACE, 1);
    } else {
        drop(universe);
    }
    Ok(code)
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
    let mut display = progress_display(swarm);
    let outcomes = run_local_job(ranks, &job, &mut |p| display.observe(p));
    display.finish();
    let mut code = ExitCode::SUCCESS;
    for outcome in outcomes {
        if finish(outcome, swarm, "local") != ExitCode::SUCCESS {
            code = ExitCode::FAILURE;
        }
    }
    Ok(code)
}
