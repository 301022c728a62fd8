//! The command line of `mpitorrent-bench`, as clap derive types (doc
//! comments are the help text), and the choices it resolves to.

use crate::cluster::{ClusterPlan, ClusterSpec};
use crate::runner::Settings;
use crate::share::{self, ShareKind};
use anyhow::{bail, Context, Result};
use clap::Parser;
use mpitorrent_core::shapes::{self, Shape};
use mpitorrent_core::strategy::Strategy;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Benchmarks mpitorrent under mpirun against MPI itself.
///
/// For every scenario, strategy and window it runs
/// `mpirun -np N mpitorrent run ...` (with `--oversubscribe --bind-to
/// none` under Open MPI; MPITORRENT_MPIRUN names another launcher) several
/// times, checks every output file, and measures two floors around each
/// swarm run: before it the launch floor (`mpi-floor`: MPI init, a barrier,
/// finalise at the same N), after it the message floor
/// (`mpi-message-floor`: the run's own segment round trips, between the
/// same ranks, with the same threads and window, over mpitorrent's MPI
/// transport and nothing else). It prints a table of medians and writes
/// every number as JSON.
///
/// The real-data scenarios (share-one-to-all, share-all-gather) run
/// `mpitorrent share` on generated files instead, each run next to
/// `mpi-bcast` (a plain MPI_Bcast of the same files to the same ranks,
/// through the page cache and with `--direct`), after one unmeasured
/// warm-up run per case, and check every output byte for byte; they have
/// their own table. share-small-files (20,000 files of 150 bytes, -np 4)
/// runs next to `cp -r` into as many folders and `tar c | mpi-bcast |
/// tar x` instead, with the CPU of each. share-start (-np 4) shares one
/// file of --share-size and one 8 times larger and reports the time to
/// the first segment of each (target: the large within 1.5x the small,
/// and under 1 s) and the whole share, beside the launch floor.
/// share-rerun (-np 9) shares one file of --share-size once, then
/// measures reruns over the complete destinations (target: under 1 s,
/// nothing hashed or moved) and `--verify` reruns (everything hashed,
/// nothing moved), every output checked after each.
#[derive(Debug, Parser)]
#[command(name = "mpitorrent-bench", version, about, long_about)]
pub struct Cli {
    /// Runs of each scenario, strategy and window (the table shows medians).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// A scenario to run; repeat for several. Default: all of them:
    /// two-and-one, five-trade-seven, owning-nothing,
    /// two-seeds-four-leechers, wanting-nothing, large, fan-out, all-to-all,
    /// and the real-data ones, share-one-to-all (one file to 7 ranks;
    /// targets: 1.1x mpi-bcast from 1 GiB, 1.3x from 256 MiB) and
    /// share-all-gather (tens of seconds per run each at the default
    /// --share-size), share-small-files (seconds), share-start (1 and 8
    /// GiB at the default size: minutes per run, ~26 GiB free needed) and
    /// share-rerun (seconds per run after a first share).
    #[arg(long = "scenario", value_name = "NAME", value_parser = parse_scenario)]
    pub scenarios: Vec<Scenario>,
    /// A download strategy to run; repeat for several. Default: all three
    /// (round-robin, least-loaded, rarest-first), and mpitorrent's default
    /// for the real-data scenarios.
    #[arg(long = "strategy", value_name = "S")]
    pub strategies: Vec<Strategy>,
    /// A request window to run; repeat to compare (e.g. --window 1
    /// --window 8). Default: mpitorrent's own default.
    #[arg(long = "window", value_name = "W", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub windows: Vec<u32>,
    /// Where to write the results as JSON.
    #[arg(long, value_name = "FILE", default_value = "target/bench/results.json")]
    pub json: PathBuf,
    /// The mpitorrent binary. Default: `mpitorrent` next to this program.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// The shape the idle-CPU check adds one idle rank to (a rank that owns
    /// and wants nothing). A longer swarm shows the cost of waiting better:
    /// in a short one the rank's CPU is mostly its MPI start-up.
    #[arg(long, value_name = "NAME", default_value = "all-to-all", value_parser = parse_shape)]
    pub idle_shape: Shape,
    /// How the real-data scenarios write (repeat for both): `page-cache`
    /// (mpitorrent's default) or `direct` (`share --direct`). Default: both.
    #[arg(long = "share-write", value_name = "MODE", value_parser = parse_write)]
    pub share_writes: Vec<bool>,
    /// The bytes the real-data scenarios share: the one file of
    /// share-one-to-all and share-rerun, the 8 shards of share-all-gather
    /// together, and the smaller of share-start's two files (the other is
    /// 8 times that); share-small-files always shares its 20,000 files of
    /// 150 bytes.
    #[arg(long, value_name = "SIZE", default_value = share::DEFAULT_SIZE,
          value_parser = mpitorrent_core::content::parse_size)]
    pub share_size: u64,
    /// Kill a job (and count it as failed) after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
    /// An emulated cluster to run `share` on against mpi-bcast and an HTTP
    /// server (scripts/cluster.sh, as root): NODES:RATE[:SLOTS], e.g.
    /// 5:200mbit, 9:1gbit, 5:1gbit:2 (two ranks per node, one copy per
    /// node); repeat for several. With --cluster and no --scenario, only
    /// the cluster cases run.
    #[arg(long = "cluster", value_name = "NODES:RATE[:SLOTS]")]
    pub clusters: Vec<ClusterSpec>,
    /// The size of the one file the cluster cases share.
    #[arg(long, value_name = "SIZE", default_value = "512MiB",
          value_parser = mpitorrent_core::content::parse_size)]
    pub cluster_size: u64,
    /// The emulated cluster's script.
    #[arg(long, value_name = "PATH", default_value = "scripts/cluster.sh")]
    pub cluster_script: PathBuf,
}

