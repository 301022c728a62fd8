//! The whole binary on the in-process transport (`mpitorrent local`): many
//! generated scenarios, every output checked.

mod common;

use common::*;
use mpitorrent_core::scenario::ScenarioParams;

fn run_local(params: &ScenarioParams, window: u32) {
    let (dir, scenario) = generated(params);
    let context = format!("{params} window={window}");
    mpitorrent()
        .current_dir(dir.path())
        .args(["local", "--ranks", &params.ranks.to_string()])
        .args(["--window", &window.to_string()])
        .assert()
        .success();
    assert_outputs(dir.path(), &scenario, &context);
}

#[test]
fn generated_scenarios_are_exact() {
    for seed in 0..24 {
        let ranks = 2 + (seed % 9) as u32;
        let p = ScenarioParams::new(
            ranks,
            1 + (seed % 5) as u32,
            (seed * 7 % 90) as u32,
            1 + (seed % 3) as u32,
            1 + (seed % 4) as u32,
            seed,
        );
        run_local(&p, 1);
    }
}

#[test]
fn windows_of_several_requests_are_exact() {
    for seed in 100..112 {
        let p = ScenarioParams::new(7, 4, 83, 2, 4, seed);
        run_local(&p, 1 + (seed % 8) as u32);
    }
}

#[test]
fn explicit_input_and_output_folders() {
    let (dir, scenario) = generated(&ScenarioParams::new(5, 3, 40, 1, 2, 9));
    let out = tempfile::tempdir().unwrap();
    mpitorrent()
        .args(["local", "--ranks", "5", "--input-dir"])
        .arg(dir.path())
        .arg("--output-dir")
        .arg(out.path())
        .assert()
        .success();
    assert_outputs(out.path(), &scenario, "explicit folders");
    assert!(
        client_files(dir.path()).is_empty(),
        "nothing written beside the inputs"
    );
}

#[test]
fn large_files_and_many_files_per_peer() {
    // 100,000 segments in one file, and a peer with 1,000 files: no caps.
    run_local(&ScenarioParams::new(3, 1, 100_000, 1, 1, 5), 8);
    run_local(&ScenarioParams::new(3, 1000, 3, 1, 1, 6), 4);
}
