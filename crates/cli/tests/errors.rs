//! Bad input ends the job with one clear message, a non-zero exit and no
//! output files (on the in-process transport; `mpirun.rs` repeats the
//! essential cases under real MPI).

mod common;

use common::*;
use std::fs;
use std::path::Path;

/// Writes `in<R>.txt` files from raw text (rank 1 first).
fn inputs(texts: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, text) in texts.iter().enumerate() {
        fs::write(dir.path().join(format!("in{}.txt", i + 1)), text).unwrap();
    }
    dir
}

/// Runs `local` in `dir` and returns its stderr, asserting a failed exit,
/// exactly one error line, and no output written.
fn fails_once(dir: &Path, ranks: u32) -> String {
    let output = mpitorrent()
        .current_dir(dir)
        .args(["local", "--ranks", &ranks.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    let errors = stderr.lines().filter(|l| l.contains("error")).count();
    assert_eq!(errors, 1, "one error line expected, got: {stderr}");
    assert!(
        client_files(dir).is_empty(),
        "no output may be left: {stderr}"
    );
    stderr
}

const OWNS_F: &str = "1\nf 2\naa\nbb\n0\n";

#[test]
fn a_missing_input_names_the_rank_and_file() {
    let dir = inputs(&[OWNS_F]);
    let stderr = fails_once(dir.path(), 3);
    assert!(stderr.contains("rank 2: cannot read"), "{stderr}");
    assert!(stderr.contains("in2.txt"), "{stderr}");
}

#[test]
fn an_input_that_is_a_folder_or_empty_is_an_error() {
    let dir = inputs(&[OWNS_F]);
    fs::create_dir(dir.path().join("in2.txt")).unwrap();
    assert!(fails_once(dir.path(), 3).contains("rank 2: cannot read"));
    let dir = inputs(&[OWNS_F, ""]);
    assert!(fails_once(dir.path(), 3).contains("in2.txt: line 1: the input is empty"));
}

#[test]
fn a_bad_count_names_rank_file_and_line() {
    let dir = inputs(&[OWNS_F, "1\ng abc\n0\n"]);
    let stderr = fails_once(dir.path(), 3);
    assert!(stderr.contains("rank 2: "), "{stderr}");
    assert!(
        stderr.contains("in2.txt: line 2: expected the segment count of 'g'"),
        "{stderr}"
    );
}

#[test]
fn conflicting_listings_name_both_ranks() {
    let dir = inputs(&[OWNS_F, "1\nf 2\naa\ncc\n0\n"]);
    let stderr = fails_once(dir.path(), 3);
    assert!(
        stderr.contains("ranks 1 and 2 both own file 'f'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("segment 2 is 'bb' on rank 1 but 'cc' on rank 2"),
        "{stderr}"
    );
}

#[test]
fn a_wanted_file_nobody_owns_fails_before_downloads() {
    let dir = inputs(&[OWNS_F, "0\n2\nf\nghost\n"]);
    let stderr = fails_once(dir.path(), 3);
    assert!(
        stderr.contains("rank 2 wants file 'ghost', which no rank owns"),
        "{stderr}"
    );
}

#[test]
fn a_missing_output_folder_is_an_error() {
    let dir = inputs(&[OWNS_F, "0\n1\nf\n"]);
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["local", "--ranks", "3", "--output-dir", "no/such/dir"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the output folder no/such/dir does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_wanted_file_already_owned_is_written_from_the_own_copy() {
    let dir = inputs(&[OWNS_F, "0\n1\nf\n", "0\n0"]);
    let dir_path = dir.path();
    fs::write(dir_path.join("in1.txt"), "1\nf 2\naa\nbb\n1\nf\n").unwrap();
    mpitorrent()
        .current_dir(dir_path)
        .args(["local", "--ranks", "4"])
        .assert()
        .success();
    assert_eq!(
        fs::read_to_string(dir_path.join("client1_f")).unwrap(),
        "aa\nbb\n"
    );
    assert_eq!(
        fs::read_to_string(dir_path.join("client2_f")).unwrap(),
        "aa\nbb\n"
    );
}

#[test]
fn file_names_that_escape_the_output_folder_are_rejected() {
    for name in ["../x", "a/b", "/etc/passwd"] {
        let dir = inputs(&[&format!("1\n{name} 1\naa\n0\n")]);
        let stderr = fails_once(dir.path(), 2);
        assert!(stderr.contains("rank 1: "), "{stderr}");
        assert!(stderr.contains("line 2"), "{stderr}");
    }
}

/// A scenario where rank 1 seeds a file that ranks 2 and 3 download.
fn one_seed_two_leechers() -> tempfile::TempDir {
    let hashes: String = (0..30).map(|i| format!("h{i}\n")).collect();
    inputs(&[&format!("1\nf 30\n{hashes}0\n"), "0\n1\nf\n", "0\n1\nf\n"])
}

#[test]
fn a_stall_aborts_and_says_who_waits_for_what() {
    let dir = one_seed_two_leechers();
    let output = mpitorrent()
        .current_dir(dir.path())
        .env("MPITORRENT_FAULT", "silent-upload@1")
        .args(["local", "--ranks", "4", "--stall-timeout", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no progress for 1 s"), "{stderr}");
    assert!(
        stderr.contains("rank 2 waits for 'f' (0 of 30 segments reported)"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(client_files(dir.path()).is_empty());
}

#[test]
fn a_malformed_message_is_a_protocol_error_not_a_hang() {
    let dir = one_seed_two_leechers();
    let output = mpitorrent()
        .current_dir(dir.path())
        .env("MPITORRENT_FAULT", "garbage-upload@1")
        .args(["local", "--ranks", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rank 1 sent a message this rank cannot read"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(client_files(dir.path()).is_empty());
}

/// A message sent just before the end and received by nobody is found at
/// shutdown (the ranks count what they sent each other, so none is
/// missed however late it is): an error in the tests, which run strict,
/// naming the rank it reached and the one that sent it; the outputs are
/// still whole. Several times: the message may arrive before or after the
/// ranks meet at the end.
#[test]
fn a_message_nobody_receives_is_found_at_shutdown() {
    for _ in 0..4 {
        let dir = one_seed_two_leechers();
        let output = mpirun(4, dir.path())
            .env("MPITORRENT_FAULT", "stray-at-end@2")
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(
                "error: a message was never received: rank 0: \
                 3 undecodable bytes from rank 2 on the Download channel"
            ),
            "{stderr}"
        );
        assert_eq!(client_files(dir.path()).len(), 2, "{stderr}");
    }
}

#[test]
fn a_bad_fault_plan_is_refused() {
    let dir = one_seed_two_leechers();
    mpitorrent()
        .current_dir(dir.path())
        .env("MPITORRENT_FAULT", "bogus")
        .args(["local", "--ranks", "4"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("MPITORRENT_FAULT"));
}

/// A tmpfs mounted for one test (the suite runs as root in CI, where
/// mounting works); unmounted when dropped.
struct Mount(tempfile::TempDir);

impl Mount {
    fn tmpfs(options: &str) -> Mount {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Mount(dir)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// Runs a swarm whose one output is about 66 KB into `out`; returns stderr
/// after checking the failure.
fn write_fails(out: &Path) -> String {
    let hashes: String = (0..2000).map(|i| format!("{i:032x}\n")).collect();
    let dir = inputs(&[&format!("1\nf 2000\n{hashes}0\n"), "0\n1\nf\n"]);
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["local", "--ranks", "3", "--output-dir"])
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("rank 2: cannot write"), "{stderr}");
    assert!(stderr.contains("client2_f"), "{stderr}");
    let left: Vec<_> = fs::read_dir(out).unwrap().collect();
    assert!(
        left.is_empty(),
        "nothing may be left in the output folder: {left:?}"
    );
    stderr
}

#[test]
fn a_full_disk_is_an_error_and_leaves_no_partial_file() {
    let mount = Mount::tmpfs("size=16k");
    let stderr = write_fails(mount.0.path());
    assert!(stderr.contains("No space left on device"), "{stderr}");
}

/// `share` into a folder too small for the file, under mpirun and in one
/// process. A rank's download thread fails mid-transfer while owners are
/// still sending it segments of 256 KiB (above MPI's eager limit, so such a
/// send waits for a receiver that is gone): the job must still end at once,
/// with one message, and leave neither the file nor its `.part` behind.
/// Repeated, because whether a send is caught in flight depends on timing.
#[test]
fn a_full_disk_while_sharing_ends_the_job_and_leaves_nothing() {
    let source = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    fs::write(source.path().join("f.bin"), data).unwrap();
    let mount = Mount::tmpfs("size=3m");
    for attempt in 0..6 {
        let to = mount.0.path().join(attempt.to_string());
        let to = format!("{}/{{rank}}", to.display());
        let args = [
            "share",
            "--from",
            ".",
            "--seeders",
            "1",
            "--segment-size",
            "256KiB",
            "--to",
            &to,
            // The pre-flight would refuse it before any transfer.
            "--no-space-check",
        ];
        let output = if attempt % 2 == 0 {
            mpirun(5, source.path()).args(args).output().unwrap()
        } else {
            mpitorrent()
                .current_dir(source.path())
                .args(args)
                .args(["--local", "5"])
                .output()
                .unwrap()
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "attempt {attempt}: {stderr}");
        assert!(
            output.status.code().is_some(),
            "attempt {attempt}: killed (a hang?): {stderr}"
        );
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("mpitorrent: error"))
            .collect();
        assert_eq!(errors.len(), 1, "attempt {attempt}: {stderr}");
        assert!(
            errors[0].contains("No space left on device") && errors[0].contains("rank "),
            "attempt {attempt}: {stderr}"
        );
        // No rank may leave the file or its half-written `.part` behind:
        // under mpirun too, every rank gets to its clean-up (a rank stuck
        // sending to the failed one is unstuck by the others' drain).
        let root = mount.0.path().join(attempt.to_string());
        for rank in 2..5 {
            let folder = root.join(rank.to_string());
            let left: Vec<String> = fs::read_dir(&folder)
                .map(|entries| {
                    entries
                        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            assert!(
                left.is_empty(),
                "attempt {attempt}: rank {rank} left {left:?} in {}",
                folder.display()
            );
        }
        fs::remove_dir_all(root).ok();
    }
}

#[test]
fn an_unwritable_output_folder_is_an_error() {
    let mount = Mount::tmpfs("ro,size=16k");
    let stderr = write_fails(mount.0.path());
    assert!(stderr.contains("Read-only file system"), "{stderr}");
}

#[test]
fn an_output_folder_that_is_a_file_is_an_error() {
    let dir = inputs(&[OWNS_F, "0\n1\nf\n"]);
    let stderr = mpitorrent()
        .current_dir(dir.path())
        .args(["local", "--ranks", "3", "--output-dir", "in1.txt"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(
        stderr.contains("the output folder in1.txt does not exist or is not a folder"),
        "{stderr}"
    );
}
