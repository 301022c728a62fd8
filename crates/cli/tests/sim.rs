//! `mpitorrent sim` as a user runs it: the broadcast and scenario-folder
//! forms, text and JSON, repeatability across processes, clear errors, and
//! the message counts of the classic shapes against real `mpirun` runs.

mod common;

use common::{mpirun, mpitorrent, write_scenario};
use mpitorrent_core::shapes;
use predicates::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Runs `mpitorrent sim <args> --json` and parses what it prints.
fn sim_json(args: &[&str]) -> Value {
    let output = mpitorrent()
        .arg("sim")
        .args(args)
        .arg("--json")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&output).expect("one JSON object on stdout")
}

#[test]
fn a_broadcast_reports_its_makespan_against_the_bound() {
    let json = sim_json(&[
        "--peers",
        "40",
        "--segments",
        "60",
        "--strategy",
        "paced",
        "--seed",
        "7",
    ]);
    assert_eq!(json["seed"], 7);
    assert_eq!(json["peers"], 40);
    // 60 segments to 39 others: 60 + ceil(log2(40)) - 1.
    assert_eq!(json["lower_bound_ticks"], 65);
    let makespan = json["makespan_ticks"].as_u64().unwrap();
    assert!(makespan >= 65, "{json}");
    let ratio = json["ratio_to_bound"].as_f64().unwrap();
    assert!((ratio - makespan as f64 / 65.0).abs() < 1e-9);
    assert_eq!(json["messages"]["by_kind"]["ACK"], 39 * 60);
    assert!(json["fairness"]["min"].as_f64().unwrap() > 0.0);
    assert!(json["wall_seconds"].as_f64().is_some() && json["peak_rss_kib"].as_u64().is_some());
}

/// Sampled owner lists (`--swarm-sample`) change at every refresh, but
/// each holds a seed that stays: a segment whose requests were refused by
/// owners since dropped from the list is not "refused by every owner".
/// These runs once ended in "no owner ... could send segment".
#[test]
fn sampled_owner_lists_never_lose_the_seed() {
    for strategy in ["round-robin", "least-loaded"] {
        for seed in ["0", "1", "7"] {
            let json = sim_json(&[
                "--peers",
                "100",
                "--segments",
                "100",
                "--swarm-sample",
                "10",
                "--update-every",
                "3",
                "--latency",
                "2",
                "--tracker-capacity",
                "0",
                "--strategy",
                strategy,
                "--seed",
                seed,
            ]);
            assert_eq!(
                json["messages"]["by_kind"]["ACK"],
                99 * 100,
                "{strategy} {seed}"
            );
        }
    }
}

#[test]
fn the_text_summary_names_the_seed_and_the_numbers() {
    mpitorrent()
        .args(["sim", "--peers", "12", "--segments", "20", "--seed", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("seed 3]"))
        .stdout(predicate::str::contains("makespan: "))
        .stdout(predicate::str::contains("lower bound 23 ticks"))
        .stdout(predicate::str::contains("SWARM_REQUEST 11"))
        .stdout(predicate::str::contains("fairness (Jain"));
}

#[test]
fn the_same_seed_gives_the_same_result_in_another_process() {
    let args = [
        "--peers",
        "30",
        "--segments",
        "25",
        "--slow-fraction",
        "0.2",
        "--late-fraction",
        "0.1",
        "--late-by",
        "9",
        "--leave-fraction",
        "0.5",
        "--seed",
        "11",
    ];
    let strip = |mut json: Value| {
        let object = json.as_object_mut().unwrap();
        object.remove("wall_seconds");
        object.remove("peak_rss_kib");
        json
    };
    let first = strip(sim_json(&args));
    assert_eq!(first, strip(sim_json(&args)));
    assert_eq!(first["leaving_peers"], 15);
    let other = strip(sim_json(&[&args[..12], &["--seed", "12"]].concat()));
    assert_ne!(first, other, "another seed, another run");
}

#[test]
fn a_scenario_folder_runs_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    write_scenario(
        dir.path(),
        &shapes::by_name("five-trade-seven").unwrap().scenario,
    );
    let json = sim_json(&["--scenario", dir.path().to_str().unwrap()]);
    assert_eq!(json["peers"], 5);
    assert_eq!(json["files"], 7);
    assert!(
        json["lower_bound_ticks"].is_null(),
        "several files: no bound"
    );
    let report = dir.path().join("run.json");
    mpitorrent()
        .args(["sim", "--scenario"])
        .arg(dir.path())
        .arg("--report")
        .arg(&report)
        .assert()
        .success()
        .stdout(predicate::str::contains("no lower bound for several files"));
    let run: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    assert_eq!(run["settings"]["transport"], "sim");
    assert_eq!(run["peers"].as_array().unwrap().len(), 5);
}

#[test]
fn bad_arguments_and_runaway_runs_fail_with_one_clear_line() {
    mpitorrent()
        .args(["sim", "--peers", "3", "--seeds", "4"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("the seeds must be 1 to 3"));
    mpitorrent()
        .args(["sim", "--scenario", "/nonexistent/folder"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is not a folder"));
    mpitorrent()
        .args(["sim"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--peers"));
    mpitorrent()
        .args([
            "sim",
            "--peers",
            "5",
            "--segments",
            "50",
            "--max-ticks",
            "20",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("still running at tick 20"))
        .stderr(predicate::str::contains("waits for 'file1'"))
        .stderr(predicate::str::contains("seed 0"));
}

/// The kinds whose counts the protocol fixes (see the simulator's
/// `tests/classic.rs`); NACKs depend on timing.
const DETERMINED: [&str; 9] = [
    "REGISTER",
    "REGISTER_ACK",
    "SWARM_REQUEST",
    "SWARM_REPLY",
    "PEER_UPDATE",
    "SWARM_REFRESH",
    "SINGLE_FILE_DOWNLOAD_COMPLETED",
    "CLIENT_GOT_ALL_FILES",
    "ACK",
];

fn determined(by_kind: &Value) -> BTreeMap<&'static str, u64> {
    DETERMINED
        .iter()
        .map(|&kind| (kind, by_kind[kind].as_u64().unwrap_or(0)))
        .collect()
}

/// `mpirun ... run --strategy round-robin --window 1 --report` in `dir`.
fn mpirun_counts(dir: &Path, ranks: u32) -> Value {
    mpirun(ranks, dir)
        .args([
            "run",
            "--strategy",
            "round-robin",
            "--window",
            "1",
            "--report",
            "report.json",
            "--quiet",
        ])
        .assert()
        .success();
    let report = std::fs::read_to_string(dir.join("report.json")).unwrap();
    serde_json::from_str::<Value>(&report).unwrap()["messages"]["by_kind"].clone()
}

#[test]
fn classic_shapes_count_like_real_mpirun_runs() {
    for shape in shapes::classic() {
        let dir = tempfile::tempdir().unwrap();
        write_scenario(dir.path(), &shape.scenario);
        let real = mpirun_counts(dir.path(), shape.scenario.ranks());
        let sim = sim_json(&[
            "--scenario",
            dir.path().to_str().unwrap(),
            "--strategy",
            "round-robin",
            "--window",
            "1",
        ]);
        assert_eq!(
            determined(&real),
            determined(&sim["messages"]["by_kind"]),
            "{}: mpirun {real} / sim {}",
            shape.name,
            sim["messages"]["by_kind"]
        );
    }
}
