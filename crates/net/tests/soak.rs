//! Soak: 200 generated swarms in a row on the in-process transport (real
//! threads, real channels, the real drivers), every output exact, each run
//! under a timeout so a hang fails with its seed instead of stalling CI.

use mpitorrent_core::scenario::{Scenario, ScenarioParams};
use mpitorrent_core::strategy::Strategy;
use mpitorrent_net::job::{run_local_job, JobConfig};
use mpitorrent_net::peer::PeerOptions;
use std::fs;
use std::sync::mpsc;
use std::time::Duration;

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn params(seed: u64) -> ScenarioParams {
    ScenarioParams {
        ranks: 2 + (seed % 11) as u32,
        files: 1 + (seed % 6) as u32,
        segments: (seed * 37 % 150) as u32,
        seeds_per_file: 1 + (seed % 3) as u32,
        wanters_per_file: (seed % 7) as u32,
        seed,
    }
}

/// Runs one scenario to the end and checks every output file.
fn run_one(seed: u64) -> Result<(), String> {
    let params = params(seed);
    let scenario = Scenario::generate(&params).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for (relative, contents) in scenario.files() {
        let path = dir.path().join(relative);
        fs::create_dir_all(path.parent().unwrap()).map_err(|e| e.to_string())?;
        fs::write(path, contents).map_err(|e| e.to_string())?;
    }
    let job = JobConfig {
        input_dir: dir.path().into(),
        output_dir: dir.path().into(),
        peer: PeerOptions {
            window: 1 + (seed % 5) as u32,
            strategy: Strategy::ALL[seed as usize % Strategy::ALL.len()],
            ..PeerOptions::default()
        },
        stall_timeout: Some(Duration::from_secs(30)),
        swarm_sample: (seed % 2 == 1).then_some(2),
        share: None,
        refuse: None,
    };
    let ended = run_local_job(params.ranks, &job, &mut |_, _| {});
    for outcome in ended.outcomes {
        outcome.map_err(|e| format!("{params}: {e}"))?;
    }
    if !ended.unreceived.is_empty() {
        return Err(format!("{params}: never received: {:?}", ended.unreceived));
    }
    let mut written = 0;
    for entry in fs::read_dir(dir.path()).map_err(|e| e.to_string())? {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        written += name.to_string_lossy().starts_with("client") as usize;
    }
    let expected = scenario.expected_outputs();
    if written != expected.len() {
        return Err(format!(
            "{params}: {written} outputs, expected {}",
            expected.len()
        ));
    }
    for output in expected {
        let path = dir
            .path()
            .join(format!("client{}_{}", output.rank, output.file));
        let got = fs::read_to_string(&path).map_err(|e| format!("{params}: {e}"))?;
        if got != output.content {
            return Err(format!("{params}: {} differs", path.display()));
        }
    }
    Ok(())
}

#[test]
fn two_hundred_swarms_in_a_row() {
    for seed in 0..200 {
        let (done, result) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(run_one(seed));
        });
        match result.recv_timeout(RUN_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => panic!("seed {seed}: {failure}"),
            Err(_) => panic!("seed {seed}: {} hung for {RUN_TIMEOUT:?}", params(seed)),
        }
    }
}
