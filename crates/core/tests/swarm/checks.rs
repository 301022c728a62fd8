//! Running a scenario to its end, and what is checked of every run: the
//! outputs, the termination, and that the message counts add up.

use crate::harness::{Drive, Outcome, Swarm};
use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::tracker::TrackerEvent;
use mpitorrent_core::{MessageKind, Rank};
use std::collections::{BTreeMap, BTreeSet};

/// What the scenario implies the traffic must add up to.
pub(crate) struct Shape {
    peers: u64,
    /// Distinct files anyone owns.
    files: u64,
    /// (peer, file) pairs that must be downloaded (wanted, not owned).
    downloads: u64,
    /// Segments in those downloads: each must be ACKed exactly once.
    segments: u64,
}

pub(crate) fn shape(scenario: &Scenario) -> Shape {
    let files: BTreeSet<&str> = scenario
        .inputs
        .iter()
        .flat_map(|input| input.owned.iter().map(|f| f.name.as_str()))
        .collect();
    let (mut downloads, mut segments) = (0, 0);
    for input in &scenario.inputs {
        for name in &input.wanted {
            if input.owned.iter().all(|f| &f.name != name) {
                downloads += 1;
                segments += scenario.hashes_of(name).map_or(0, |h| h.len() as u64);
            }
        }
    }
    Shape {
        peers: scenario.inputs.len() as u64,
        files: files.len() as u64,
        downloads,
        segments,
    }
}

/// Runs a scenario to the end under `drive`, with a step bound that only a
/// livelock can reach.
pub(crate) fn run(scenario: &Scenario, drive: Drive, label: &str) -> Outcome {
    let label = format!(
        "[{label}; delivery seed {}, window {}]",
        drive.seed, drive.window
    );
    let shape = shape(scenario);
    let max_steps = 10_000 + 100 * shape.segments + 50 * shape.peers * (shape.files + 1);
    Swarm::new(scenario, drive, label).run(max_steps)
}

/// Runs a scenario that must succeed and checks everything a user and the
/// protocol expect of it.
pub(crate) fn run_ok(scenario: &Scenario, window: u32, seed: u64, label: &str) -> Outcome {
    let drive = Drive {
        window,
        strategy: Strategy::RoundRobin,
        sample: None,
        seed,
        expect_abort: false,
    };
    run_ok_with(scenario, drive, label)
}

/// [`run_ok`] with any strategy and swarm sample.
pub(crate) fn run_ok_with(scenario: &Scenario, drive: Drive, label: &str) -> Outcome {
    let outcome = run(scenario, drive, label);
    let fail = |what: String| -> ! {
        panic!(
            "[{label}; delivery seed {}, window {}, {}, sample {:?}]\n  {what}",
            drive.seed, drive.window, drive.strategy, drive.sample
        )
    };
    check_outputs(scenario, &outcome).unwrap_or_else(|e| fail(e));
    check_termination(scenario, &outcome).unwrap_or_else(|e| fail(e));
    check_traffic(scenario, &outcome, drive.strategy).unwrap_or_else(|e| fail(e));
    outcome
}

/// Every expected output was produced with the right content, and nothing else.
pub(crate) fn check_outputs(scenario: &Scenario, outcome: &Outcome) -> Result<(), String> {
    let expected: BTreeMap<(Rank, String), String> = scenario
        .expected_outputs()
        .into_iter()
        .map(|out| ((out.rank, out.file), out.content))
        .collect();
    let mut problems = Vec::new();
    for (key, content) in &expected {
        match outcome.outputs.get(key) {
            None => problems.push(format!("missing output: rank {} '{}'", key.0, key.1)),
            Some(got) if got != content => problems.push(format!(
                "wrong output: rank {} '{}': expected {content:?}, got {got:?}",
                key.0, key.1
            )),
            Some(_) => {}
        }
    }
    for key in outcome
        .outputs
        .keys()
        .filter(|k| !expected.contains_key(*k))
    {
        problems.push(format!("unexpected output: rank {} '{}'", key.0, key.1));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}

/// The tracker terminated the job and every peer finished and stopped.
pub(crate) fn check_termination(scenario: &Scenario, outcome: &Outcome) -> Result<(), String> {
    if !outcome.tracker_events.contains(&TrackerEvent::Terminated) {
        return Err(format!(
            "the tracker never terminated the job; its events: {:?}",
            outcome.tracker_events
        ));
    }
    for (rank, _) in scenario.peers() {
        if !outcome.finished.contains(&rank) {
            return Err(format!("rank {rank}'s downloader never finished"));
        }
        if !outcome.terminated.contains(&rank) || !outcome.stopped.contains(&rank) {
            return Err(format!("rank {rank}'s uploader never got TERMINATE"));
        }
    }
    Ok(())
}

/// Message counts add up: one registration, swarm request, completion and
/// TERMINATE each; every segment ACKed once; PEER_UPDATE at most every ten
/// segments (except with `paced`, which asks the tracker for work whenever
/// half its window is free, so its updates follow the swarm, not a count).
pub(crate) fn check_traffic(
    scenario: &Scenario,
    outcome: &Outcome,
    strategy: Strategy,
) -> Result<(), String> {
    use MessageKind::*;
    let shape = shape(scenario);
    let acks = outcome.count(SegmentAck);
    let exact = [
        (Register, shape.peers),
        (RegisterAck, shape.peers),
        (SwarmRequest, shape.downloads),
        (SwarmReply, shape.downloads),
        (FileCompleted, shape.downloads),
        (AllFilesCompleted, shape.peers),
        (Terminate, shape.peers),
        (Abort, 0),
        (SegmentAck, shape.segments),
        (SegmentRequest, acks + outcome.count(SegmentNack)),
        (SwarmRefresh, outcome.count(PeerUpdate)),
    ];
    for (kind, expected) in exact {
        let got = outcome.count(kind);
        if got != expected {
            return Err(format!(
                "sent {got} {} where {expected} were expected; all counts: {:?}",
                kind.name(),
                outcome.sent
            ));
        }
    }
    let updates = outcome.count(PeerUpdate);
    if strategy != Strategy::Paced && updates > acks / 10 + shape.files {
        return Err(format!(
            "{updates} PEER_UPDATEs for {acks} downloaded segments of {} files",
            shape.files
        ));
    }
    Ok(())
}
