//! Issue 15, point 6: cheap reruns. A file at the destination of the
//! source's size and modification time is taken as complete without being
//! read (as rsync does by default); one of the source's size but another
//! time is hashed and kept if it matches; `--verify` hashes every one.
//! The run report's `reruns` counts what was reused and hashed. In one
//! process and under `mpirun`.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Ranks of every job here: the tracker, the seeder (1) and two peers.
const NP: u32 = 4;
/// 4 KiB segments: `a.bin` has 5, `sub/b.bin` 3.
const SEGMENTS: [(&str, u64, usize); 2] = [("a.bin", 5, 4 * 4096 + 1), ("sub/b.bin", 3, 3 * 4096)];

fn data(dir: &Path) {
    fs::create_dir_all(dir.join("data/sub")).unwrap();
    for (seed, (name, _, size)) in SEGMENTS.iter().enumerate() {
        fs::write(dir.join("data").join(name), bytes(*size, seed as u8)).unwrap();
    }
}

/// Runs the share (with `extra` options) and returns its report.
fn share(dir: &Path, under_mpirun: bool, extra: &[&str]) -> serde_json::Value {
    share_data_report(dir, NP, under_mpirun, extra)
}

/// `reruns` of a report: files reused, segments reused, segments hashed;
/// and the bytes downloaded.
fn counts(report: &serde_json::Value) -> (u64, u64, u64, u64) {
    let reruns = &report["reruns"];
    let field = |name: &str| reruns[name].as_u64().unwrap_or_else(|| panic!("{report}"));
    (
        field("files_reused"),
        field("segments_reused"),
        field("segments_hashed"),
        report["bytes_downloaded"].as_u64().unwrap(),
    )
}

fn assert_copies(dir: &Path) {
    for rank in [2, 3] {
        assert_same_tree(&dir.join("data"), &dir.join(format!("out/{rank}")));
    }
}

#[test]
fn a_rerun_over_a_complete_destination_hashes_and_moves_nothing() {
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        data(dir.path());
        let total: u64 = SEGMENTS.iter().map(|(_, segments, _)| segments).sum();
        let bytes: u64 = SEGMENTS.iter().map(|(_, _, size)| *size as u64).sum();
        let first = share(dir.path(), under_mpirun, &[]);
        assert_eq!(counts(&first), (0, 0, 0, 2 * bytes), "{first}");
        assert_copies(dir.path());
        // Two peers, two files each, all taken as complete unread.
        let rerun = share(dir.path(), under_mpirun, &[]);
        assert_eq!(counts(&rerun), (4, 2 * total, 0, 0), "{rerun}");
        // Nobody fetches anything, so the seeder neither registers nor
        // reads its source.
        assert_eq!(rerun["reruns"]["source_segments_hashed"], 0, "{rerun}");
        let read: u64 = (rerun["peers"].as_array().unwrap().iter())
            .map(|p| p["source_bytes_read"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(read, 0, "{rerun}");
        // --verify reads them all, finds them whole, fetches nothing.
        let verified = share(dir.path(), under_mpirun, &["--verify"]);
        assert_eq!(counts(&verified), (0, 0, 2 * total, 0), "{verified}");
        assert_copies(dir.path());
    }
}

#[test]
fn a_file_of_another_time_is_hashed_and_a_changed_one_needs_verify() {
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        data(dir.path());
        share(dir.path(), under_mpirun, &[]);
        let source_time = mtime(&dir.path().join("data/a.bin"));
        // Rank 2's a.bin: the same bytes, touched.
        let touched = dir.path().join("out/2/a.bin");
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
        set_mtime(&touched, old);
        let rerun = share(dir.path(), under_mpirun, &[]);
        assert_eq!(counts(&rerun), (3, 11, 5, 0), "{rerun}");
        let time = mtime(&touched);
        assert_eq!(time, source_time, "it takes the source's time again");
        // Rank 3's sub/b.bin: one byte changed behind mpitorrent's back,
        // size and time kept. Taken as complete, as rsync would; --verify
        // finds it and fetches its one wrong segment again.
        let changed = dir.path().join("out/3/sub/b.bin");
        let mut content = fs::read(&changed).unwrap();
        content[5000] ^= 1;
        let time = mtime(&changed);
        fs::write(&changed, &content).unwrap();
        set_mtime(&changed, time);
        let rerun = share(dir.path(), under_mpirun, &[]);
        assert_eq!(counts(&rerun), (4, 16, 0, 0), "{rerun}");
        assert_eq!(fs::read(&changed).unwrap(), content);
        let verified = share(dir.path(), under_mpirun, &["--verify"]);
        assert_eq!(counts(&verified), (0, 0, 16, 4096), "{verified}");
        assert_copies(dir.path());
    }
}

#[test]
fn a_partial_copy_resumes_fetching_only_the_segments_that_differ() {
    for under_mpirun in [false, true, false, true] {
        let dir = tempfile::tempdir().unwrap();
        data(dir.path());
        share(dir.path(), under_mpirun, &[]);
        // Rank 2 was killed while fetching a.bin: its temporary, pre-sized
        // to whole segments, lacks segment 3.
        let source = fs::read(dir.path().join("data/a.bin")).unwrap();
        let mut half = source.clone();
        half.resize(5 * 4096, 0);
        half[3 * 4096..4 * 4096].fill(0);
        fs::remove_file(dir.path().join("out/2/a.bin")).unwrap();
        let part = dir.path().join("out/2/.a.bin.2-0123456789abcdef.part");
        fs::write(&part, &half).unwrap();
        // Rank 3's sub/b.bin has the source's size, another time and a
        // wrong segment 1.
        let wrong = dir.path().join("out/3/sub/b.bin");
        let mut content = fs::read(&wrong).unwrap();
        content[4096 + 7] ^= 0xff;
        fs::write(&wrong, &content).unwrap();
        // Said, not left to the clock: a write within the source's clock
        // tick (1 s on some file systems) would keep its time.
        make_old(&wrong);
        let rerun = share(dir.path(), under_mpirun, &[]);
        // Reused: rank 2's sub/b.bin, rank 3's a.bin (5 + 3 segments);
        // hashed: the temporary and the wrong copy; fetched: one segment
        // each.
        assert_eq!(counts(&rerun), (2, 8, 8, 2 * 4096), "{rerun}");
        assert_copies(dir.path());
        assert!(!part.exists(), "the temporary is gone");
        for (copy, original) in [
            ("out/2/a.bin", "data/a.bin"),
            ("out/3/sub/b.bin", "data/sub/b.bin"),
        ] {
            let time = |p: &str| mtime(&dir.path().join(p));
            assert_eq!(time(copy), time(original), "{copy} has the source's time");
        }
    }
}
