//! `mpitorrent share`: real files, every segment verified, written in place
//! and renamed only when whole. In one process (`--local`) and under a real
//! `mpirun`.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

/// A segment size small enough that test files span many segments.
const SEGMENT: &str = "4KiB";

/// A folder of awkward files: empty, smaller than a segment, several
/// segments with a short last one, a sub-folder, many small files.
fn dataset(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("tiny.txt"), b"hello").unwrap();
    fs::write(root.join("big.bin"), bytes(5 * 4096 + 123, 1)).unwrap();
    fs::write(root.join("sub/deeper/exact.bin"), bytes(2 * 4096, 2)).unwrap();
    for i in 0..300 {
        fs::write(
            root.join(format!("sub/small-{i:03}")),
            bytes(i * 7 + 1, i as u8),
        )
        .unwrap();
    }
}

fn share(dir: &Path) -> assert_cmd::Command {
    let mut cmd = mpitorrent();
    cmd.current_dir(dir)
        .args(["share", "--segment-size", SEGMENT]);
    cmd
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn one_seeder_to_every_rank_in_one_process() {
    let dir = tempfile::tempdir().unwrap();
    dataset(&dir.path().join("data"));
    std::os::unix::fs::symlink("tiny.txt", dir.path().join("data/link")).unwrap();
    let output = share(dir.path())
        .args(["--from", "data", "--seeders", "1", "--to", "out/{rank}"])
        .args(["--local", "5", "--report", "r.json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipping") && stderr.contains("link"),
        "{stderr}"
    );
    fs::remove_file(dir.path().join("data/link")).unwrap();
    for rank in 2..5 {
        assert_same_tree(
            &dir.path().join("data"),
            &dir.path().join(format!("out/{rank}")),
        );
    }
    let report = report(&dir.path().join("r.json"));
    let total: u64 = files_under(&dir.path().join("data"))
        .iter()
        .map(|f| fs::metadata(dir.path().join("data").join(f)).unwrap().len())
        .sum();
    assert_eq!(report["bytes_downloaded"], 3 * total);
    assert_eq!(report["verification_failures"], 0);
}

/// A shard for each peer rank 1..`ranks`: `shards/<r>/sub/part-<r>`, a
/// little over 20,000 bytes (five 4 KiB segments, the last one short).
fn write_shards(root: &Path, ranks: u8) {
    for rank in 1..ranks {
        let shard = root.join(format!("shards/{rank}/sub"));
        fs::create_dir_all(&shard).unwrap();
        fs::write(
            shard.join(format!("part-{rank}")),
            bytes(20_000 + rank as usize, rank),
        )
        .unwrap();
    }
}

/// Each peer rank's `all/<r>` holds exactly the other ranks' shards, byte
/// for byte.
fn assert_every_rank_gathered(root: &Path, ranks: u8) {
    for rank in 1..ranks {
        let all = root.join(format!("all/{rank}"));
        let others: Vec<u8> = (1..ranks).filter(|&r| r != rank).collect();
        let names: Vec<PathBuf> = others
            .iter()
            .map(|r| PathBuf::from(format!("sub/part-{r}")))
            .collect();
        assert_eq!(files_under(&all), names, "rank {rank}");
        for (other, name) in others.iter().zip(&names) {
            let got = fs::read(all.join(name)).unwrap();
            let want = fs::read(root.join(format!("shards/{other}")).join(name)).unwrap();
            assert!(got == want, "rank {rank}: {} differs", name.display());
        }
    }
}

#[test]
fn every_rank_gathers_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    write_shards(dir.path(), 5);
    share(dir.path())
        .args(["--from", "shards/{rank}", "--to", "all/{rank}"])
        .args(["--local", "5"])
        .assert()
        .success();
    assert_every_rank_gathered(dir.path(), 5);
}

/// Runs `cmd` (a `share` in one process or under `mpirun`, with 5 ranks)
/// with ranks 1 and 2 seeding copies of `data` and rank 1 spoiling every
/// segment it sends: ranks 3 and 4 must still get exact copies, and the
/// report must count the bad segments. (Rank 2's copy has another time:
/// two seeders of one copy would read it in stripes, and rank 1's stripe
/// would have no other source.)
fn assert_exact_despite_a_corrupting_seeder(mut cmd: assert_cmd::Command, dir: &Path) {
    fs::create_dir_all(dir.join("src")).unwrap();
    std::os::unix::fs::symlink("../data", dir.join("src/1")).unwrap();
    dataset(&dir.join("src/2"));
    for file in files_under(&dir.join("src/2")) {
        make_old(&dir.join("src/2").join(file));
    }
    let output = cmd
        .env("MPITORRENT_FAULT", "corrupt-upload@1")
        .args(["--from", "src/{rank}", "--seeders", "1,2"])
        .args(["--to", "out/{rank}"])
        .args(["--report", "r.json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for rank in 3..5 {
        assert_same_tree(&dir.join("data"), &dir.join(format!("out/{rank}")));
    }
    let report = report(&dir.join("r.json"));
    assert!(
        report["verification_failures"].as_u64().unwrap() > 0,
        "{report}"
    );
}

#[test]
fn corrupted_uploads_are_caught_and_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    dataset(&dir.path().join("data"));
    let mut cmd = share(dir.path());
    cmd.args(["--local", "5"]);
    assert_exact_despite_a_corrupting_seeder(cmd, dir.path());
}

