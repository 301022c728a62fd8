//! Issue #15 point 1: `share` starts at once. A seeder registers its files
//! with their sizes, hashes them while it serves and sends the hashes in
//! batches (HASHES); every rank still verifies every segment against the
//! hash its seeder computed. In one process and under `mpirun`.

mod common;

use common::*;
use std::fs;
use std::path::Path;

const SEGMENT: usize = 4096;

/// A source of several hash batches (64 segments each): 300 segments and
/// a short one, and 70 more in a sub-folder, plus a small file (packed).
fn source(root: &Path) {
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("a.bin"), bytes(300 * SEGMENT + 77, 3)).unwrap();
    fs::write(root.join("sub/b.bin"), bytes(70 * SEGMENT, 4)).unwrap();
    fs::write(root.join("small.txt"), b"a small file, in a pack").unwrap();
}

fn peer(report: &serde_json::Value, rank: u64) -> &serde_json::Value {
    let peers = report["peers"].as_array().unwrap();
    peers.iter().find(|p| p["rank"] == rank).unwrap()
}

#[test]
fn segments_move_between_the_hash_batches_of_the_seeder() {
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        source(&dir.path().join("data"));
        // The seeder waits after each batch it sends: if nothing moved
        // before the last one, the first segment comes after it.
        let mut args = vec!["--from", "data", "--seeders", "1", "--to", "out/{rank}"];
        args.extend(["--segment-size", "4KiB", "--report", "r.json", "-q"]);
        let output = share_command(dir.path(), 4, under_mpirun, &args)
            .env("MPITORRENT_FAULT", "slow-hashing@1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "mpirun {under_mpirun}: {stderr}");
        for rank in 2..4 {
            assert_same_tree(
                &dir.path().join("data"),
                &dir.path().join(format!("out/{rank}")),
            );
        }
        let report: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
        let seeder = peer(&report, 1);
        // 301 segments in 64s, then 70: 5 + 2 batches.
        assert_eq!(seeder["hash_batches"], 7, "{seeder}");
        let first = seeder["first_segment_ms"].as_u64().unwrap();
        let hashed = seeder["hashes_done_ms"].as_u64().unwrap();
        assert!(
            first < hashed,
            "mpirun {under_mpirun}: the first segment left at {first} ms, the last hashes at \
             {hashed} ms"
        );
        assert!(report["first_segment_ms"].as_u64().unwrap() <= first);
        // The seeder's 7, and some passed on to the downloaders (each
        // gets what was hashed since its swarm reply).
        let kinds = &report["messages"]["by_kind"];
        assert!(kinds["HASHES"].as_u64().unwrap() > 7, "{kinds}");
        // A download that has everything hashed so far waits for the next
        // batch instead of asking the tracker for work again and again
        // (that was 6,607 updates for these 742 segments).
        let updates = kinds["PEER_UPDATE"].as_u64().unwrap();
        assert!(updates < 1000, "{updates} updates: {kinds}");
        assert_eq!(report["verification_failures"], 0);
        // Every source segment hashed once (the pack's one included).
        assert_eq!(report["reruns"]["source_segments_hashed"], 301 + 70 + 1);
    }
}

#[test]
fn two_seeders_whose_copies_differ_fail_naming_the_file_and_segment() {
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut other = bytes(200 * SEGMENT, 5);
        for rank in 1..3 {
            let from = dir.path().join(format!("src/{rank}"));
            fs::create_dir_all(&from).unwrap();
            fs::write(from.join("f.bin"), &other).unwrap();
            // Rank 2's copy differs in segment 150 only.
            other[149 * SEGMENT] ^= 1;
        }
        // Of another time, too: copies of one size and time would be
        // taken for one and read in stripes, never compared.
        make_old(&dir.path().join("src/2/f.bin"));
        let args = [
            "--from",
            "src/{rank}",
            "--seeders",
            "1,2",
            "--to",
            "out/{rank}",
            "--segment-size",
            "4KiB",
            "-q",
        ];
        let output = share_command(dir.path(), 4, under_mpirun, &args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "mpirun {under_mpirun}: {stderr}");
        let expected = "ranks 1 and 2 both own file 'f.bin' with different segments: \
                        segment 150 is '";
        assert!(stderr.contains(expected), "mpirun {under_mpirun}: {stderr}");
        let lines = stderr
            .lines()
            .filter(|l| l.contains("mpitorrent: error"))
            .count();
        assert_eq!(lines, 1, "{stderr}");
        assert!(
            !dir.path().join("out/3/f.bin").exists(),
            "no file under its final name"
        );
    }
}

/// Under a launcher that says each process's rank (every one does), the
/// seeder's scan of `--from` runs while MPI starts, and is taken once MPI
/// confirms the rank: by the seeder alone, with its output whole.
#[test]
fn the_seeder_scans_while_mpi_starts() {
    let dir = tempfile::tempdir().unwrap();
    source(&dir.path().join("data"));
    let mut args = vec!["--from", "data", "--seeders", "1", "--to", "out/{rank}"];
    args.extend(["--segment-size", "4KiB", "-q"]);
    let output = share_command(dir.path(), 4, true, &args)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let taken = stderr
        .lines()
        .filter(|line| line.contains("took the scan of --from made while MPI started"))
        .count();
    assert_eq!(taken, 1, "only the seeder scans early: {stderr}");
    for rank in 2..4 {
        assert_same_tree(
            &dir.path().join("data"),
            &dir.path().join(format!("out/{rank}")),
        );
    }
}
