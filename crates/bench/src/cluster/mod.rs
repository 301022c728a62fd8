//! The emulated-cluster benchmark (`--cluster NODES:RATE[:SLOTS]`): one
//! file from one seeder to every node of a cluster of network namespaces
//! (`scripts/cluster.sh`: TCP between nodes, every link shaped to RATE),
//! three ways in the same run, after one unmeasured warm-up:
//!
//! - `mpitorrent share --from SRC --seeders 1 --to DST/{rank}` (with more
//!   than one rank per node, `--to DST/{node}`: one copy per node);
//! - `mpi-bcast`, a plain `MPI_Bcast` of the same file to the same ranks;
//! - every node pulling the file from one HTTP server on the seeder's node
//!   (`python3 -m http.server`, `curl` on each node), what a site without
//!   MPI tooling would do.
//!
//! Each next to `mpi-floor` on the same cluster (the launch floor) and the
//! link bound (size / rate: the least time any tool needs to get the bytes
//! through one link). Every output is compared byte for byte with the
//! source; a wrong one fails the run. CPU seconds are those of every
//! process of the job on every node ([`jobs`]).

pub mod jobs;
pub mod table;

use crate::runner::{loud, problem_list, read_report};
use crate::share::disk;
use crate::share::verify::difference;
use crate::stats::median;
use anyhow::{bail, Context, Result};
use jobs::{args, Cluster, Cost};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The file name of the shared data.
const DATA: &str = "data.bin";
/// The HTTP server's port on the seeder's node.
const HTTP_PORT: u16 = 8177;
/// The seeder's address: node 1 of the script's subnet.
const SEEDER_ADDRESS: &str = "10.77.0.1";
/// The namespace prefix the benchmark's cluster uses (hostnames are
/// `<prefix>-n<i>`).
const PREFIX: &str = "mptbench";
const GIB: f64 = (1u64 << 30) as f64;

/// One cluster to benchmark: `NODES:RATE[:SLOTS]`, e.g. `5:200mbit` or
/// `5:1gbit:2` (two receiving ranks per node).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterSpec {
    pub nodes: u32,
    /// As `tc` takes it: `200mbit`, `1gbit`.
    pub rate: String,
    pub rate_bits_per_second: f64,
    /// Peer ranks per node (the seeder's node has the tracker besides).
    pub slots: u32,
}

impl FromStr for ClusterSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage =
            || format!("'{text}': expected NODES:RATE[:SLOTS], e.g. 5:200mbit or 9:1gbit:2");
        let parts: Vec<&str> = text.split(':').collect();
        let (nodes, rate, slots) = match parts[..] {
            [nodes, rate] => (nodes, rate, "1"),
            [nodes, rate, slots] => (nodes, rate, slots),
            _ => return Err(usage()),
        };
        let nodes: u32 = nodes.parse().map_err(|_| usage())?;
        let slots: u32 = slots.parse().map_err(|_| usage())?;
        if !(2..=30).contains(&nodes) || !(1..=4).contains(&slots) {
            return Err(format!("{}: 2 to 30 nodes, 1 to 4 slots", usage()));
        }
        Ok(ClusterSpec {
            nodes,
            rate: rate.to_string(),
            rate_bits_per_second: parse_rate(rate).ok_or_else(usage)?,
            slots,
        })
    }
}

impl ClusterSpec {
    /// Ranks of a job that fills the cluster: the tracker, then `slots`
    /// per node (the seeder, rank 1, on node 1).
    pub fn np(&self) -> u32 {
        1 + self.nodes * self.slots
    }

    /// A short name: `5 nodes x 1, 200mbit`.
    pub fn label(&self) -> String {
        format!("{} nodes x {}, {}", self.nodes, self.slots, self.rate)
    }
}

/// Bits per second of a `tc` rate such as `200mbit` or `1gbit`.
fn parse_rate(rate: &str) -> Option<f64> {
    let split = rate.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = rate.split_at(split);
    let scale = match unit {
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale).filter(|r| *r > 0.0)
}

/// How the cluster cases run.
#[derive(Clone, Debug)]
pub struct ClusterPlan {
    pub runs: u32,
    pub size: u64,
    pub script: PathBuf,
    pub binary: PathBuf,
    pub floor: PathBuf,
    pub bcast: PathBuf,
    /// `share --strategy`, if not mpitorrent's default.
    pub strategy: Option<String>,
    /// `share --window`, if not mpitorrent's default.
    pub window: Option<u32>,
    pub timeout: Duration,
}