/// A scenario of either kind.
#[derive(Clone, Debug)]
pub enum Scenario {
    Swarm(Shape),
    Share(ShareKind),
}

fn parse_scenario(name: &str) -> Result<Scenario, String> {
    match ShareKind::by_name(name) {
        Some(kind) => Ok(Scenario::Share(kind)),
        None => parse_shape(name).map(Scenario::Swarm).map_err(|err| {
            let shares: Vec<&str> = ShareKind::ALL.iter().map(|k| k.name()).collect();
            format!("{err}, {}", shares.join(", "))
        }),
    }
}

/// `true` for direct writes.
fn parse_write(mode: &str) -> Result<bool, String> {
    match mode {
        "page-cache" => Ok(false),
        "direct" => Ok(true),
        _ => Err(format!(
            "no write mode '{mode}' (known: page-cache, direct)"
        )),
    }
}

fn parse_shape(name: &str) -> Result<Shape, String> {
    shapes::by_name(name).ok_or_else(|| {
        let names: Vec<&str> = shapes::all().iter().map(|s| s.name).collect();
        format!("no scenario '{name}' (known: {})", names.join(", "))
    })
}

/// What a benchmark runs, with every default filled in.
#[derive(Debug)]
pub struct Plan {
    pub runs: u32,
    pub shapes: Vec<Shape>,
    pub strategies: Vec<Strategy>,
    /// `None` runs mpitorrent without `--window` (its default).
    pub windows: Vec<Option<u32>>,
    pub shares: Vec<ShareKind>,
    /// Strategies (as asked, else mpitorrent's default) by windows by
    /// write modes.
    pub share_settings: Vec<Settings>,
    pub share_size: u64,
    pub idle_shape: Shape,
    pub json: PathBuf,
    pub binary: PathBuf,
    pub floor: PathBuf,
    pub message_floor: PathBuf,
    pub bcast: PathBuf,
    pub timeout_seconds: u64,
    pub clusters: Vec<ClusterSpec>,
    pub cluster: ClusterPlan,
}

