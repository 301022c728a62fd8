//! The classic shapes in the simulator: the message counts the protocol
//! implies, whatever the timing.
//!
//! Every kind but NACK (and so SEGMENT_REQUEST) is fixed by the scenario:
//! one REGISTER, REGISTER_ACK, CLIENT_GOT_ALL_FILES, TERMINATE and STATS per
//! peer; one SWARM_REQUEST, SWARM_REPLY and SINGLE_FILE_DOWNLOAD_COMPLETED
//! per download; one ACK per segment downloaded; and, for the strategies
//! that update every 10 segments, one PEER_UPDATE (and SWARM_REFRESH) after
//! the 10th, 20th, ... segment of a download unless it was the last:
//! `floor((n - 1) / 10)` for a file of `n` segments. Real `mpirun` runs of
//! the same shapes give the same counts (the README's simulator section
//! shows them side by side); NACKs depend on who holds what when asked,
//! which is timing.

use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::shapes;
use mpitorrent_core::strategy::Strategy;
use mpitorrent_harness::Implied;
use mpitorrent_sim::SimConfig;
use std::collections::BTreeMap;

/// The counts of every kind the scenario fixes, by the classic name.
fn implied_counts(scenario: &Scenario) -> BTreeMap<&'static str, u64> {
    let implied = Implied::of(scenario);
    let (peers, downloads) = (implied.peers, implied.downloads.len() as u64);
    let (segments, updates) = (implied.segments(), implied.updates(10));
    BTreeMap::from([
        ("REGISTER", peers),
        ("REGISTER_ACK", peers),
        ("SWARM_REQUEST", downloads),
        ("SWARM_REPLY", downloads),
        ("PEER_UPDATE", updates),
        ("SWARM_REFRESH", updates),
        ("SINGLE_FILE_DOWNLOAD_COMPLETED", downloads),
        ("CLIENT_GOT_ALL_FILES", peers),
        ("ACK", segments),
        ("TERMINATE", peers),
        ("STATS", peers),
    ])
}

#[test]
fn classic_shapes_send_the_counts_the_protocol_implies() {
    for shape in shapes::classic() {
        let implied = implied_counts(&shape.scenario);
        for strategy in [
            Strategy::RoundRobin,
            Strategy::LeastLoaded,
            Strategy::RarestFirst,
        ] {
            for window in [1, 4, 8] {
                let config = SimConfig {
                    strategy,
                    window,
                    ..SimConfig::default()
                };
                let report = mpitorrent_sim::run(&shape.scenario, &config)
                    .unwrap_or_else(|e| panic!("{} {strategy} window {window}: {e}", shape.name));
                let by_kind = &report.messages.by_kind;
                for (&kind, &want) in &implied {
                    assert_eq!(
                        by_kind.get(kind).copied().unwrap_or(0),
                        want,
                        "{} {strategy} window {window}: {kind}; all: {by_kind:?}",
                        shape.name
                    );
                }
                let requests = by_kind.get("SEGMENT_REQUEST").copied().unwrap_or(0);
                assert_eq!(requests, implied["ACK"] + report.messages.nacks);
            }
        }
    }
}

/// With one request at a time, round-robin, as the classic protocol runs,
/// the simulator is exact to the message: its counts are pinned here
/// (NACKs included, which the model's timing fixes), so any change to the
/// protocol's traffic shows.
#[test]
fn classic_shapes_round_robin_window_1_is_pinned() {
    let pinned = [
        ("two-and-one", 20),
        ("five-trade-seven", 59),
        ("owning-nothing", 54),
        ("two-seeds-four-leechers", 311),
        ("wanting-nothing", 0),
    ];
    for (name, nacks) in pinned {
        let shape = shapes::by_name(name).unwrap();
        let config = SimConfig {
            strategy: Strategy::RoundRobin,
            window: 1,
            ..SimConfig::default()
        };
        let report = mpitorrent_sim::run(&shape.scenario, &config).unwrap();
        assert_eq!(report.messages.nacks, nacks, "{name}: {}", report.summary());
    }
}