/// One measured run: each tool's whole job and what it cost.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterRun {
    pub floor_seconds: f64,
    pub share_seconds: f64,
    pub share_cpu_seconds: f64,
    /// Bytes the seeder uploaded over the file's size.
    pub seeder_copies: f64,
    pub bcast_seconds: f64,
    pub bcast_cpu_seconds: f64,
    pub http_seconds: f64,
    pub http_cpu_seconds: f64,
}

/// Medians over a case's runs, and the issue's targets.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterMedians {
    pub floor_seconds: f64,
    pub share_seconds: f64,
    pub bcast_seconds: f64,
    pub http_seconds: f64,
    /// CPU seconds per GiB delivered (size x receiving copies).
    pub share_cpu_per_gib: f64,
    pub bcast_cpu_per_gib: f64,
    pub http_cpu_per_gib: f64,
    /// share's CPU over its wall: the cores it kept busy on average.
    pub share_cores: f64,
    pub seeder_copies: f64,
    /// 1.25 x the link bound + the launch floor.
    pub target_seconds: f64,
}

/// A case: its cluster, its runs and their medians.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterCaseResult {
    pub cluster: ClusterSpec,
    pub size: u64,
    /// size / rate.
    pub link_bound_seconds: f64,
    pub runs: Vec<ClusterRun>,
    pub failures: Vec<String>,
    pub median: Option<ClusterMedians>,
}

/// Brings the cluster up, runs the case, and always takes it down.
pub fn run_case(plan: &ClusterPlan, spec: &ClusterSpec) -> ClusterCaseResult {
    let link_bound_seconds = plan.size as f64 * 8.0 / spec.rate_bits_per_second;
    let mut result = ClusterCaseResult {
        cluster: spec.clone(),
        size: plan.size,
        link_bound_seconds,
        runs: Vec::new(),
        failures: Vec::new(),
        median: None,
    };
    let label = spec.label();
    match Case::set_up(plan, spec) {
        Err(err) => result.failures.push(loud(&label, None, &err)),
        Ok(case) => {
            // The first run pays for page faults and cold caches.
            if let Err(err) = case.run() {
                result
                    .failures
                    .push(loud(&format!("{label} warm-up"), None, &err));
            }
            for run in 1..=plan.runs {
                match case.run() {
                    Ok(sample) => result.runs.push(sample),
                    Err(err) => result
                        .failures
                        .push(loud(&label, Some((run, plan.runs)), &err)),
                }
            }
        }
    }
    result.median = medians(&result);
    result
}

fn medians(result: &ClusterCaseResult) -> Option<ClusterMedians> {
    let runs = &result.runs;
    let m = |f: fn(&ClusterRun) -> f64| median(runs.iter().map(f));
    let copies = (result.cluster.nodes - 1) as f64;
    let gib = result.size as f64 * copies / GIB;
    let floor_seconds = m(|r| r.floor_seconds)?;
    let share_seconds = m(|r| r.share_seconds)?;
    Some(ClusterMedians {
        floor_seconds,
        share_seconds,
        bcast_seconds: m(|r| r.bcast_seconds)?,
        http_seconds: m(|r| r.http_seconds)?,
        share_cpu_per_gib: m(|r| r.share_cpu_seconds)? / gib,
        bcast_cpu_per_gib: m(|r| r.bcast_cpu_seconds)? / gib,
        http_cpu_per_gib: m(|r| r.http_cpu_seconds)? / gib,
        share_cores: m(|r| r.share_cpu_seconds / r.share_seconds)?,
        seeder_copies: m(|r| r.seeder_copies)?,
        target_seconds: 1.25 * result.link_bound_seconds + floor_seconds,
    })
}

/// A cluster that is up, with the source file written; taken down when
/// dropped.
struct Case<'a> {
    plan: &'a ClusterPlan,
    spec: &'a ClusterSpec,
    cluster: Cluster,
    work: tempfile::TempDir,
}

