//! Issue 15, point 3: files smaller than a segment travel in packs (a
//! few swarms for hundreds of files) and come out as if each had been
//! sent alone: the same bytes, modes and times, empty files and folders;
//! a rerun over a complete tree moves and hashes nothing, a partly
//! present one gets exactly its missing members back, and a link planted
//! where a member goes is replaced, never followed. In one process and
//! under `mpirun`.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Ranks of every job here: the tracker, the seeder (1) and two peers.
const NP: u32 = 4;
/// 4 KiB segments: a pack holds at most 16 KiB.
const SEGMENT: usize = 4096;
/// Small files in the tree, in 12 folders.
const SMALL: usize = 600;

/// A time in the past, `secs` after 2001-09-09, with nanoseconds.
fn past(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(1_000_000_000 + secs, 987_654_321)
}

/// The name of small file `i`.
fn small(i: usize) -> String {
    format!("d{:02}/s{i:03}.txt", i % 12)
}

/// `data`: 600 files of 0 to 4,000 bytes (every 50th empty) in 12
/// folders, with modes and times of their own; two files of several
/// segments; an empty file at the top and an empty folder two levels down.
fn tree(dir: &Path) {
    let data = dir.join("data");
    fs::create_dir_all(data.join("empty/deeper")).unwrap();
    for i in 0..SMALL {
        let path = data.join(small(i));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let size = if i % 50 == 0 { 0 } else { (i * 37) % 4000 + 1 };
        fs::write(&path, bytes(size, i as u8)).unwrap();
        let mode = [0o644, 0o600, 0o755][i % 3];
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        set_mtime(&path, past(i as u64));
    }
    fs::write(data.join("big.bin"), bytes(3 * SEGMENT + 5, 1)).unwrap();
    fs::write(data.join("d03/exact.bin"), bytes(2 * SEGMENT, 2)).unwrap();
    fs::write(data.join("empty.txt"), b"").unwrap();
}

/// Runs the share of `data` to `out/{rank}` (with `extra` options), which
/// must succeed, and returns its report.
fn share(dir: &Path, under_mpirun: bool, extra: &[&str]) -> serde_json::Value {
    share_data_report(dir, NP, under_mpirun, extra)
}

/// Runs `test` in one process and under `mpirun`, each time with a fresh
/// folder holding the [`tree`] and a context naming the launch.
fn each_launch(test: impl Fn(bool, &str, &Path)) {
    for under_mpirun in [false, true] {
        let context = format!("under mpirun: {under_mpirun}");
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        test(under_mpirun, &context, dir.path());
    }
}

/// The report's bytes moved and, of its `reruns`, files reused and
/// segments hashed at the destinations.
fn moved(report: &serde_json::Value) -> (u64, u64, u64) {
    let field = |value: &serde_json::Value| value.as_u64().unwrap_or_else(|| panic!("{report}"));
    (
        field(&report["bytes_downloaded"]),
        field(&report["reruns"]["files_reused"]),
        field(&report["reruns"]["segments_hashed"]),
    )
}

fn mode_and_time(path: &Path) -> (u32, SystemTime) {
    let meta = fs::symlink_metadata(path).unwrap();
    (meta.mode() & 0o7777, meta.modified().unwrap())
}

/// Every file of rank 2's and rank 3's copies is the source's, with its
/// mode and time; the empty folder is there; no temporary is left.
fn assert_copies(dir: &Path, context: &str) {
    let data = dir.join("data");
    for rank in [2, 3] {
        let out = dir.join(format!("out/{rank}"));
        assert_same_tree(&data, &out);
        for file in files_under(&data) {
            assert_eq!(
                mode_and_time(&out.join(&file)),
                mode_and_time(&data.join(&file)),
                "{context}: rank {rank}: {}",
                file.display()
            );
        }
        assert!(out.join("empty/deeper").is_dir(), "{context}");
    }
}

fn total_bytes(dir: &Path) -> u64 {
    let data = dir.join("data");
    files_under(&data)
        .iter()
        .map(|f| fs::metadata(data.join(f)).unwrap().len())
        .sum()
}

#[test]
fn a_tree_of_small_files_comes_out_whole_in_a_few_swarms() {
    each_launch(|under_mpirun, context, dir| {
        let report = share(dir, under_mpirun, &[]);
        assert_copies(dir, context);
        // Packs add no byte of their own.
        assert_eq!(moved(&report).0, 2 * total_bytes(dir), "{report}");
        let swarms: Vec<&str> = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        let (packs, files): (Vec<&str>, Vec<&str>) =
            swarms.iter().partition(|name| name.starts_with("/pack "));
        assert_eq!(files, ["big.bin", "d03/exact.bin"], "{context}");
        // About 1.2 MB of small files in packs of at most 16 KiB.
        assert!(
            packs.len() > 70 && packs.len() < 90,
            "{context}: {} packs for {} small files: {packs:?}",
            packs.len(),
            SMALL + 1
        );
    });
}

