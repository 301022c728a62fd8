//! `mpitorrent sim` with numbers it cannot simulate: every hostile value
//! ends with exit status 2 and one line saying what is wrong and what the
//! limit is, within seconds; never a panic (101), an allocation abort
//! (134), a hang or a wrong makespan.

mod common;

use common::{mpitorrent, sim_refused as refused, simulated};
use std::time::{Duration, Instant};

const U64_MAX: &str = "18446744073709551615";

#[test]
fn latency_beyond_what_can_be_simulated() {
    let limit = "is more ticks than can be simulated: at most 1000000";
    refused(&["--latency", U64_MAX], limit);
    refused(&["--latency", "1000001"], limit);
    refused(&["--latency", "0"], "0 is not in 1..");
}

#[test]
fn a_late_start_near_u64_max() {
    let late = |by: &'static str| ["--late-fraction", "0.5", "--late-by", by];
    let limit = "--late-by 18446744073709551610 is more ticks than can be simulated";
    refused(&late("18446744073709551610"), limit);
    refused(&late(U64_MAX), "is more ticks than can be simulated");
    refused(&late("2000000"), "is more ticks than can be simulated");
}

#[test]
fn a_slow_uplink_that_would_never_send_again() {
    let args = ["--slow-fraction", "0.5", "--slow-every", U64_MAX];
    refused(&args, "--slow-every 18446744073709551615 is more ticks");
}

#[test]
fn max_ticks_from_1_to_2_pow_53() {
    let limit = "--max-ticks must be 1 to 9007199254740992";
    refused(&["--max-ticks", "0"], limit);
    refused(&["--max-ticks", U64_MAX], limit);
    refused(&["--max-ticks", "9007199254740993"], limit);
    refused(
        &["--latency", "50", "--max-ticks", "10"],
        "--latency 50 is beyond --max-ticks 10: the run would give up first",
    );
    refused(
        &[
            "--late-fraction",
            "1",
            "--late-by",
            "500",
            "--max-ticks",
            "400",
        ],
        "--late-by 500 is beyond --max-ticks 400",
    );
}

#[test]
fn fractions_outside_0_to_1() {
    for option in ["--slow-fraction", "--late-fraction", "--leave-fraction"] {
        for value in ["NaN", "inf", "-0.1", "1.5"] {
            // (`=`: a value that starts with '-' would read as an option.)
            let arg = format!("{option}={value}");
            refused(&[&arg], "expected a fraction from 0 to 1");
        }
    }
}

#[test]
fn a_swarm_beyond_memory_is_refused_with_its_estimate() {
    let cases = [
        ("100000", "100000", "about 596.1 GiB of memory"),
        ("4294967294", "4294967295", "about 16.0 EiB of memory"),
    ];
    for (peers, segments, estimate) in cases {
        let start = Instant::now();
        let output = mpitorrent()
            .args(["sim", "--peers", peers, "--segments", segments])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(estimate), "{stderr}");
        assert!(
            stderr.contains("available (MemAvailable in /proc/meminfo)"),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(start.elapsed() < Duration::from_secs(20));
    }
}

#[test]
fn the_largest_accepted_values_still_simulate_exactly() {
    // The largest update interval asks the tracker for the most hints a
    // request can carry: the answer must still be a finite, exact run.
    let json = simulated(&[
        "--peers",
        "3",
        "--segments",
        "40",
        "--update-every",
        "4294967295",
    ]);
    assert_eq!(json["messages"]["by_kind"]["ACK"], 2 * 40);
    assert!(json["messages"]["by_kind"].get("PEER_UPDATE").is_none());
    // A late start at the limit: the late peers finish after it.
    let json = simulated(&[
        "--peers",
        "4",
        "--segments",
        "5",
        "--late-fraction",
        "0.5",
        "--late-by",
        "1000000",
        "--max-ticks",
        "2000000",
    ]);
    assert!(
        json["makespan_ticks"].as_u64().unwrap() > 1_000_000,
        "{json}"
    );
    // A slow uplink at the limit sends one segment every 10^6 ticks: with
    // every peer slow, 3 segments to 2 peers cannot finish before 10^6.
    let json = simulated(&[
        "--peers",
        "3",
        "--segments",
        "3",
        "--slow-fraction",
        "1",
        "--slow-every",
        "1000000",
        "--max-ticks",
        "9007199254740992",
    ]);
    let makespan = json["makespan_ticks"].as_u64().unwrap();
    assert!((1_000_000..20_000_000).contains(&makespan), "{json}");
}
