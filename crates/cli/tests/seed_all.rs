//! `share --seeders all` from one source that several seeders see (issue
//! #15, point 2): each file of one size and time is read in stripes, each
//! segment by one seeder, so the sum of the seeders' `source_bytes_read`
//! is the source's size, and the outputs are exact. In one process
//! (`--local`) and under a real `mpirun`; the source's shared folder is a
//! link seen by each seeder as its own `--from`.

mod common;

use common::*;
use std::fs;
use std::path::Path;

const SEGMENT: usize = 4096;
const SEEDERS: u64 = 3;

/// The shared source: files of many segments, of exactly two, and one of
/// two segments (fewer than the seeders: the first seeder reads none of
/// it); no file smaller than a segment (those travel in packs, which every
/// seeder of theirs hashes). Returns its size in bytes.
fn source(root: &Path) -> u64 {
    fs::create_dir_all(root.join("sub")).unwrap();
    let files = [
        ("big.bin", 300 * SEGMENT + 123),
        ("sub/exact.bin", 2 * SEGMENT),
        ("odd.bin", SEGMENT + 1),
    ];
    for (i, (name, len)) in files.iter().enumerate() {
        fs::write(root.join(name), bytes(*len, i as u8 + 1)).unwrap();
    }
    files.iter().map(|f| f.1 as u64).sum()
}

/// Seeders 1..=3 see `data` as `src/<rank>` (a link, as nodes see one
/// folder of a shared filesystem); the other ranks have no `--from`.
fn seeders_see_one_folder(dir: &Path) -> u64 {
    let size = source(&dir.join("data"));
    fs::create_dir_all(dir.join("src")).unwrap();
    for rank in 1..=SEEDERS {
        std::os::unix::fs::symlink("../data", dir.join(format!("src/{rank}"))).unwrap();
    }
    size
}

/// Runs the share with `extra` options and returns its report.
fn run(dir: &Path, np: u32, under_mpirun: bool, extra: &[&str]) -> serde_json::Value {
    let _ = fs::remove_dir_all(dir.join("out"));
    let mut args = vec![
        "--from",
        "src/{rank}",
        "--seeders",
        "all",
        "--to",
        "out/{rank}",
    ];
    args.extend(["--segment-size", "4KiB", "--report", "r.json", "-q"]);
    args.extend(extra);
    let output = share_command(dir, np, under_mpirun, &args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    for rank in SEEDERS as u32 + 1..np {
        assert_same_tree(&dir.join("data"), &dir.join(format!("out/{rank}")));
    }
    serde_json::from_str(&fs::read_to_string(dir.join("r.json")).unwrap()).unwrap()
}

/// Each seeder's (rank 1 first) value of `field` in the report.
fn of_seeders(report: &serde_json::Value, field: &str) -> Vec<u64> {
    let peers = report["peers"].as_array().unwrap();
    (1..=SEEDERS)
        .map(|rank| {
            let peer = peers.iter().find(|p| p["rank"] == rank).unwrap();
            peer[field].as_u64().unwrap()
        })
        .collect()
}

/// Segments of the source: 301 + 2 + 2.
const SEGMENTS: u64 = 305;

fn assert_read_once(report: &serde_json::Value, size: u64, context: &str) {
    let read = of_seeders(report, "source_bytes_read");
    assert_eq!(read.iter().sum::<u64>(), size, "{context}: {read:?}");
    // Stripes of 100, 100 and 101 segments of big.bin (and parts of the
    // others): every seeder read about a third.
    assert!(read.iter().all(|&r| r > size / 4), "{context}: {read:?}");
    assert_eq!(
        report["reruns"]["source_segments_hashed"], SEGMENTS,
        "{context}"
    );
}

#[test]
fn seeders_of_one_folder_read_each_segment_once_in_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let size = seeders_see_one_folder(dir.path());
    // (Several runs: the seeders' stripes are hashed side by side, in
    // whatever order the threads get to them.)
    for round in 0..10 {
        let report = run(dir.path(), 7, false, &[]);
        assert_read_once(&report, size, &format!("tree, round {round}"));
        // Under tree each segment leaves its reader once, to the feeder.
        let sent = of_seeders(&report, "uploaded");
        assert_eq!(
            sent.iter().sum::<u64>(),
            SEGMENTS,
            "round {round}: {sent:?}"
        );
        assert!(sent.iter().all(|&s| s > 0), "round {round}: {sent:?}");
    }
    for strategy in ["relay", "paced"] {
        let report = run(dir.path(), 7, false, &["--strategy", strategy]);
        assert_read_once(&report, size, strategy);
    }
    // Strategies that ask owners in turn would miss a segment's one
    // reader: there every seeder reads everything, as before.
    let report = run(dir.path(), 7, false, &["--strategy", "round-robin"]);
    assert_eq!(of_seeders(&report, "source_bytes_read"), [size; 3]);
}

#[test]
fn seeders_of_one_folder_read_each_segment_once_under_mpirun() {
    let dir = tempfile::tempdir().unwrap();
    let size = seeders_see_one_folder(dir.path());
    let report = run(dir.path(), 6, true, &[]);
    assert_read_once(&report, size, "mpirun");
    let sent = of_seeders(&report, "uploaded");
    assert_eq!(sent.iter().sum::<u64>(), SEGMENTS, "{sent:?}");
}

#[test]
fn a_copy_of_another_time_is_read_by_every_seeder_and_compared() {
    let dir = tempfile::tempdir().unwrap();
    let size = seeders_see_one_folder(dir.path());
    // Rank 3 sees a copy of its own, touched at another time.
    fs::remove_file(dir.path().join("src/3")).unwrap();
    source(&dir.path().join("src/3"));
    for file in ["big.bin", "sub/exact.bin", "odd.bin"] {
        make_old(&dir.path().join("src/3").join(file));
    }
    let report = run(dir.path(), 6, false, &[]);
    let read = of_seeders(&report, "source_bytes_read");
    assert_eq!(read, [size; 3], "no file is striped: each seeder reads all");
}
