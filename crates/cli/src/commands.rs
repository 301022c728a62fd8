//! What each subcommand does: turn arguments into library calls and the
//! outcome into an exit status and one message.

use crate::cli::{Cli, Command, GenArgs, LocalArgs, RunArgs, SwarmArgs};
use anyhow::{Context, Result};
use mpitorrent_core::scenario::{Scenario, ScenarioParams};
use mpitorrent_core::shapes;
use mpitorrent_net::fault::{FaultPlan, FAULT_ENV};
use mpitorrent_net::job::{run_local_job, JobConfig, JobError, RankOutcome};
use mpitorrent_net::peer::PeerOptions;
use std::process::ExitCode;
use std::time::Duration;

/// Exit status for a command line that cannot work (as clap uses).
pub const USAGE: u8 = 2;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        None => run_mpi(RunArgs {
            swarm: SwarmArgs::default(),
        }),
        Some(Command::Run(args)) => run_mpi(args),
        Some(Command::Local(args)) => run_local(args),
        Some(Command::Gen(args)) => generate(args),
    }
}

fn job_config(args: &SwarmArgs) -> Result<JobConfig> {
    // Tests inject faults through the environment, so that the binary they
    // run is exactly the one users run.
    let fault = match std::env::var(FAULT_ENV) {
        Ok(plan) => Some(plan.parse::<FaultPlan>().map_err(anyhow::Error::msg)?),
        Err(_) => None,
    };
    Ok(JobConfig {
        input_dir: args.input_dir.clone(),
        output_dir: args.output_dir.clone(),
        peer: PeerOptions {
            window: args.window,
            fault,
            ..PeerOptions::default()
        },
        stall_timeout: (args.stall_timeout > 0).then(|| Duration::from_secs(args.stall_timeout)),
    })
}

/// Prints a rank's failure if this rank is the one that should, and gives
/// the exit status. Aborts are printed once, by the tracker.
fn report(outcome: &Result<RankOutcome, JobError>) -> ExitCode {
    match outcome {
        Ok(_) => ExitCode::SUCCESS,
        Err(err @ JobError::Aborted { reporter, .. }) => {
            if *reporter {
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
fn run_mpi(args: RunArgs) -> Result<ExitCode> {
    use mpitorrent_net::mpi::{initialize, MpiFabric};
    use mpitorrent_net::{Endpoint, Fabric};

    let job = job_config(&args.swarm)?;
    let universe = initialize().context("starting MPI")?;
    let fabric = MpiFabric::new();
    let (rank, size) = {
        let endpoint = fabric.endpoint();
        (endpoint.rank(), endpoint.size())
    };
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
    let outcome = mpitorrent_net::job::run_rank(&fabric, &job);
    let code = report(&outcome);
    if let Err(JobError::Transport { .. }) = outcome {
        // The transport itself failed: the protocol cannot tell the other
        // ranks, so end the whole job rather than leave them waiting.
        mpitorrent_net::mpi::abort(1);
    }
    let _ = rank;
    drop(universe);
    Ok(code)
}

#[cfg(not(feature = "mpi"))]
fn run_mpi(_args: RunArgs) -> Result<ExitCode> {
    eprintln!(
        "mpitorrent: this build has no MPI support (built without the `mpi` feature);\n\
         run a whole swarm in one process with `mpitorrent local --ranks N`."
    );
    Ok(ExitCode::from(USAGE))
}

fn run_local(args: LocalArgs) -> Result<ExitCode> {
    let outcomes = run_local_job(args.ranks, &job_config(&args.swarm)?);
    let mut code = ExitCode::SUCCESS;
    for outcome in &outcomes {
        if report(outcome) != ExitCode::SUCCESS {
            code = ExitCode::FAILURE;
        }
    }
    if code == ExitCode::SUCCESS {
        let written: usize = outcomes
            .iter()
            .filter_map(|o| match o {
                Ok(RankOutcome::Peer(report)) => Some(report.files_written),
                _ => None,
            })
            .sum();
        eprintln!(
            "mpitorrent local: {} ranks, {written} output file(s) written to {}",
            args.ranks,
            args.swarm.output_dir.display()
        );
    }
    Ok(code)
}

fn generate(args: GenArgs) -> Result<ExitCode> {
    let (scenario, what) = match (&args.shape, args.ranks) {
        (Some(name), _) => {
            let shape = shapes::by_name(name).with_context(|| {
                let names: Vec<_> = shapes::all().iter().map(|s| s.name).collect();
                format!(
                    "no shape called '{name}'; the shapes are {}",
                    names.join(", ")
                )
            })?;
            (
                shape.scenario,
                format!("shape {name}: {}", shape.description),
            )
        }
        (None, ranks) => {
            let params = ScenarioParams {
                ranks: ranks.expect("clap requires --ranks without --shape"),
                files: args.files,
                segments: args.segments,
                seeds_per_file: args.seeds_per_file,
                wanters_per_file: args.wanters_per_file,
                seed: args.seed,
            };
            (Scenario::generate(&params)?, format!("seed {}", args.seed))
        }
    };
    for (relative, contents) in scenario.files() {
        let path = args.out.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "mpitorrent gen: {} ranks, {} expected output(s), {what}, written to {}",
        scenario.ranks(),
        scenario.expected_outputs().len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
