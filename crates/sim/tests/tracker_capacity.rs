//! The tracker's capacity in whole runs: without a limit nothing waits;
//! with a limit far above the load, the run is the free tracker's, message
//! for message; with a small one, messages queue, the tracker is busy and
//! the swarm takes longer, deterministically.

use mpitorrent_core::strategy::Strategy;
use mpitorrent_sim::{broadcast, SimConfig, SimReport, MAX_TRACKER_CAPACITY};

/// A paced broadcast of 100 peers x 100 segments at `capacity`.
fn paced(capacity: u64) -> SimReport {
    let scenario = broadcast(100, 100, 1, 3).unwrap();
    let config = SimConfig {
        strategy: Strategy::Paced,
        seed: 3,
        tracker_capacity: capacity,
        ..SimConfig::default()
    };
    mpitorrent_sim::run(&scenario, &config).unwrap()
}

#[test]
fn a_free_tracker_keeps_no_one_waiting() {
    let free = paced(0);
    assert_eq!(free.tracker_utilization, None);
    let queue = &free.tracker_queue;
    assert_eq!(
        (
            queue.mean_wait_ticks,
            queue.max_wait_ticks,
            queue.longest_queue
        ),
        (0.0, 0, 0)
    );
    assert!(free.summary().contains("no capacity limit"));
}

#[test]
fn a_capacity_above_the_load_is_the_free_tracker() {
    let (free, ample) = (paced(0), paced(MAX_TRACKER_CAPACITY));
    assert_eq!(ample.tracker_queue.max_wait_ticks, 0);
    assert!(ample.tracker_utilization.unwrap() < 1e-3);
    assert_eq!(free.makespan_ticks, ample.makespan_ticks);
    assert_eq!(free.messages, ample.messages);
    assert_eq!(free.run, ample.run, "the same run, message for message");
}

#[test]
fn a_small_capacity_queues_and_slows_the_swarm_the_same_way_each_time() {
    let free = paced(0);
    let slow = paced(3);
    // 100 REGISTERs arrive at tick 1: the last one is handled 33 ticks on.
    assert!(
        slow.tracker_queue.max_wait_ticks >= 33,
        "{}",
        slow.summary()
    );
    assert!(slow.tracker_queue.longest_queue >= 97, "{}", slow.summary());
    let utilization = slow.tracker_utilization.unwrap();
    assert!(
        utilization > 0.9 && utilization <= 1.0,
        "{}",
        slow.summary()
    );
    assert!(
        slow.makespan_ticks > free.makespan_ticks,
        "{}",
        slow.summary()
    );
    assert_eq!(slow.segments_downloaded, free.segments_downloaded);
    assert_eq!(slow, paced(3), "a run is a function of its inputs");
}