impl<'a> Case<'a> {
    fn set_up(plan: &'a ClusterPlan, spec: &'a ClusterSpec) -> Result<Case<'a>> {
        let work = tempfile::Builder::new()
            .prefix("mpitorrent-cluster-bench.")
            .tempdir()
            .context("cannot make a work folder")?;
        let source = work.path().join("src");
        std::fs::create_dir_all(&source)?;
        disk::write_random(&source.join(DATA), plan.size, 42)?;
        let logs = work.path().join("logs");
        std::fs::create_dir_all(&logs)?;
        let cluster = Cluster {
            script: plan.script.clone(),
            prefix: PREFIX.into(),
            logs,
            timeout: plan.timeout,
        };
        let case = Case {
            plan,
            spec,
            cluster,
            work,
        };
        let up = args([
            "up",
            &spec.nodes.to_string(),
            &spec.rate,
            &spec.slots.to_string(),
        ]);
        case.cluster.run(&up, "cluster-up")?;
        Ok(case)
    }

    fn source(&self) -> PathBuf {
        self.work.path().join("src")
    }

    fn out(&self, tool: &str) -> PathBuf {
        self.work.path().join("out").join(tool)
    }

    /// `cluster.sh run -np N PROGRAM ARGS...`.
    fn mpirun(&self, program: &Path, rest: Vec<std::ffi::OsString>, log: &str) -> Result<Cost> {
        let mut all = args(["run", "-np", &self.spec.np().to_string()]);
        all.push(program.into());
        all.extend(rest);
        self.cluster.run(&all, log)
    }

    /// One run of every tool, each from a clean destination.
    fn run(&self) -> Result<ClusterRun> {
        let _ = std::fs::remove_dir_all(self.work.path().join("out"));
        disk::sync()?;
        let floor = self.mpirun(&self.plan.floor, Vec::new(), "mpi-floor")?;
        let (share, seeder_copies) = self.share()?;
        disk::sync()?;
        let bcast = self.bcast()?;
        disk::sync()?;
        let http = self.http()?;
        Ok(ClusterRun {
            floor_seconds: floor.wall.as_secs_f64(),
            share_seconds: share.wall.as_secs_f64(),
            share_cpu_seconds: share.cpu.as_secs_f64(),
            seeder_copies,
            bcast_seconds: bcast.wall.as_secs_f64(),
            bcast_cpu_seconds: bcast.cpu.as_secs_f64(),
            http_seconds: http.wall.as_secs_f64(),
            http_cpu_seconds: http.cpu.as_secs_f64(),
        })
    }

    /// `mpitorrent share`; its cost and the seeder's copies.
    fn share(&self) -> Result<(Cost, f64)> {
        let out = self.out("share");
        let report = self.work.path().join("share-report.json");
        let per_node = self.spec.slots > 1;
        let to = out.join(if per_node { "{node}" } else { "{rank}" });
        let mut rest = args(["share", "--seeders", "1", "-q"]);
        rest.extend(option("--from", self.source()));
        rest.extend(option("--to", to));
        rest.extend(option("--report", report.clone()));
        if let Some(strategy) = &self.plan.strategy {
            rest.extend(args(["--strategy", strategy]));
        }
        if let Some(window) = self.plan.window {
            rest.extend(args(["--window", &window.to_string()]));
        }
        let cost = self.mpirun(&self.plan.binary, rest, "share")?;
        let wanted: Vec<PathBuf> = match per_node {
            true => (1..=self.spec.nodes)
                .map(|n| out.join(format!("{PREFIX}-n{n}")))
                .collect(),
            false => (2..self.spec.np())
                .map(|r| out.join(r.to_string()))
                .collect(),
        };
        self.check(&wanted)?;
        let report = read_report(&report)?;
        let segments = report.files.iter().map(|f| f.segments as u64).sum::<u64>();
        // What crossed the seeder's node's link: with one rank per node,
        // the seeder's uploads; with more, not what it handed its
        // node-mates through shared memory.
        let seeder = report.peers.iter().find(|p| p.rank == 1);
        let node = seeder.and_then(|p| p.node.as_deref());
        let over_link = report.nodes.iter().find(|n| Some(n.node.as_str()) == node);
        let uploaded = match over_link {
            Some(node) => node.segments_out,
            None => seeder.map_or(0, |p| p.uploaded),
        };
        Ok((cost, uploaded as f64 / segments.max(1) as f64))
    }

    /// `mpi-bcast` of the same file to the same ranks.
    fn bcast(&self) -> Result<Cost> {
        let out = self.out("bcast");
        let mut rest = args(["--root", "1"]);
        rest.extend(option("--file", self.source().join(DATA)));
        rest.extend(option("--to", out.join("{rank}")));
        let cost = self.mpirun(&self.plan.bcast, rest, "mpi-bcast")?;
        let wanted: Vec<PathBuf> = (2..self.spec.np())
            .map(|r| out.join(r.to_string()))
            .collect();
        self.check(&wanted)?;
        Ok(cost)
    }

    /// Every node but the seeder's pulls the file from one HTTP server on
    /// the seeder's node, all at once.
    fn http(&self) -> Result<Cost> {
        let out = self.out("http");
        let source = self.source();
        let server = args([
            "exec".into(),
            "n1".into(),
            "python3".into(),
            "-m".into(),
            "http.server".into(),
            HTTP_PORT.to_string().into(),
            "--bind".into(),
            SEEDER_ADDRESS.into(),
            "--directory".into(),
            source.into_os_string(),
        ]);
        // One meter for the server and every pull: they run at once.
        let meter = jobs::Meter::start()?;
        let server = self.cluster.spawn(&server, "http-server")?;
        let url = format!("http://{SEEDER_ADDRESS}:{HTTP_PORT}/{DATA}");
        self.wait_for_server(&url, &server)?;
        let nodes: Vec<u32> = (2..=self.spec.nodes).collect();
        let pulls = nodes.iter().map(|n| {
            let file = out.join(format!("n{n}")).join(DATA);
            let pull = args([
                "exec".into(),
                format!("n{n}").into(),
                "curl".into(),
                "-sSf".into(),
                "--create-dirs".into(),
                "-o".into(),
                file.into_os_string(),
                url.clone().into(),
            ]);
            (pull, format!("http-n{n}"))
        });
        let start = std::time::Instant::now();
        std::thread::scope(|scope| {
            let handles: Vec<_> = pulls
                .map(|(pull, log)| scope.spawn(move || self.cluster.run(&pull, &log)))
                .collect();
            for handle in handles {
                handle.join().expect("a pull thread does not panic")?;
            }
            anyhow::Ok(())
        })?;
        let wall = start.elapsed();
        // The server's CPU counts once it was waited for, when dropped.
        drop(server);
        let cpu = meter.cpu("http")?;
        let wanted: Vec<PathBuf> = nodes.iter().map(|n| out.join(format!("n{n}"))).collect();
        self.check(&wanted)?;
        Ok(Cost { wall, cpu })
    }

    fn wait_for_server(&self, url: &str, server: &jobs::Background) -> Result<()> {
        let probe = args([
            "exec",
            "n2",
            "curl",
            "-sSf",
            "-o",
            "/dev/null",
            "-r",
            "0-0",
            url,
        ]);
        for _ in 0..50 {
            if self.cluster.run(&probe, "http-probe").is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the HTTP server did not answer within 5 s{}", server.tail())
    }

    /// Every folder of `wanted` holds exactly the source file.
    fn check(&self, wanted: &[PathBuf]) -> Result<()> {
        let source = self.source().join(DATA);
        let mut problems = Vec::new();
        for folder in wanted {
            let got = folder.join(DATA);
            if !got.is_file() {
                problems.push(format!("{}: missing", got.display()));
            } else if let Some(difference) = difference(&got, &source)? {
                problems.push(format!("{}: {difference}", got.display()));
            }
        }
        if !problems.is_empty() {
            bail!("WRONG OUTPUT in {}", problem_list(&problems));
        }
        Ok(())
    }
}

impl Drop for Case<'_> {
    fn drop(&mut self) {
        if let Err(err) = self.cluster.run(&args(["down"]), "cluster-down") {
            eprintln!("bench: warning: taking the cluster down: {err:#}");
        }
    }
}

/// `--name PATH` as two arguments.
fn option(name: &str, path: PathBuf) -> [std::ffi::OsString; 2] {
    [name.into(), path.into_os_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_specs_and_rates() {
        let spec: ClusterSpec = "5:200mbit".parse().unwrap();
        assert_eq!((spec.nodes, spec.slots, spec.np()), (5, 1, 6));
        assert_eq!(spec.rate_bits_per_second, 200e6);
        let spec: ClusterSpec = "9:1gbit:2".parse().unwrap();
        assert_eq!((spec.nodes, spec.slots, spec.np()), (9, 2, 19));
        for bad in ["5", "1:1gbit", "5:fast", "5:1gbit:9", "5:0mbit", "x:1gbit"] {
            assert!(bad.parse::<ClusterSpec>().is_err(), "{bad}");
        }
    }
}
