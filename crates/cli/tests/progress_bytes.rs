//! Issue 15, point 8: a `share` shows its progress in bytes. The plain
//! progress lines (stderr not a terminal) say the MiB moved out of the
//! total, MiB/s, the ETA and the slowest rank still downloading with its
//! node, and the summary names the slowest rank's node too. In one process
//! and under `mpirun`.

mod common;

use common::*;
use std::fs;

/// 16 MiB in 4 KiB segments: long enough for several lines 10 ms apart
/// (about a second in a debug build, a fifth of one in a release build).
const SIZE: usize = 16 << 20;

/// The MiB done of a progress line: "mpitorrent: 0.2 s: 3.3 of 32.0 MiB (".
fn mib_done(line: &str) -> f64 {
    let counts = line.splitn(3, ": ").nth(2).unwrap();
    counts.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn plain_progress_lines_of_a_share_count_mib_and_name_the_slowest_rank_and_node() {
    let host = mpitorrent_net::share::destination::host_name();
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("data")).unwrap();
        fs::write(dir.path().join("data/f.bin"), bytes(SIZE, 3)).unwrap();
        let args: Vec<&str> =
            "--from data --seeders 1 --to out/{rank} --segment-size 4KiB --progress-interval 0.01"
                .split(' ')
                .collect();
        let output = share_command(dir.path(), 4, under_mpirun, &args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        for rank in [2, 3] {
            let copy = fs::read(dir.path().join(format!("out/{rank}/f.bin"))).unwrap();
            assert!(copy == bytes(SIZE, 3), "rank {rank}'s copy differs");
        }
        // Two peers lack the 16 MiB: 32 MiB in all.
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("mpitorrent: ") && l.contains(" of 32.0 MiB ("))
            .collect();
        assert!(lines.len() >= 2, "mpirun {under_mpirun}: {stderr}");
        let done: Vec<f64> = lines.iter().map(|l| mib_done(l)).collect();
        assert!(
            done.windows(2).all(|w| w[0] <= w[1]) && done.iter().all(|d| *d <= 32.0),
            "{stderr}"
        );
        let slowest = [2, 3].map(|rank| format!("; slowest rank {rank} on {host} at "));
        let full = lines
            .iter()
            .find(|l| l.contains(" MiB/s, ETA ") && slowest.iter().any(|s| l.contains(s.as_str())));
        let full = full.unwrap_or_else(|| panic!("no line with rate, ETA and slowest: {stderr}"));
        assert!(full.ends_with(" of 3 peers done"), "{full}");
        let in_segments = stderr
            .lines()
            .filter(|l| l.starts_with("mpitorrent: ") && l.contains(" s: "))
            .find(|l| l.contains(" segments ("));
        assert_eq!(in_segments, None, "a share counts bytes, not segments");
        let summary = stderr
            .lines()
            .find(|l| l.starts_with("  bytes: 32.0 MiB at "));
        let summary = summary.unwrap_or_else(|| panic!("{stderr}"));
        let named = slowest.map(|s| s.replacen("; slowest", "slowest", 1));
        assert!(
            named.iter().any(|s| summary.contains(s.as_str())),
            "{summary}"
        );
    }
}