#[test]
fn a_rerun_over_a_complete_packed_tree_fetches_and_hashes_nothing() {
    each_launch(|under_mpirun, context, dir| {
        share(dir, under_mpirun, &[]);
        let files = files_under(&dir.join("data")).len() as u64;
        let rerun = share(dir, under_mpirun, &[]);
        assert_eq!(moved(&rerun), (0, 2 * files, 0), "{context}: {rerun}");
        // --verify reads every copy, finds each whole and fetches nothing.
        let verified = share(dir, under_mpirun, &["--verify"]);
        let (bytes, reused, hashed) = moved(&verified);
        assert_eq!((bytes, reused), (0, 0), "{context}: {verified}");
        assert!(hashed > 2 * 80, "{context}: {verified}");
        assert_copies(dir, context);
    });
}

#[test]
fn a_partly_present_packed_tree_gets_exactly_its_missing_members_back() {
    each_launch(|under_mpirun, context, dir| {
        share(dir, under_mpirun, &[]);
        let out2 = dir.join("out/2");
        let size = |name: &str| fs::metadata(dir.join("data").join(name)).unwrap().len();
        let mut lost = 0;
        for i in [1, 2, 77, 78, 300, 599] {
            fs::remove_file(out2.join(small(i))).unwrap();
            lost += size(&small(i));
        }
        // One member cut short, one touched (same bytes, another time).
        let cut = out2.join(small(123));
        let bytes_of_cut = fs::read(&cut).unwrap();
        fs::write(&cut, &bytes_of_cut[..10]).unwrap();
        lost += size(&small(123));
        set_mtime(&out2.join(small(5)), past(100_000));
        fs::remove_file(dir.join("out/3").join(small(400))).unwrap();
        lost += size(&small(400));
        let untouched = out2.join(small(6));
        let inode = fs::metadata(&untouched).unwrap().ino();
        let rerun = share(dir, under_mpirun, &[]);
        assert_copies(dir, context);
        let (bytes, _, _) = moved(&rerun);
        assert_eq!(
            bytes, lost,
            "{context}: only the missing members moved: {rerun}"
        );
        assert_eq!(
            fs::metadata(&untouched).unwrap().ino(),
            inode,
            "{context}: a complete member is not written again"
        );
    });
}

