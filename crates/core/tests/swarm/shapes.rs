//! Hand-written classic shapes, each run over many delivery orders.

use crate::checks::run_ok;
use crate::harness::Outcome;
use mpitorrent_core::classic::{OwnedFile, PeerInput};
use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::{MessageKind, Rank};

/// Delivery seeds every hand-written shape is run with, at windows 1 and 4.
pub(crate) const HAND_SEEDS: std::ops::Range<u64> = 0..40;

/// An owned file with `segments` recognisable hashes.
pub(crate) fn owns(name: &str, segments: u32) -> OwnedFile {
    OwnedFile {
        name: name.into(),
        hashes: (0..segments)
            .map(|i| format!("{name}-segment-{i}"))
            .collect(),
    }
}

pub(crate) fn peer(owned: Vec<OwnedFile>, wanted: &[&str]) -> PeerInput {
    PeerInput {
        owned,
        wanted: wanted.iter().map(|w| w.to_string()).collect(),
    }
}

/// Runs a hand-written shape over many delivery orders and both windows.
pub(crate) fn run_hand_written(name: &str, inputs: Vec<PeerInput>) -> Vec<Outcome> {
    let scenario = Scenario::from_inputs(inputs);
    let mut outcomes = Vec::new();
    for window in [1, 4] {
        for seed in HAND_SEEDS {
            outcomes.push(run_ok(&scenario, window, seed, name));
        }
    }
    outcomes
}

#[test]
pub(crate) fn one_peer_owns_two_files_another_a_third_and_a_third_wants_all() {
    run_hand_written(
        "two owners, one leecher of everything",
        vec![
            peer(vec![owns("file1", 12), owns("file2", 25)], &[]),
            peer(vec![owns("file3", 31)], &[]),
            peer(vec![], &["file1", "file2", "file3"]),
        ],
    );
}

#[test]
pub(crate) fn five_peers_trade_seven_files_with_overlapping_owners() {
    run_hand_written(
        "five peers, seven files",
        vec![
            peer(vec![owns("f1", 12), owns("f2", 3)], &["f3", "f5", "f7"]),
            peer(vec![owns("f1", 12), owns("f3", 25)], &["f2", "f4", "f6"]),
            peer(vec![owns("f4", 10), owns("f5", 1)], &["f1", "f2", "f3"]),
            peer(
                vec![owns("f5", 1), owns("f6", 31), owns("f7", 7)],
                &["f1", "f4"],
            ),
            peer(
                vec![owns("f2", 3), owns("f7", 7)],
                &["f1", "f3", "f4", "f5", "f6"],
            ),
        ],
    );
}

#[test]
pub(crate) fn peers_owning_nothing_download_and_pass_segments_on() {
    run_hand_written(
        "peers owning nothing",
        vec![
            peer(vec![owns("big", 45)], &[]),
            peer(vec![], &["big"]),
            peer(vec![], &["big"]),
            peer(vec![], &[]),
        ],
    );
}

#[test]
pub(crate) fn two_seeds_of_one_file_and_four_leechers() {
    let outcomes = run_hand_written(
        "two seeds, four leechers",
        vec![
            peer(vec![owns("movie", 40)], &[]),
            peer(vec![owns("movie", 40)], &[]),
            peer(vec![], &["movie"]),
            peer(vec![], &["movie"]),
            peer(vec![], &["movie"]),
            peer(vec![], &["movie"]),
        ],
    );
    // Leechers that reported segments are asked too, so over many runs the
    // two seeds should not have served every segment.
    let from_leechers: u64 = outcomes
        .iter()
        .flat_map(|o| (3..=6).map(|r| o.count_by(Rank(r), MessageKind::SegmentAck)))
        .sum();
    assert!(from_leechers > 0, "leechers never served a segment");
}

#[test]
pub(crate) fn peers_wanting_nothing_terminate_at_once() {
    for outcome in run_hand_written(
        "nobody wants anything",
        vec![
            peer(vec![owns("a", 3)], &[]),
            peer(vec![owns("b", 2), owns("a", 3)], &[]),
            peer(vec![], &[]),
        ],
    ) {
        assert_eq!(outcome.count(MessageKind::SegmentRequest), 0);
    }
}

#[test]
pub(crate) fn a_peer_wanting_a_file_it_owns_writes_it_from_its_own_copy() {
    for outcome in run_hand_written(
        "wants what it owns",
        vec![
            peer(vec![owns("mine", 15)], &["mine"]),
            peer(vec![owns("other", 4)], &["mine"]),
        ],
    ) {
        assert_eq!(outcome.count_by(Rank(1), MessageKind::SwarmRequest), 0);
        assert_eq!(outcome.count_by(Rank(1), MessageKind::SegmentRequest), 0);
    }
}

#[test]
pub(crate) fn a_file_of_zero_segments_completes() {
    run_hand_written(
        "zero segments",
        vec![
            peer(vec![owns("empty", 0), owns("full", 3)], &[]),
            peer(vec![], &["empty", "full"]),
            peer(vec![owns("empty", 0)], &["full", "empty"]),
        ],
    );
}

#[test]
pub(crate) fn a_single_peer_alone_with_the_tracker() {
    run_hand_written("one peer", vec![peer(vec![owns("solo", 5)], &["solo"])]);
}
