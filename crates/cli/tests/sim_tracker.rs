//! `mpitorrent sim --tracker-capacity`: the tracker handles so many
//! messages per tick and queues the rest. The JSON and the summary say how
//! busy it was and how long messages waited; a tracker with too little
//! capacity slows a paced swarm down; 0 is a tracker without a limit; an
//! absurd value is refused.

mod common;

use common::{mpitorrent, sim_refused, simulated};
use mpitorrent_sim::DEFAULT_TRACKER_CAPACITY;
use serde_json::Value;

/// A paced swarm of 200 peers (about 80 tracker messages per tick with a
/// free tracker) with `capacity`.
fn paced(capacity: Option<u64>) -> Value {
    let capacity = capacity.map(|c| c.to_string());
    let mut args = vec![
        "--peers",
        "200",
        "--segments",
        "300",
        "--strategy",
        "paced",
        "--seed",
        "7",
    ];
    if let Some(capacity) = &capacity {
        args.extend(["--tracker-capacity", capacity]);
    }
    simulated(&args)
}

/// The report without what this machine measured (wall time, memory).
fn deterministic(mut json: Value) -> Value {
    let object = json.as_object_mut().unwrap();
    object.remove("wall_seconds");
    object.remove("peak_rss_kib");
    json
}

#[test]
fn a_small_capacity_queues_messages_and_lengthens_a_paced_swarm() {
    let free = paced(Some(0));
    let busy = paced(Some(20));
    assert_eq!(free["settings"]["tracker_capacity"], 0);
    assert_eq!(free["tracker_utilization"], Value::Null, "{free}");
    let free_queue = &free["tracker_queue"];
    assert_eq!(free_queue["max_wait_ticks"], 0, "{free}");
    assert_eq!(free_queue["mean_wait_ticks"], 0.0, "{free}");
    assert_eq!(free_queue["longest_queue"], 0, "{free}");

    assert_eq!(busy["settings"]["tracker_capacity"], 20);
    let utilization = busy["tracker_utilization"].as_f64().unwrap();
    assert!(utilization > 0.5 && utilization <= 1.0, "{busy}");
    let queue = &busy["tracker_queue"];
    let mean = queue["mean_wait_ticks"].as_f64().unwrap();
    let max = queue["max_wait_ticks"].as_u64().unwrap();
    assert!(mean > 0.0 && max as f64 >= mean, "{busy}");
    assert!(queue["longest_queue"].as_u64().unwrap() > 20, "{busy}");
    let makespan = |json: &Value| json["makespan_ticks"].as_u64().unwrap();
    assert!(
        makespan(&busy) > makespan(&free),
        "capacity 20: {} ticks, a free tracker: {}",
        makespan(&busy),
        makespan(&free)
    );
    // Every segment still arrives, each checked against its hash.
    assert_eq!(busy["segments_downloaded"], free["segments_downloaded"]);
}

#[test]
fn the_default_capacity_is_the_measured_one_and_runs_repeat_exactly() {
    let first = paced(None);
    assert_eq!(
        first["settings"]["tracker_capacity"],
        DEFAULT_TRACKER_CAPACITY
    );
    assert!(first["tracker_utilization"].is_f64(), "{first}");
    let again = paced(Some(DEFAULT_TRACKER_CAPACITY));
    assert_eq!(deterministic(first), deterministic(again));
}

#[test]
fn the_summary_says_how_the_tracker_coped() {
    let run = |capacity: &str| {
        let output = mpitorrent()
            .args(["sim", "--peers", "50", "--segments", "50"])
            .args(["--strategy", "paced", "--tracker-capacity", capacity])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let busy = run("2");
    assert!(
        busy.contains("tracker: 2 messages per tick, 100% busy until the makespan"),
        "{busy}"
    );
    assert!(busy.contains("ticks on average, at most"), "{busy}");
    let free = run("0");
    assert!(
        free.contains("tracker: no capacity limit (--tracker-capacity 0)"),
        "{free}"
    );
}

#[test]
fn a_capacity_that_is_not_a_count_or_absurd_is_refused() {
    sim_refused(
        &["--tracker-capacity", "1000000001"],
        "--tracker-capacity 1000000001 is more messages per tick than any tracker handles: at \
         most 1000000000 (0: a tracker without a limit)",
    );
    sim_refused(
        &["--tracker-capacity", "18446744073709551616"],
        "invalid value '18446744073709551616' for '--tracker-capacity <M>'",
    );
    sim_refused(
        &["--tracker-capacity=-1"],
        "invalid value '-1' for '--tracker-capacity <M>'",
    );
    sim_refused(
        &["--tracker-capacity", "lots"],
        "invalid value 'lots' for '--tracker-capacity <M>'",
    );
}
