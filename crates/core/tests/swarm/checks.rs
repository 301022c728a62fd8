//! Running a scenario to its end, and what is checked of every run: the
//! outputs, the termination, and that the message counts add up (the
//! checks themselves are `mpitorrent-harness`'s, shared with the
//! simulator).

use crate::harness::{Drive, Outcome, Swarm};
use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::tracker::TrackerEvent;
use mpitorrent_core::MessageKind;
use mpitorrent_harness::{check_counts, Implied};

/// Runs a scenario to the end under `drive`, with a step bound that only a
/// livelock can reach.
pub(crate) fn run(scenario: &Scenario, drive: Drive, label: &str) -> Outcome {
    let label = format!(
        "[{label}; delivery seed {}, window {}]",
        drive.seed, drive.window
    );
    let implied = Implied::of(scenario);
    let max_steps = 10_000 + 100 * implied.segments() + 50 * implied.peers * (implied.files + 1);
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
    check_outputs(&outcome).unwrap_or_else(|e| fail(e));
    check_termination(scenario, &outcome).unwrap_or_else(|e| fail(e));
    check_traffic(scenario, &outcome, drive.strategy).unwrap_or_else(|e| fail(e));
    outcome
}

/// Every expected output was produced (each was checked exact as it was
/// completed, see [`mpitorrent_harness::Outputs`]).
pub(crate) fn check_outputs(outcome: &Outcome) -> Result<(), String> {
    match &outcome.missing {
        None => Ok(()),
        Some(missing) => Err(missing.clone()),
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

/// Message counts add up (see [`mpitorrent_harness::check_counts`]; the
/// peers' STATS against the tracker's and this driver's counts were checked
/// at the end of the run), and PEER_UPDATE at most every ten segments
/// (except with `paced` and `relay`, which ask the tracker for work whenever
/// half their window is free, so their updates follow the swarm, not a
/// count).
pub(crate) fn check_traffic(
    scenario: &Scenario,
    outcome: &Outcome,
    strategy: Strategy,
) -> Result<(), String> {
    let implied = Implied::of(scenario);
    check_counts(&implied, |kind| outcome.count(kind), false)
        .map_err(|e| format!("{e}; all counts: {:?}", outcome.sent))?;
    let acks = outcome.count(MessageKind::SegmentAck);
    let updates = outcome.count(MessageKind::PeerUpdate);
    let asks_for_work = matches!(strategy, Strategy::Paced | Strategy::Relay);
    if !asks_for_work && updates > acks / 10 + implied.files {
        return Err(format!(
            "{updates} PEER_UPDATEs for {acks} downloaded segments of {} files",
            implied.files
        ));
    }
    Ok(())
}
