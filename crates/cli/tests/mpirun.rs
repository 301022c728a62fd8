//! The binary as users run it: under a real `mpirun` (Open MPI or MPICH), in a
//! folder of classic inputs, every output compared to the expectation.

mod common;

use common::*;
use mpitorrent_core::scenario::ScenarioParams;
use mpitorrent_core::shapes;
use std::fs;
use std::path::Path;

/// Runs `mpirun -np <ranks> mpitorrent` in a folder holding `shape` and
/// checks every output.
fn run_shape(shape: &shapes::Shape) {
    run_shape_with(shape, &[]);
}

/// [`run_shape`] with `mpitorrent run ARGS`.
fn run_shape_with(shape: &shapes::Shape, args: &[&str]) {
    let dir = hand_written(&shape.scenario);
    let mut command = mpirun(shape.scenario.ranks(), dir.path());
    if !args.is_empty() {
        command.arg("run").args(args);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{} {args:?}: {stderr}", shape.name);
    assert_outputs(dir.path(), &shape.scenario, shape.name);
}

#[test]
fn relay_under_mpirun() {
    // Relays serve segments they are still receiving, and batches wait
    // for them: across real threads and processes, every output exact.
    for shape in shapes::classic() {
        run_shape_with(&shape, &["--strategy", "relay", "--window", "8"]);
    }
    let large = shapes::by_name("large").unwrap();
    run_shape_with(&large, &["--strategy", "relay", "--window", "64"]);
}

#[test]
fn classic_shapes_under_mpirun() {
    for shape in shapes::classic() {
        run_shape(&shape);
    }
}

#[test]
fn large_swarm_under_mpirun() {
    // 16 ranks, 20 files of 2,000 segments, each wanted by 8 peers.
    let large = shapes::by_name("large").unwrap();
    let report = tempfile::tempdir().unwrap();
    let path = report.path().join("r.json");
    run_shape_with(&large, &["--report", path.to_str().unwrap()]);
    // A seed answers a batch of requests it holds in one pass: the ACKs
    // travel in bundles, each still an ACK of its own.
    let (protocol, transport) = messages_per_segment(&path);
    assert!(protocol < 1.5, "{protocol} messages per segment");
    assert!(
        transport < protocol / 2.0,
        "{transport} transport messages per segment"
    );
}

#[test]
fn the_seeds_protocol_under_mpirun_sends_every_message_alone() {
    // One request at a time: no two ACKs to one rank are ever ready
    // together, so nothing is bundled, message for message the seed's.
    let report = tempfile::tempdir().unwrap();
    let path = report.path().join("r.json");
    let shape = shapes::by_name("five-trade-seven").unwrap();
    let args = ["--strategy", "round-robin", "--window", "1", "--report"];
    run_shape_with(&shape, &[&args[..], &[path.to_str().unwrap()]].concat());
    let (protocol, transport) = messages_per_segment(&path);
    assert_eq!(protocol, transport);
}

/// The report's protocol and transport messages per segment.
fn messages_per_segment(report: &Path) -> (f64, f64) {
    let report: serde_json::Value = serde_json::from_slice(&fs::read(report).unwrap()).unwrap();
    let messages = &report["messages"];
    let per = |key: &str| {
        messages[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}: {report}"))
    };
    (per("per_segment"), per("transport_per_segment"))
}

#[test]
fn the_bundled_example_under_mpirun() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/classic");
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(&example).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    mpirun(4, dir.path()).assert().success();
    for entry in fs::read_dir(example.join("expected")).unwrap() {
        let entry = entry.unwrap();
        let want = fs::read_to_string(entry.path()).unwrap();
        let got = fs::read_to_string(dir.path().join(entry.file_name())).unwrap();
        assert_eq!(
            got.split_whitespace().collect::<Vec<_>>(),
            want.split_whitespace().collect::<Vec<_>>(),
            "{:?}",
            entry.file_name()
        );
    }
}