#[test]
fn a_swarm_whose_only_seeder_corrupts_fails_without_a_wrong_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("data")).unwrap();
    fs::write(dir.path().join("data/f.bin"), bytes(20_000, 9)).unwrap();
    let output = share(dir.path())
        .env("MPITORRENT_FAULT", "corrupt-upload@1")
        .args([
            "--from",
            "data",
            "--seeders",
            "1",
            "--to",
            "out/{rank}",
            "--local",
            "3",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no owner of 'f.bin' could send segment"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("out/2/f.bin").exists(),
        "no file under its final name"
    );
}

#[test]
fn a_rerun_fetches_only_what_is_missing_or_wrong() {
    let dir = tempfile::tempdir().unwrap();
    dataset(&dir.path().join("data"));
    let run = |dir: &Path| {
        share(dir)
            .args(["--from", "data", "--seeders", "1", "--to", "out/{rank}"])
            .args(["--local", "3", "--report", "r.json"])
            .assert()
            .success();
        report(&dir.join("r.json"))
    };
    run(dir.path());
    let out = dir.path().join("out/2");
    fs::remove_file(out.join("tiny.txt")).unwrap();
    let mut spoiled = fs::read(out.join("big.bin")).unwrap();
    spoiled[5000] ^= 1;
    fs::write(out.join("big.bin"), spoiled).unwrap();
    // Another time than the source's, said and not left to the clock (a
    // write within the source's clock tick keeps its time: taken as
    // complete, as rsync would).
    make_old(&out.join("big.bin"));
    let second = run(dir.path());
    assert_same_tree(&dir.path().join("data"), &out);
    // Only tiny.txt (5 bytes) and big.bin's spoiled segment moved again
    // (issue 15: the rest of big.bin is resumed from the copy).
    assert_eq!(second["bytes_downloaded"], 5 + 4096);
}

#[test]
fn one_seeder_to_every_rank_under_mpirun() {
    let dir = tempfile::tempdir().unwrap();
    dataset(&dir.path().join("data"));
    let output = mpirun(4, dir.path())
        .args([
            "share",
            "--segment-size",
            SEGMENT,
            "--from",
            "data",
            "--seeders",
            "1",
            "--fsync",
        ])
        .args(["--to", "out/{rank}"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for rank in 2..4 {
        assert_same_tree(
            &dir.path().join("data"),
            &dir.path().join(format!("out/{rank}")),
        );
    }
}

#[test]
fn manifest_lists_real_files_like_classic_ones() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f.bin"), bytes(4096 + 10, 3)).unwrap();
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["manifest", "--segment-size", SEGMENT, "f.bin"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "f.bin 2");
    assert_eq!(lines.len(), 3);
    assert!(lines[1..].iter().all(|h| h.len() == 64));
    let missing = mpitorrent().args(["manifest", "nope"]).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope"));
}

#[test]
fn every_rank_gathers_every_shard_under_mpirun() {
    let dir = tempfile::tempdir().unwrap();
    write_shards(dir.path(), 4);
    let output = mpirun(4, dir.path())
        .args(["share", "--segment-size", SEGMENT])
        .args(["--from", "shards/{rank}", "--to", "all/{rank}"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_every_rank_gathered(dir.path(), 4);
}

#[test]
fn direct_writes_are_exact_even_with_a_corrupting_seeder_under_mpirun() {
    let dir = tempfile::tempdir().unwrap();
    dataset(&dir.path().join("data"));
    let mut cmd = mpirun(5, dir.path());
    cmd.args(["share", "--segment-size", SEGMENT, "--direct"]);
    assert_exact_despite_a_corrupting_seeder(cmd, dir.path());
}

#[test]
fn direct_needs_segments_in_whole_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["share", "--from", "data", "--to", "out", "--local", "2"])
        .args(["--direct", "--segment-size", "5000"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--direct needs a --segment-size that is a multiple of 4KiB"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").exists(), "nothing was started");
}