#[test]
fn a_link_where_a_member_goes_is_replaced_and_never_followed() {
    each_launch(|under_mpirun, context, dir| {
        let victim = dir.join("victim");
        fs::create_dir(&victim).unwrap();
        fs::write(victim.join("kept"), b"kept").unwrap();
        let planted: PathBuf = dir.join("out/2").join(small(7));
        fs::create_dir_all(planted.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(victim.join("kept"), &planted).unwrap();
        share(dir, under_mpirun, &[]);
        assert!(
            fs::symlink_metadata(&planted).unwrap().is_file(),
            "{context}: the link was replaced by the member"
        );
        assert_copies(dir, context);
        assert_eq!(fs::read(victim.join("kept")).unwrap(), b"kept", "{context}");
        assert_eq!(names_in(&victim), ["kept"], "{context}");
    });
}

#[test]
fn a_folder_where_a_member_goes_is_an_error_and_stays() {
    each_launch(|under_mpirun, context, dir| {
        let folder = dir.join("out/2").join(small(9));
        fs::create_dir_all(&folder).unwrap();
        let args = ["--from", "data", "--seeders", "1", "--to", "out/{rank}"];
        let output = share_command(dir, NP, under_mpirun, &args)
            .args(["--segment-size", "4KiB", "-q"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{context}: {stderr}");
        let expected = format!("rank 2: out/2/{} is a folder", small(9));
        assert!(stderr.contains(&expected), "{context}: {stderr}");
        assert!(folder.is_dir(), "{context}");
        // The members written before the job failed (on a thread of their
        // own, while segments came) are whole, with their mode and time;
        // no half one and no temporary is left, on either receiver.
        for rank in [2, 3] {
            let out = dir.join(format!("out/{rank}"));
            for file in files_under(&out) {
                let name = file.file_name().unwrap().to_string_lossy();
                assert!(
                    !name.starts_with('.'),
                    "{context}: temporary left: {file:?}"
                );
                let source = dir.join("data").join(&file);
                let got = fs::read(out.join(&file)).unwrap();
                assert_eq!(got, fs::read(&source).unwrap(), "{context}: {file:?}");
                let (got, want) = (mode_and_time(&out.join(&file)), mode_and_time(&source));
                assert_eq!(got, want, "{context}: {file:?}");
            }
        }
    });
}

/// `mpitorrent manifest` of every file of `data`, run inside it, as
/// `m.txt`.
fn make_manifest(dir: &Path) {
    let data = dir.join("data");
    let files: Vec<PathBuf> = files_under(&data);
    let output = mpitorrent()
        .current_dir(&data)
        .args(["manifest", "--segment-size", "4KiB"])
        .args(&files)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    fs::write(dir.join("m.txt"), output.stdout).unwrap();
}

#[test]
fn a_manifest_covers_packed_files_which_the_seeder_checks_as_it_packs_them() {
    each_launch(|under_mpirun, context, dir| {
        make_manifest(dir);
        let report = share(dir, under_mpirun, &["--manifest", "m.txt"]);
        assert_copies(dir, context);
        // The seeder hashed one segment of a large file (the check of the
        // segment size) and every segment of the packs, which no manifest
        // lists.
        let packs = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["name"].as_str().unwrap().starts_with("/pack "))
            .map(|f| f["segments"].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(
            report["reruns"]["source_segments_hashed"].as_u64(),
            Some(1 + packs),
            "{context}: {report}"
        );
        // A small file changed after the manifest, its size kept: the
        // seeder refuses to pack it, and nothing is written.
        let changed = dir.join("data").join(small(8));
        let mut content = fs::read(&changed).unwrap();
        content[0] ^= 1;
        fs::write(&changed, &content).unwrap();
        fs::remove_dir_all(dir.join("out")).unwrap();
        let args = ["--from", "data", "--seeders", "1", "--to", "out/{rank}"];
        let output = share_command(dir, NP, under_mpirun, &args)
            .args(["--segment-size", "4KiB", "--manifest", "m.txt", "-q"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{context}: {stderr}");
        let expected = format!(
            "rank 1: segment 1 of {} does not match its hash in the manifest",
            small(8)
        );
        assert!(stderr.contains(&expected), "{context}: {stderr}");
        for rank in [2, 3] {
            let out = dir.join(format!("out/{rank}"));
            assert!(
                !out.exists() || files_under(&out).is_empty(),
                "{context}: rank {rank} wrote {:?}",
                files_under(&out)
            );
        }
    });
}

#[test]
fn ranks_that_write_one_folder_write_one_copy_of_every_member() {
    for run in 0..6 {
        let under_mpirun = run % 2 == 1;
        let dir = tempfile::tempdir().unwrap();
        tree(dir.path());
        let args = ["--from", "data", "--seeders", "1", "--to", "out"];
        let output = share_command(dir.path(), NP, under_mpirun, &args)
            .args(["--segment-size", "4KiB", "--report", "r.json", "-q"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "run {run}: {stderr}");
        let data = dir.path().join("data");
        let out = dir.path().join("out");
        assert_same_tree(&data, &out);
        for file in files_under(&data) {
            let (copy, source) = (out.join(&file), data.join(&file));
            assert_eq!(mode_and_time(&copy), mode_and_time(&source), "run {run}");
        }
        let text = fs::read_to_string(dir.path().join("r.json")).unwrap();
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            moved(&report).0,
            total_bytes(dir.path()),
            "run {run}: one rank fetched, once"
        );
    }
}

#[test]
fn verify_finds_a_member_changed_behind_its_back_and_fetches_only_its_segments() {
    each_launch(|under_mpirun, context, dir| {
        share(dir, under_mpirun, &[]);
        // Rank 3's copy of a member: one byte changed, size and time kept.
        let changed = dir.join("out/3").join(small(10));
        let mut content = fs::read(&changed).unwrap();
        content[3] ^= 1;
        let time = mtime(&changed);
        fs::write(&changed, &content).unwrap();
        set_mtime(&changed, time);
        let untouched = dir.join("out/3").join(small(1));
        let inode = fs::metadata(&untouched).unwrap().ino();
        let verified = share(dir, under_mpirun, &["--verify"]);
        assert_copies(dir, context);
        // The segments holding the member (at most two) move again; the
        // members of the segments that matched are kept as they are.
        let (bytes, _, _) = moved(&verified);
        assert!(
            bytes > 0 && bytes <= 2 * SEGMENT as u64,
            "{context}: {verified}"
        );
        assert_eq!(fs::metadata(&untouched).unwrap().ino(), inode, "{context}");
    });
}
