//! Generated scenarios over many seeds, with every strategy; a run
//! repeated must be the same.

use crate::checks::{run, run_ok_with};
use crate::harness::Drive;
use mpitorrent_core::scenario::{Scenario, ScenarioParams};
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::MessageKind;
use mpitorrent_harness::{draw_shape, seeds_from_env};
use std::collections::BTreeMap;

/// Generated seeds: 0..200; `SWARM_SEED=<n>` runs only seed n (to replay a
/// failure) and `SWARM_SEEDS=<n>` runs 0..n (for a longer soak).
pub(crate) fn generated_seeds() -> Vec<u64> {
    seeds_from_env("SWARM_SEED", "SWARM_SEEDS", 200)
}

/// Whether one seed is being replayed (`SWARM_SEED`).
fn replaying() -> bool {
    std::env::var_os("SWARM_SEED").is_some()
}

/// The swarm shape for a test seed (see [`draw_shape`]), on stream 1.
pub(crate) fn generated_params(seed: u64) -> ScenarioParams {
    draw_shape(seed, 1).0
}

/// Runs every generated seed at `window`; returns the message counts summed
/// over all runs, to show which paths the seeds reached.
pub(crate) fn run_generated(window: u32) -> BTreeMap<MessageKind, u64> {
    run_generated_with(window, Strategy::RoundRobin, None)
}

/// [`run_generated`] with any strategy and swarm sample.
pub(crate) fn run_generated_with(
    window: u32,
    strategy: Strategy,
    sample: Option<usize>,
) -> BTreeMap<MessageKind, u64> {
    let mut totals = BTreeMap::new();
    for seed in generated_seeds() {
        let params = generated_params(seed);
        let scenario =
            Scenario::generate(&params).unwrap_or_else(|e| panic!("seed {seed}: {params}: {e}"));
        let label = format!(
            "generated seed {seed}: {params}; replay: SWARM_SEED={seed} \
             cargo test -p mpitorrent-core --test swarm generated"
        );
        let drive = Drive {
            window,
            strategy,
            sample,
            seed,
            expect_abort: false,
        };
        let outcome = run_ok_with(&scenario, drive, &label);
        // The same seed must give the same run, message for message
        // (checked on every fourth seed, or the one replayed, to keep the
        // suite's time).
        if seed % 4 == 0 || replaying() {
            let again = run(&scenario, drive, &label);
            assert!(outcome == again, "[{label}] a second run differs");
        }
        for (kind, count) in outcome.sent {
            *totals.entry(kind).or_default() += count;
        }
    }
    totals
}

/// The generated seeds must reach the interesting paths: NACKs from partial
/// owners, PEER_UPDATE and its refresh (skipped when replaying one seed).
pub(crate) fn assert_paths_covered(totals: &BTreeMap<MessageKind, u64>) {
    if replaying() {
        return;
    }
    for kind in [
        MessageKind::SegmentNack,
        MessageKind::PeerUpdate,
        MessageKind::SwarmRefresh,
    ] {
        assert!(
            totals.get(&kind).copied().unwrap_or(0) > 0,
            "no {} in any run: {totals:?}",
            kind.name()
        );
    }
}

#[test]
pub(crate) fn generated_swarms_one_request_at_a_time() {
    assert_paths_covered(&run_generated(1));
}

#[test]
pub(crate) fn generated_swarms_with_a_window_of_four() {
    assert_paths_covered(&run_generated(4));
}

#[test]
pub(crate) fn generated_swarms_least_loaded() {
    assert_paths_covered(&run_generated_with(4, Strategy::LeastLoaded, None));
}

#[test]
pub(crate) fn generated_swarms_rarest_first_with_a_sampled_swarm() {
    run_generated_with(4, Strategy::RarestFirst, Some(2));
    run_generated_with(1, Strategy::RarestFirst, None);
}

#[test]
pub(crate) fn generated_swarms_paced() {
    run_generated_with(8, Strategy::Paced, Some(2));
    run_generated_with(4, Strategy::Paced, None);
}

#[test]
pub(crate) fn generated_swarms_relay() {
    run_generated_with(8, Strategy::Relay, Some(2));
    run_generated_with(4, Strategy::Relay, None);
}

#[test]
pub(crate) fn generated_swarms_tree() {
    run_generated_with(64, Strategy::Tree, Some(2));
    run_generated_with(4, Strategy::Tree, None);
    run_generated_with(1, Strategy::Tree, None);
}

#[test]
pub(crate) fn generated_shapes_cover_the_corners() {
    let all: Vec<ScenarioParams> = (0..200).map(generated_params).collect();
    assert!(all.iter().any(|p| p.ranks == 2));
    assert!(all.iter().any(|p| p.ranks == 12));
    assert!(all.iter().any(|p| p.segments == 0));
    assert!(all.iter().any(|p| p.wanters_per_file == 0));
    assert!(all
        .iter()
        .any(|p| p.seeds_per_file == 3 && p.wanters_per_file == 5));
}
