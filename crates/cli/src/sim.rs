//! `mpitorrent sim`: the protocol in virtual time, at any scale, through
//! the simulator of `mpitorrent-sim`; prints what it measured (as text, or
//! as one JSON object with `--json`).

use crate::cli::DEFAULT_STRATEGY;
use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args};
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::tracker::DEFAULT_SWARM_SAMPLE;
use mpitorrent_net::resources::process_resources;
use mpitorrent_sim::memory::{available_memory, Footprint};
use mpitorrent_sim::{
    LatePeers, SimConfig, SlowPeers, DEFAULT_MAX_TICKS, DEFAULT_TRACKER_CAPACITY,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Simulate a swarm in virtual time: one tick lets every rank send one
/// segment and receive one; control messages take --latency ticks. Prints
/// the makespan in ticks, the lower bound it is measured against, the
/// messages by kind and the fairness of the uploads.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("swarm").required(true).args(["peers", "scenario"])))]
pub struct SimArgs {
    /// Peers (ranks besides the tracker) of a one-file broadcast: --seeds of
    /// them own the file, every other one wants it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub peers: Option<u32>,
    /// Segments of the broadcast file.
    #[arg(long, default_value_t = 1000, conflicts_with = "scenario")]
    pub segments: u32,
    /// Peers that own the broadcast file at the start.
    #[arg(long, default_value_t = 1, conflicts_with = "scenario")]
    pub seeds: u32,
    /// Simulate a classic scenario folder instead (in1.txt, in2.txt, ...,
    /// as `gen` writes them); every wanted file is checked against the
    /// owners' hashes.
    #[arg(long, value_name = "DIR")]
    pub scenario: Option<PathBuf>,
    /// How downloads choose owners and segments.
    #[arg(long, default_value_t = DEFAULT_STRATEGY)]
    pub strategy: Strategy,
    /// Segment requests a downloader keeps outstanding (default: 64 with
    /// tree, 32 with relay, 8 with the others).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub window: Option<u32>,
    /// Owners per swarm answer (a random sample that always holds a seed).
    #[arg(long, value_name = "OWNERS", default_value_t = DEFAULT_SWARM_SAMPLE as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub swarm_sample: u32,
    /// PEER_UPDATE after this many downloaded segments.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub update_every: u32,
    /// Ticks a control message (tracker messages, requests, NACKs) takes.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub latency: u64,
    /// Fraction of the peers whose upload is slow (see --slow-every).
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_fraction)]
    pub slow_fraction: f64,
    /// A slow peer's uplink starts a segment every this many ticks.
    #[arg(long, default_value_t = 4, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub slow_every: u64,
    /// Fraction of the peers that start downloading late (see --late-by).
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_fraction)]
    pub late_fraction: f64,
    /// Ticks after its registration ACK that a late peer starts.
    #[arg(long, default_value_t = 100, value_name = "TICKS")]
    pub late_by: u64,
    /// Fraction of the peers that leave the swarms of the files they
    /// downloaded, with their segments, as soon as they have all their files.
    #[arg(long, default_value_t = 0.0, value_name = "F", value_parser = parse_fraction)]
    pub leave_fraction: f64,
    /// Every peer leaves after finishing (--leave-fraction 1).
    #[arg(long, conflicts_with = "leave_fraction")]
    pub leave_after_finish: bool,
    /// Seed of every random choice (the scenario's, the tracker's, the
    /// strategies', which peers are slow, late or leave).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Give up past this tick, saying who waits for what.
    #[arg(long, default_value_t = DEFAULT_MAX_TICKS)]
    pub max_ticks: u64,
    /// Messages the tracker (rank 0) handles per tick; the others wait in
    /// a queue at the tracker. The default is what the benchmark measured
    /// one tracker rank to handle in the time of one 1 MiB segment at 10
    /// Gbit/s; 0: a tracker without a limit.
    #[arg(long, value_name = "M", default_value_t = DEFAULT_TRACKER_CAPACITY)]
    pub tracker_capacity: u64,
    /// Print the results as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write the tracker's full run report (as `run --report` does;
    /// its times are ticks) to this file.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
}

