//! `mpitorrent-bench`: runs mpitorrent under `mpirun` on a fixed set of
//! scenarios, each several times, next to two floors of MPI itself: the
//! launch floor (`mpi-floor`: launch, barrier, exit at the same `-np`) and
//! the message floor (`mpi-message-floor`: the same run's segment round
//! trips and nothing else, on mpitorrent's MPI transport); prints a table
//! of medians and an idle-CPU check, and writes every number as JSON.
//! The real-data scenarios (`share`) run `mpitorrent share` on generated
//! files next to `mpi-bcast`, a plain MPI_Bcast of the same bytes, in a
//! table of their own (the time to the first segment and the reruns in
//! theirs). Any failed run or wrong output makes the exit
//! status non-zero.
//!
//! `bash scripts/bench.sh [OPTIONS]` builds everything and runs this.

mod bcast_report;
mod cli;
mod cluster;
mod idle;
mod launch;
mod machine;
mod results;
mod runner;
mod sample;
mod share;
mod stats;
mod swarm_dir;
mod table;
mod tracker_cost;

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
    let mut progress = Progress {
        done: 0,
        total: plan.shapes.len() * plan.strategies.len() * plan.windows.len()
            + plan.shares.len() * plan.share_settings.len()
            + plan.clusters.len(),
        runs: plan.runs,
    };
    let mut cases = Vec::new();
    for shape in &plan.shapes {
        for &strategy in &plan.strategies {
            for &window in &plan.windows {
                let case = runner.case(shape, strategy, window);
                progress.case(
                    &format!(
                        "{} -np {} {strategy} window {}",
                        shape.name,
                        case.ranks,
                        window_label(window)
                    ),
                    case.runs.len(),
                    case.median.as_ref().map(|m| m.wall_seconds),
                );
                cases.push(case);
            }
        }
    }
    let share_results = share::ShareResults::run(
        &runner,
        &plan.shares,
        plan.share_size,
        &plan.share_settings,
        &mut |label, ok, wall| progress.case(label, ok, wall),
    );
    let mut cluster_cases = Vec::new();
    for spec in &plan.clusters {
        let case = cluster::run_case(&plan.cluster, spec);
        let wall = case.median.as_ref().map(|m| m.share_seconds);
        progress.case(&format!("cluster {}", spec.label()), case.runs.len(), wall);
        cluster_cases.push(case);
    }
    let idle = idle::run(&runner, &plan.idle_shape, plan.runs);
    // Next to the tracker rank's cost under mpirun in the swarm table: the
    // machine's own share of it.
    let tracker_machine = if cases.is_empty() {
        None
    } else {
        Some(tracker_cost::measure()?)
    };
    let mut results = Results::new(machine, plan.record(), cases, share_results, idle);
    results.add_cluster_cases(cluster_cases);
    results.tracker_machine = tracker_machine;

    println!("{}", results.machine.header());
    if !results.cases.is_empty() {
        println!(
            "medians of {} runs; wall = whole mpirun; floor = mpi-floor (launch: init, barrier, \
             finalize) at the same np; ratio = wall / floor",
            plan.runs
        );
        println!(
            "msg floor = mpi-message-floor: the run's segment request/reply round trips alone, \
             same ranks, threads and window, on mpitorrent's MPI transport; vs msg floor = wall / \
             msg floor"
        );
        println!(
            "tracker µs/msg = the tracker rank's CPU seconds / messages it received (MPI receive, \
             decode, the machine, encode and send of its answers, plus its start-up and idle \
             polling: an upper bound); tracker msgs/tick = {:.1} µs (one 1 MiB segment at 10 \
             Gbit/s, a tick of `mpitorrent sim`) / tracker µs/msg",
            sample::TICK_MICROS
        );
        print!("{}", table::swarm(&results.cases));
        if let Some(cost) = &results.tracker_machine {
            println!("{}", cost.summary());
        }
    }
    results.shares.print(plan.runs);
    if !results.cluster_cases.is_empty() {
        println!(
            "emulated cluster (scripts/cluster.sh: network namespaces, TCP, links shaped with \
             tbf): one {} MiB file from rank 1 on node 1 to every other node, medians of {} \
             runs after a warm-up; link bound = size / rate; floor = mpi-floor on the cluster; \
             target = 1.25 x link bound + floor; bcast = mpi-bcast; http = every node pulls \
             from one HTTP server on node 1 (curl); CPU/GiB = CPU seconds of every process on \
             every node per GiB delivered; share cores = share's CPU / wall; seeder copies = \
             segments out of the seeder's node over its link / segments of the file; every output \
             checked byte for byte",
            plan.cluster.size >> 20,
            plan.runs
        );
        print!("{}", cluster::table::render_cases(&results.cluster_cases));
    }
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

/// The line on stderr after each case.
struct Progress {
    done: usize,
    total: usize,
    runs: u32,
}

impl Progress {
    fn case(&mut self, what: &str, ok: usize, median_wall: Option<f64>) {
        self.done += 1;
        let wall = median_wall.map_or_else(|| "-".to_string(), |w| format!("{w:.3} s"));
        eprintln!(
            "bench: [{}/{}] {what}: {ok}/{} runs ok, median wall {wall}",
            self.done, self.total, self.runs
        );
    }
}