#[test]
fn run_with_explicit_folders_under_mpirun() {
    let (dir, scenario) = generated(&ScenarioParams {
        ranks: 5,
        files: 3,
        segments: 64,
        seeds_per_file: 1,
        wanters_per_file: 3,
        seed: 77,
    });
    let out = tempfile::tempdir().unwrap();
    mpirun(5, Path::new("/"))
        .arg("run")
        .arg("--input-dir")
        .arg(dir.path())
        .arg("--output-dir")
        .arg(out.path())
        .assert()
        .success();
    assert_outputs(out.path(), &scenario, "run --input-dir --output-dir");
}

#[test]
fn soak_twenty_generated_swarms_under_mpirun() {
    for seed in 0..20u64 {
        let params = ScenarioParams {
            ranks: 2 + (seed % 7) as u32,
            files: 1 + (seed % 4) as u32,
            segments: (seed * 13 % 120) as u32,
            seeds_per_file: 1 + (seed % 2) as u32,
            wanters_per_file: 1 + (seed % 5) as u32,
            seed,
        };
        let (dir, scenario) = generated(&params);
        let output = mpirun(params.ranks, dir.path())
            .args(["run", "--window", &(1 + seed % 4).to_string()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{params}: {stderr}");
        assert_outputs(dir.path(), &scenario, &params.to_string());
    }
}

/// The lines of `stderr` that are ours (not Open MPI's banners).
fn our_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("mpitorrent: error"))
        .collect()
}

#[test]
fn bad_input_under_mpirun_fails_once_with_the_rank_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("in1.txt"), "1\nf 2\naa\nbb\n0\n").unwrap();
    fs::write(dir.path().join("in2.txt"), "0\n1\nf\n").unwrap();
    fs::write(dir.path().join("in3.txt"), "1\ng x\n0\n").unwrap();
    let output = mpirun(4, dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors = our_errors(&stderr);
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("rank 3: in3.txt: line 2: expected the segment count of 'g'"),
        "{stderr}"
    );
    assert!(client_files(dir.path()).is_empty());
}

#[test]
fn one_rank_gets_a_usage_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = mpirun(1, dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs at least 2 MPI ranks"), "{stderr}");
    assert!(stderr.contains("mpitorrent local"), "{stderr}");
}

#[test]
fn started_without_mpirun_gets_a_usage_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = mpitorrent()
        .current_dir(dir.path())
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("mpirun -np 4 mpitorrent"), "{stderr}");
}

/// A scenario where rank 1 seeds a file that ranks 2 and 3 download.
fn one_seed_two_leechers() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let hashes: String = (0..300).map(|i| format!("h{i}\n")).collect();
    fs::write(dir.path().join("in1.txt"), format!("1\nf 300\n{hashes}0\n")).unwrap();
    fs::write(dir.path().join("in2.txt"), "0\n1\nf\n").unwrap();
    fs::write(dir.path().join("in3.txt"), "0\n1\nf\n").unwrap();
    dir
}

/// Rank 1 dies on the first segment request it gets. The job must end
/// with a failure, and must have really run until then: a leecher logs
/// that it registered before it asks rank 1 for anything, so a launcher
/// that fails to start the job cannot pass this test.
#[test]
fn a_killed_peer_ends_the_job_instead_of_hanging() {
    let dir = one_seed_two_leechers();
    let output = mpirun(4, dir.path())
        .env("MPITORRENT_FAULT", "crash-on-upload@1")
        .args(["run", "-v"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("peer{rank=2}: registered") || stderr.contains("peer{rank=3}: registered"),
        "the job did not run before the failure: {stderr}"
    );
    assert!(client_files(dir.path()).is_empty());
}

#[test]
fn a_stall_under_mpirun_aborts_with_who_waits() {
    let dir = one_seed_two_leechers();
    let output = mpirun(4, dir.path())
        .env("MPITORRENT_FAULT", "silent-upload@1")
        .args(["run", "--stall-timeout", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors = our_errors(&stderr);
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("no progress for 2 s"), "{stderr}");
    assert!(errors[0].contains("rank 3 waits for 'f'"), "{stderr}");
    assert!(client_files(dir.path()).is_empty());
}