impl Plan {
    /// Resolves the defaults; fails if a program to run is missing.
    pub fn from_cli(cli: Cli) -> Result<Plan> {
        let here = std::env::current_exe().context("cannot find this program's path")?;
        let dir = here.parent().unwrap_or(Path::new("."));
        let binary = cli.binary.unwrap_or_else(|| dir.join("mpitorrent"));
        let floor = dir.join("mpi-floor");
        let message_floor = dir.join("mpi-message-floor");
        let bcast = dir.join("mpi-bcast");
        require(
            &binary,
            "build it with `cargo build --release -p mpitorrent` or pass --binary PATH",
        )?;
        for program in [&floor, &message_floor, &bcast] {
            require(
                program,
                "build it with `cargo build --release -p mpitorrent-bench`",
            )?;
        }
        // Every job runs in its scenario's folder: a relative path would miss.
        let binary = std::path::absolute(&binary)?;
        let (shapes, shares) = if cli.scenarios.is_empty() && !cli.clusters.is_empty() {
            (Vec::new(), Vec::new())
        } else if cli.scenarios.is_empty() {
            (shapes::all(), ShareKind::ALL.to_vec())
        } else {
            split_scenarios(cli.scenarios)
        };
        let windows = if cli.windows.is_empty() {
            vec![None]
        } else {
            cli.windows.into_iter().map(Some).collect()
        };
        let share_strategies = if cli.strategies.is_empty() {
            vec![None]
        } else {
            cli.strategies.iter().copied().map(Some).collect()
        };
        let share_writes = if cli.share_writes.is_empty() {
            vec![false, true]
        } else {
            cli.share_writes
        };
        let mut share_settings = Vec::new();
        for &strategy in &share_strategies {
            for &window in &windows {
                for &direct in &share_writes {
                    share_settings.push(Settings {
                        strategy,
                        window,
                        direct,
                    });
                }
            }
        }
        let cluster = ClusterPlan {
            runs: cli.runs,
            size: cli.cluster_size,
            script: std::path::absolute(&cli.cluster_script)?,
            binary: binary.clone(),
            floor: floor.clone(),
            bcast: bcast.clone(),
            strategy: cli.strategies.first().map(|s| s.to_string()),
            window: windows.first().copied().flatten(),
            timeout: std::time::Duration::from_secs(cli.timeout),
        };
        if !cli.clusters.is_empty() {
            require(
                &cluster.script,
                "run from the repository's root or pass --cluster-script",
            )?;
        }
        let strategies = if cli.strategies.is_empty() {
            Strategy::ALL.to_vec()
        } else {
            cli.strategies
        };
        Ok(Plan {
            runs: cli.runs,
            shapes,
            strategies,
            windows,
            shares,
            share_settings,
            share_size: cli.share_size,
            idle_shape: cli.idle_shape,
            json: cli.json,
            binary,
            floor,
            message_floor,
            bcast,
            timeout_seconds: cli.timeout,
            clusters: cli.clusters,
            cluster,
        })
    }

    /// The plan as it goes into the JSON results.
    pub fn record(&self) -> PlanRecord {
        PlanRecord {
            runs: self.runs,
            scenarios: (self.shapes.iter().map(|s| s.name.to_string()))
                .chain(self.shares.iter().map(|k| k.name().to_string()))
                .collect(),
            strategies: self.strategies.iter().map(|s| s.to_string()).collect(),
            windows: self.windows.clone(),
            idle_shape: self.idle_shape.name.to_string(),
            binary: self.binary.clone(),
            floor: self.floor.clone(),
            message_floor: self.message_floor.clone(),
            bcast: self.bcast.clone(),
            share_size: self.share_size,
            timeout_seconds: self.timeout_seconds,
        }
    }
}

/// The swarm shapes and the real-data scenarios among `scenarios`.
fn split_scenarios(scenarios: Vec<Scenario>) -> (Vec<Shape>, Vec<ShareKind>) {
    let (mut shapes, mut shares) = (Vec::new(), Vec::new());
    for scenario in scenarios {
        match scenario {
            Scenario::Swarm(shape) => shapes.push(shape),
            Scenario::Share(kind) => shares.push(kind),
        }
    }
    (shapes, shares)
}

fn require(program: &Path, hint: &str) -> Result<()> {
    if !program.is_file() {
        bail!("{} not found; {hint}", program.display());
    }
    Ok(())
}

/// The options of a benchmark, in the JSON results.
#[derive(Debug, Serialize)]
pub struct PlanRecord {
    pub runs: u32,
    pub scenarios: Vec<String>,
    pub strategies: Vec<String>,
    /// `null`: mpitorrent's default window.
    pub windows: Vec<Option<u32>>,
    pub idle_shape: String,
    pub binary: PathBuf,
    pub floor: PathBuf,
    pub message_floor: PathBuf,
    pub bcast: PathBuf,
    /// Bytes the real-data scenarios share.
    pub share_size: u64,
    pub timeout_seconds: u64,
}
