//! Scenarios the tracker must abort: every peer is told, nothing is
//! downloaded.

use crate::checks::run;
use crate::harness::Drive;
use crate::shapes::{owns, peer};
use mpitorrent_core::classic::PeerInput;
use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::tracker::TrackerEvent;
use mpitorrent_core::MessageKind;

/// Runs a scenario the tracker must abort; checks that every peer got the
/// abort and that nothing was downloaded. Returns the tracker's reason.
pub(crate) fn run_abort(name: &str, inputs: Vec<PeerInput>, seed: u64) -> String {
    let scenario = Scenario::from_inputs(inputs);
    let drive = Drive {
        window: 1,
        strategy: Strategy::RoundRobin,
        sample: None,
        seed,
        expect_abort: true,
    };
    let outcome = run(&scenario, drive, name);
    let context = format!("[{name}; delivery seed {seed}]");
    let reasons: Vec<&String> = outcome
        .tracker_events
        .iter()
        .filter_map(|e| match e {
            TrackerEvent::Aborted { reason } => Some(reason),
            _ => None,
        })
        .collect();
    let [reason] = reasons[..] else {
        panic!(
            "{context} expected one tracker abort, got {:?}",
            outcome.tracker_events
        );
    };
    for (rank, _) in scenario.peers() {
        assert_eq!(
            outcome.aborts.get(&rank),
            Some(reason),
            "{context} rank {rank}"
        );
        assert!(
            outcome.stopped.contains(&rank),
            "{context} rank {rank} still serving"
        );
    }
    assert_eq!(outcome.completed, 0, "{context} outputs were written");
    for kind in [
        MessageKind::RegisterAck,
        MessageKind::Terminate,
        MessageKind::SegmentRequest,
    ] {
        assert_eq!(outcome.count(kind), 0, "{context} sent {}", kind.name());
    }
    reason.clone()
}

#[test]
pub(crate) fn a_wanted_file_nobody_owns_aborts_every_peer() {
    for seed in 0..20 {
        let reason = run_abort(
            "wanted file nobody owns",
            vec![
                peer(vec![owns("real", 4)], &[]),
                peer(vec![], &["real", "ghost"]),
                peer(vec![], &[]),
            ],
            seed,
        );
        assert_eq!(reason, "rank 2 wants file 'ghost', which no rank owns");
    }
}

#[test]
pub(crate) fn conflicting_listings_abort_every_peer() {
    let mut other = owns("shared", 3);
    other.hashes[1] = "tampered".into();
    for seed in 0..20 {
        let reason = run_abort(
            "conflicting listings",
            vec![
                peer(vec![owns("shared", 3)], &[]),
                peer(vec![other.clone()], &[]),
                peer(vec![], &["shared"]),
            ],
            seed,
        );
        assert!(reason.contains("ranks 1 and 2"), "seed {seed}: {reason}");
    }
}
