//! `mpi-message-floor`: the smallest MPI job that moves a swarm's segment
//! traffic. Given who fetched how many segments from whom (a run report's
//! `peers[].downloaded_from`, or `--fetch` by hand), every peer rank makes
//! exactly that many request/reply round trips with the same ranks, from a
//! download thread with the same window of outstanding requests, while its
//! upload thread answers the other peers' requests; rank 0 waits, as the
//! tracker does. Nothing else happens: no files, no hashes, no tracker
//! traffic, no wire codec, no NACKs (see `traffic` for the messages).
//!
//! It runs on mpitorrent's own MPI transport (`mpitorrent_net::mpi`:
//! [`initialize`] with `MPI_THREAD_MULTIPLE`, an [`MpiFabric`] that gives
//! each thread its own `MpiEndpoint`, the same channel tags, matched probes
//! and spin/yield/sleep backoff), so its wall time under `mpirun` is the
//! floor of that traffic on this transport and machine: what mpitorrent's
//! protocol costs on top is the swarm's wall minus this one.
//!
//! ```text
//! mpirun -np N mpi-message-floor --round-trips-from report.json [--window W]
//! mpirun -np N mpi-message-floor --fetch 2:1:500 --fetch 1:2:500 --window 8
//! ```

mod round_trips;
mod traffic;

use anyhow::{Context, Result};
use clap::Parser;
use mpitorrent_net::mpi::{abort, initialize, MpiFabric};
use round_trips::{parse_fetch, RoundTrips};
use std::path::PathBuf;
use std::process::ExitCode;

/// Makes a swarm's segment round trips over mpitorrent's MPI transport,
/// and nothing else: the message floor of that swarm.
#[derive(Debug, Parser)]
#[command(name = "mpi-message-floor", version, about, long_about)]
struct Cli {
    /// An mpitorrent run report (`--report`): every peer fetches what its
    /// `downloaded_from` says, with the run's window unless --window.
    #[arg(long, value_name = "REPORT.json", required_unless_present = "fetch")]
    round_trips_from: Option<PathBuf>,
    /// RANK:SOURCE:COUNT: peer RANK fetches COUNT segments from SOURCE;
    /// repeat for every pair (instead of --round-trips-from; what
    /// mpitorrent-bench passes, so that no rank parses a report).
    #[arg(long, value_name = "RANK:SOURCE:COUNT", value_parser = parse_fetch,
          conflicts_with = "round_trips_from")]
    fetch: Vec<(u32, u32, u64)>,
    /// Requests a download thread keeps outstanding. Default: the report's
    /// window, or 1 with --fetch.
    #[arg(long, value_name = "W", value_parser = clap::value_parser!(u32).range(1..))]
    window: Option<u32>,
}

impl Cli {
    /// The round trips and the window to make them with.
    fn plan(&self) -> Result<(RoundTrips, u32)> {
        let (trips, window) = match &self.round_trips_from {
            Some(path) => RoundTrips::from_report(path)?,
            None => {
                let mut trips = RoundTrips::default();
                for &(rank, source, count) in &self.fetch {
                    trips.add(rank, source, count);
                }
                (trips, 1)
            }
        };
        Ok((trips, self.window.unwrap_or(window)))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (trips, window) = match cli.plan() {
        Ok(plan) => plan,
        Err(err) => {
            eprintln!("mpi-message-floor: error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = run(&trips, window) {
        eprintln!("mpi-message-floor: error: {err:#}");
        // Ends every rank, not just this one.
        abort(1);
    }
    ExitCode::SUCCESS
}

fn run(trips: &RoundTrips, window: u32) -> Result<()> {
    let universe = initialize().context("starting MPI")?;
    traffic::run_rank(&MpiFabric::new(), trips, window)?;
    // Dropping the universe finalises MPI, after every thread is joined.
    drop(universe);
    Ok(())
}
