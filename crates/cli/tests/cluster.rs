//! `share` across nodes of the emulated cluster (`scripts/cluster.sh`):
//! network namespaces as nodes, Open MPI's daemons started in them, TCP
//! over shaped links between them. Needs root; without it the script
//! exits 77 and the test says why and passes, unless
//! `MPITORRENT_CLUSTER_REQUIRED=1` (set by `scripts/test.sh` as root, as in
//! CI) makes that a failure.
//!
//! One test function: the cluster is one set of namespaces and runs one job
//! at a time. Its names come from this checkout's path, so two checkouts
//! testing at once build two clusters, while a rerun here first removes
//! what a killed run of this checkout left.

mod common;

use common::{RUN_TIMEOUT, STRICT_SHUTDOWN};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What `scripts/cluster.sh` exits with when nodes cannot be made here.
const SKIP: i32 = 77;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster.sh")
}

/// The cluster's name prefix: `t` and a hash (FNV-1a) of this checkout's
/// path, stable from run to run.
fn prefix() -> String {
    let hash = env!("CARGO_MANIFEST_DIR")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("t{:08x}", hash as u32)
}

/// A running cluster; dropping it (also when a test panics) ends every
/// process on its nodes and removes them.
struct Cluster {
    prefix: String,
}

impl Cluster {
    /// `cluster.sh up NODES RATE SLOTS` (which first removes leftovers of
    /// an earlier run), or `None` if nodes cannot be made here.
    fn up(nodes: u32, rate: &str, slots: u32) -> Option<Cluster> {
        let cluster = Cluster { prefix: prefix() };
        let output = cluster
            .script(&["up", &nodes.to_string(), rate, &slots.to_string()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() == Some(SKIP) {
            let required = std::env::var("MPITORRENT_CLUSTER_REQUIRED").is_ok_and(|v| v == "1");
            assert!(!required, "MPITORRENT_CLUSTER_REQUIRED=1, but: {stderr}");
            eprintln!("skipped: {}", stderr.trim());
            return None;
        }
        assert!(output.status.success(), "cluster.sh up failed: {stderr}");
        Some(cluster)
    }

    fn script(&self, args: &[&str]) -> Command {
        let mut command = Command::new("bash");
        command
            .arg(script())
            .args(args)
            .env("MPITORRENT_CLUSTER", &self.prefix);
        command
    }

    /// `cluster.sh run -np NP PROGRAM ARGS...` in `dir`, killed after the
    /// tests' time limit (the drop then clears what it leaves).
    fn run(&self, np: u32, dir: &Path, program: &Path, args: &[&str]) -> Output {
        let mut command = self.script(&["run", "-np", &np.to_string()]);
        command
            .arg(program)
            .args(args)
            .current_dir(dir)
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env(STRICT_SHUTDOWN, "1");
        let mut command = assert_cmd::Command::from_std(command);
        command.timeout(RUN_TIMEOUT);
        command.output().unwrap()
    }

    /// Bytes node `node` has sent into its link so far (its tbf's count).
    fn bytes_sent(&self, node: u32) -> u64 {
        let output = self
            .script(&[
                "exec",
                &node.to_string(),
                "tc",
                "-s",
                "qdisc",
                "show",
                "dev",
                "eth0",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        text.split_whitespace()
            .skip_while(|word| *word != "Sent")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no byte count in: {text}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.script(&["down"]).status();
    }
}

/// Bytes that differ from file to file and never repeat within one, so
/// that every segment has its own hash (a segment written at the wrong
/// place cannot compare equal).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn share_from_one_node_writes_exact_copies_on_the_others() {
    let Some(cluster) = Cluster::up(4, "1gbit", 1) else {
        return;
    };

    // The hostfile puts ranks 0 and 1 on n1, then rank r on n(r).
    let dir = tempfile::tempdir().unwrap();
    let output = cluster.run(5, dir.path(), Path::new("hostname"), &[]);
    assert!(output.status.success(), "{output:?}");
    let mut hosts: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    hosts.sort();
    let n = |i| format!("{}-n{i}", prefix());
    assert_eq!(
        hosts,
        [n(1), n(1), n(2), n(3), n(4)],
        "one hostname per node"
    );

    let files: [(&str, usize); 3] = [
        ("image.bin", 24 << 20),
        ("tree/part.bin", 3 << 20 | 12_345),
        ("tree/deep/small.txt", 17),
    ];
    let data = dir.path().join("data");
    for (i, (name, len)) in files.iter().enumerate() {
        let path = data.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, noise(*len, i as u64)).unwrap();
    }
    let total: usize = files.iter().map(|(_, len)| len).sum();
    let check = |ranks: std::ops::Range<u32>| {
        for rank in ranks {
            for (name, _) in files {
                let want = fs::read(data.join(name)).unwrap();
                let path = dir.path().join(format!("out/{rank}/{name}"));
                let got = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(got == want, "{} differs from data/{name}", path.display());
            }
        }
    };
    let sent_before = cluster.bytes_sent(1);

    let share: Vec<&str> = "share --from data --seeders 1 --to out/{rank}"
        .split(' ')
        .collect();
    let mpitorrent = assert_cmd::cargo::cargo_bin("mpitorrent");
    let mut with_report = share.clone();
    with_report.extend(["--report", "report.json"]);
    let output = cluster.run(5, dir.path(), &mpitorrent, &with_report);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    check(2..5);
    // Three receiving nodes form a chain (rank 1, the seeder, then 2, 3
    // and 4): each rank fetched everything from the one before it, where
    // trees would have had ranks 3 and 4 pass stripes to each other.
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    for peer in report["peers"].as_array().unwrap() {
        let rank = peer["rank"].as_u64().unwrap();
        let sources: Vec<&String> = peer["downloaded_from"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        if rank >= 2 {
            assert_eq!(sources, [&(rank - 1).to_string()], "rank {rank}: {peer}");
        }
    }
    // Ranks 2 to 4 are on other nodes: at least one copy left n1 through
    // its link, not through shared memory.
    let sent = cluster.bytes_sent(1) - sent_before;
    assert!(
        sent >= total as u64,
        "n1 sent {sent} bytes into its link for {total} bytes of files"
    );

    // Two ranks per node, a copy each (`{rank}`): ranks 0, 1 and 2 on n1,
    // 3 and 4 on n2, 5 and 6 on n3. A rank takes what its node-mate has
    // from it, so each node's link carries one copy, not two.
    drop(cluster);
    let cluster = Cluster::up(3, "1gbit", 2).expect("the cluster came up once already");
    fs::remove_dir_all(dir.path().join("out")).unwrap();
    fs::remove_file(dir.path().join("report.json")).unwrap();
    let output = cluster.run(7, dir.path(), &mpitorrent, &with_report);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    check(2..7);
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let copy: u64 = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["segments"].as_u64().unwrap())
        .sum();
    for node in report["nodes"].as_array().unwrap() {
        let (over_link, local) = (
            node["segments_in"].as_u64().unwrap(),
            node["segments_in_local"].as_u64().unwrap(),
        );
        if node["node"] == n(1) {
            assert_eq!(
                over_link, 0,
                "rank 2 takes everything from the seeder beside it: {node}"
            );
            continue;
        }
        assert_eq!(over_link + local, 2 * copy, "{node}");
        assert!(
            over_link <= copy + copy / 10,
            "{} segments came over the link of a node that needs one copy of {copy}: {node}",
            over_link
        );
    }
}
