//! `mpitorrent-bench`: runs mpitorrent under `mpirun` on a fixed set of
//! scenarios, each several times, next to two floors of MPI itself: the
//! launch floor (`mpi-floor`: launch, barrier, exit at the same `-np`) and
//! the message floor (`mpi-message-floor`: the same run's segment round
//! trips and nothing else, on mpitorrent's MPI transport); prints a table
//! of medians and an idle-CPU check, and writes every number as JSON.
//! Any failed run or wrong output makes the exit status non-zero.
//!
//! `bash scripts/bench.sh [OPTIONS]` builds everything and runs this.

mod cli;
mod idle;
mod launch;
mod machine;
mod results;
mod runner;
mod sample;
mod stats;
mod swarm_dir;
mod table;

use anyhow::Result;
use clap::Parser;
use cli::{Cli, Plan};
use machine::Machine;
use results::Results;
use runner::{window_label, Runner};
use std::process::ExitCode;

fn main() -> ExitCode {
    match try_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("mpitorrent-bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark; `Ok(false)` if any run failed or wrote a wrong output.
fn try_main() -> Result<bool> {
    let plan = Plan::from_cli(Cli::parse())?;
    let machine = Machine::detect();
    let runner = Runner::new(&plan);
    let total = plan.shapes.len() * plan.strategies.len() * plan.windows.len();
    let mut cases = Vec::new();
    for shape in &plan.shapes {
        for &strategy in &plan.strategies {
            for &window in &plan.windows {
                let case = runner.case(shape, strategy, window);
                eprintln!(
                    "bench: [{}/{total}] {} -np {} {strategy} window {}: {}/{} runs ok, median wall {}",
                    cases.len() + 1,
                    shape.name,
                    case.ranks,
                    window_label(window),
                    case.runs.len(),
                    plan.runs,
                    case.median
                        .as_ref()
                        .map_or_else(|| "-".to_string(), |m| format!("{:.3} s", m.wall_seconds)),
                );
                cases.push(case);
            }
        }
    }
    let idle = idle::run(&runner, &plan.idle_shape, plan.runs);
    let results = Results::new(machine, plan.record(), cases, idle);

    println!("{}", results.machine.header());
    println!(
        "medians of {} runs; wall = whole mpirun; floor = mpi-floor (launch: init, barrier, \
         finalize) at the same np; ratio = wall / floor",
        plan.runs
    );
    println!(
        "msg floor = mpi-message-floor: the run's segment request/reply round trips alone, same \
         ranks, threads and window, on mpitorrent's MPI transport; vs msg floor = wall / msg floor"
    );
    print!("{}", table::render(&results.cases));
    println!("{}", results.idle.summary());
    results.write(&plan.json)?;
    println!("JSON: {}", plan.json.display());
    if results.failed_runs > 0 {
        eprintln!(
            "mpitorrent-bench: {} run(s) FAILED or wrote a wrong output:",
            results.failed_runs
        );
        for line in results.failures() {
            eprintln!("  {line}");
        }
    }
    Ok(results.failed_runs == 0)
}
