//! What each subcommand does: turn arguments into library calls and the
//! outcome into an exit status and one message.

use crate::cli::{Cli, Command, GenArgs};
use crate::logging;
use crate::report_cmd;
use crate::swarm::{run_local, run_mpi, Workload};
use anyhow::{Context, Result};
use mpitorrent_core::scenario::{Scenario, ScenarioParams};
use mpitorrent_core::shapes;
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    logging::init(cli.verbose);
    match cli.command {
        None => run_mpi(&cli.run.swarm, &Workload::Classic(cli.run.files)),
        Some(Command::Run(args)) => run_mpi(&args.swarm, &Workload::Classic(args.files)),
        Some(Command::Local(args)) => {
            run_local(args.ranks, &args.swarm, &Workload::Classic(args.files))
        }
        Some(Command::Share(args)) => {
            if let Err(usage) = args.validate() {
                crate::launcher::exit_with(usage)
            }
            match args.local {
                Some(ranks) => run_local(ranks, &args.swarm, &Workload::share(&args)),
                None => run_mpi(&args.swarm, &Workload::share(&args)),
            }
        }
        Some(Command::Manifest(args)) => crate::manifest::run(args),
        Some(Command::Gen(args)) => generate(args),
        Some(Command::Report(args)) => report_cmd::run(args),
        Some(Command::Sim(args)) => crate::sim::run(args),
    }
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
    // --out is the user's path; below it nothing is written through a link.
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let out = std::sync::Arc::new(mpitorrent_fs::Folder::open(&args.out)?);
    for (relative, contents) in scenario.files() {
        let temp = mpitorrent_fs::TempFile::create_below(&out, relative.as_ref(), 0)?;
        temp.write_and_commit(contents.as_bytes())?;
    }
    eprintln!(
        "mpitorrent gen: {} ranks, {} expected output(s), {what}, written to {}",
        scenario.ranks(),
        scenario.expected_outputs().len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
