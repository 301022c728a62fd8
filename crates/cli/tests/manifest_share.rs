//! Issue 15, point 7: `share --manifest FILE`. The output of `mpitorrent
//! manifest` stands in for the seeders' hashing: a seeder hashes one
//! segment (the check of the segment size) instead of its whole source,
//! the copies are exact, bytes that do not match the manifest are caught
//! by the receivers, and a manifest that does not describe the source is
//! one error naming the file, with nothing written. In one process and
//! under `mpirun`.

mod common;

use common::*;
use std::fs;
use std::path::Path;

/// Ranks of every job here: the tracker, the seeder (1) and two peers.
const NP: u32 = 4;
/// With 4 KiB segments `a.bin` has 5 and `sub/b.bin` 3.
const FILES: [(&str, usize); 2] = [("a.bin", 4 * 4096 + 1), ("sub/b.bin", 3 * 4096)];

fn data(dir: &Path) {
    fs::create_dir_all(dir.join("data/sub")).unwrap();
    for (seed, (name, size)) in FILES.iter().enumerate() {
        fs::write(dir.join("data").join(name), bytes(*size, seed as u8)).unwrap();
    }
}

/// `mpitorrent manifest --segment-size SIZE FILE...` run inside `data`
/// (so that its names are relative to it), saved as `m.txt`.
fn make_manifest(dir: &Path, segment_size: &str, files: &[&str]) {
    let output = mpitorrent()
        .current_dir(dir.join("data"))
        .args(["manifest", "--segment-size", segment_size])
        .args(files)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    fs::write(dir.join("m.txt"), output.stdout).unwrap();
}

/// Runs the share with `--manifest m.txt` (and `extra`) at `segment_size`.
fn share(
    dir: &Path,
    under_mpirun: bool,
    segment_size: &str,
    extra: &[&str],
) -> (Option<i32>, String) {
    let mut args = vec!["--from", "data", "--seeders", "1", "--to", "out/{rank}"];
    args.extend(["--segment-size", segment_size, "--report", "r.json", "-q"]);
    args.extend(extra);
    let output = share_command(dir, NP, under_mpirun, &args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

/// The seeders' hashing of their source, as the run report counts it.
fn source_segments_hashed(dir: &Path) -> u64 {
    let text = fs::read_to_string(dir.join("r.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    report["reruns"]["source_segments_hashed"]
        .as_u64()
        .unwrap_or_else(|| panic!("{report}"))
}

/// No rank wrote a file (its empty `--to` folder may exist).
fn assert_nothing_written(dir: &Path) {
    for rank in 1..NP {
        let out = dir.join(format!("out/{rank}"));
        if out.exists() {
            assert_eq!(
                files_under(&out),
                Vec::<std::path::PathBuf>::new(),
                "rank {rank}"
            );
        }
    }
}

#[test]
fn a_manifest_share_hashes_one_segment_at_the_seeder_and_copies_exactly() {
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        data(dir.path());
        make_manifest(dir.path(), "4KiB", &["./a.bin", "sub/b.bin"]);
        let (code, stderr) = share(dir.path(), under_mpirun, "4KiB", &["--manifest", "m.txt"]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(
            source_segments_hashed(dir.path()),
            1,
            "mpirun {under_mpirun}"
        );
        for rank in [2, 3] {
            assert_same_tree(
                &dir.path().join("data"),
                &dir.path().join(format!("out/{rank}")),
            );
        }
        // Without it, the seeder hashes all 8 segments.
        fs::remove_dir_all(dir.path().join("out")).unwrap();
        let (code, stderr) = share(dir.path(), under_mpirun, "4KiB", &[]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(
            source_segments_hashed(dir.path()),
            8,
            "mpirun {under_mpirun}"
        );
    }
}

#[test]
fn bytes_that_do_not_match_the_manifest_fail_verification_without_a_wrong_file() {
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        data(dir.path());
        make_manifest(dir.path(), "4KiB", &["a.bin", "sub/b.bin"]);
        // A change in segment 4 (the seeder checks segment 1), same size.
        let mut changed = bytes(FILES[0].1, 0);
        changed[3 * 4096] ^= 1;
        fs::write(dir.path().join("data/a.bin"), changed).unwrap();
        let (code, stderr) = share(dir.path(), under_mpirun, "4KiB", &["--manifest", "m.txt"]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("no owner of 'a.bin' could send segment 4"),
            "{stderr}"
        );
        for rank in [2, 3] {
            let copy = dir.path().join(format!("out/{rank}/a.bin"));
            assert!(
                !copy.exists(),
                "no a.bin under its final name at rank {rank}"
            );
        }
    }
}

/// The one error line of a share whose manifest does not fit.
fn refused(dir: &Path, under_mpirun: bool, segment_size: &str) -> String {
    let (code, stderr) = share(dir, under_mpirun, segment_size, &["--manifest", "m.txt"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_nothing_written(dir);
    assert!(
        !dir.join("r.json").exists(),
        "no report of a job that never started"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    errors[0].to_string()
}

#[test]
fn a_manifest_that_does_not_fit_the_source_is_one_error_naming_the_file() {
    let prefix = "mpitorrent: error: rank 1: manifest m.txt:";
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        data(dir);
        make_manifest(dir, "4KiB", &["a.bin"]);
        assert_eq!(
            refused(dir, under_mpirun, "4KiB"),
            format!("{prefix} sub/b.bin is in --from but not in the manifest")
        );
        fs::write(dir.join("data/c.bin"), b"c").unwrap();
        make_manifest(dir, "4KiB", &["a.bin", "c.bin", "sub/b.bin"]);
        fs::remove_file(dir.join("data/c.bin")).unwrap();
        assert_eq!(
            refused(dir, under_mpirun, "4KiB"),
            format!("{prefix} c.bin is in the manifest but not in --from")
        );
        make_manifest(dir, "4KiB", &["a.bin", "sub/b.bin"]);
        fs::write(dir.join("data/a.bin"), bytes(6 * 4096, 0)).unwrap();
        assert_eq!(
            refused(dir, under_mpirun, "4KiB"),
            format!(
                "{prefix} a.bin has 5 segment(s) in the manifest but 6 in --from (24576 bytes \
                 at --segment-size 4096): the file changed, or the manifest was made with \
                 another --segment-size"
            )
        );
        // Made at 4KiB, shared at 5KiB: b.bin (alone) has 3 segments at
        // both, so only the seeder's hash of segment 1 can tell.
        fs::remove_file(dir.join("data/a.bin")).unwrap();
        make_manifest(dir, "4KiB", &["sub/b.bin"]);
        assert_eq!(
            refused(dir, under_mpirun, "5KiB"),
            format!(
                "{prefix} segment 1 of sub/b.bin does not match its hash in the manifest: the \
                 file changed, or the manifest was made with another --segment-size than 5120 \
                 bytes"
            )
        );
        fs::write(dir.join("m.txt"), "sub/b.bin 3\nnot a hash\n").unwrap();
        assert_eq!(
            refused(dir, under_mpirun, "4KiB"),
            "mpitorrent: error: rank 1: m.txt line 2: expected the hash of segment 1 of \
             sub/b.bin, found 'not a hash'"
        );
    }
}