/// Puts the heap on transparent huge pages, by running this same command
/// again (`exec`, same process) with glibc told to (unless `GLIBC_TUNABLES`
/// already says whether to: `glibc.malloc.hugetlb=0` turns this off).
///
/// At 10,000 peers the simulated machines' state (about 600 MiB) is
/// touched in random order, and with 4 KiB pages every access is also a
/// TLB miss: measured on the 2-core development VM, 10,000 peers x 1,000
/// segments (`--strategy paced`) take 27-28 s without and 22 s with. Only
/// glibc on Linux has the tunable (2.35 and later; older ones ignore it).
fn use_huge_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        const TUNABLE: &str = "glibc.malloc.hugetlb";
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        if tunables.contains(TUNABLE) {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let tunables = if tunables.is_empty() {
            format!("{TUNABLE}=1")
        } else {
            format!("{tunables}:{TUNABLE}=1")
        };
        // Only returns if the exec failed; then run without.
        let _ = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("GLIBC_TUNABLES", tunables)
            .exec();
    }
}

impl SimArgs {
    fn config(&self) -> SimConfig {
        SimConfig {
            strategy: self.strategy,
            window: self
                .window
                .unwrap_or_else(|| self.strategy.default_window()),
            update_every: self.update_every,
            swarm_sample: Some(self.swarm_sample as usize),
            latency: self.latency,
            seed: self.seed,
            slow: (self.slow_fraction > 0.0).then_some(SlowPeers {
                fraction: self.slow_fraction,
                every: self.slow_every,
            }),
            late: (self.late_fraction > 0.0).then_some(LatePeers {
                fraction: self.late_fraction,
                by: self.late_by,
            }),
            leave_fraction: if self.leave_after_finish {
                1.0
            } else {
                self.leave_fraction
            },
            max_ticks: self.max_ticks,
            tracker_capacity: self.tracker_capacity,
        }
    }
}

/// A fraction of the peers: a number from 0 to 1.
fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("expected a fraction from 0 to 1, found '{text}'")),
    }
}

pub fn run(args: SimArgs) -> Result<ExitCode> {
    use_huge_pages();
    let config = args.config();
    // Settings that cannot be simulated are a usage error, found before
    // anything is built.
    let refuse = |problem: String| {
        eprintln!("mpitorrent: error: {problem}");
        Ok(ExitCode::from(crate::swarm::USAGE))
    };
    if let Err(problem) = config.validate() {
        return refuse(problem);
    }
    let scenario = match (&args.scenario, args.peers) {
        (Some(dir), _) => mpitorrent_sim::scenario_from_dir(dir).map_err(anyhow::Error::msg)?,
        (None, Some(peers)) => {
            let footprint = Footprint::broadcast(peers, args.segments, args.seeds);
            if let Err(too_big) = footprint.check(&config, available_memory()) {
                return refuse(too_big.to_string());
            }
            mpitorrent_sim::broadcast(peers, args.segments, args.seeds, args.seed)
                .map_err(anyhow::Error::msg)?
        }
        (None, None) => bail!("give --peers or --scenario"),
    };
    let start = Instant::now();
    let report = mpitorrent_sim::run(&scenario, &config)
        .with_context(|| format!("simulating with seed {}", config.seed))?;
    let wall_seconds = start.elapsed().as_secs_f64();
    let peak_rss_kib = process_resources().peak_rss_kib;
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report.run).expect("a report serializes");
        let temp = crate::swarm::file_beside("--report", path)?;
        crate::swarm::save_file(&temp, (json + "\n").as_bytes())?;
    }
    if args.json {
        let mut json = serde_json::to_value(&report).expect("a report serializes");
        json["wall_seconds"] = wall_seconds.into();
        json["peak_rss_kib"] = peak_rss_kib.into();
        println!("{json}");
    } else {
        print!("{}", report.summary());
        println!(
            "  simulated in {wall_seconds:.2} s wall, peak memory {:.0} MiB",
            peak_rss_kib as f64 / 1024.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
