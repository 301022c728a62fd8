//! Settings that cannot work end the job with one message and a non-zero
//! exit, having written nothing: a `share` with nothing to share, seeders
//! that are not peers, segments below 4 KiB, and command-line errors under
//! `mpirun` (printed by rank 0 only). (Several ranks writing into one
//! `--to` folder is not an error: see `one_copy.rs`.) The classic default command takes `run`'s options. (`sim`'s
//! limits are in `sim_limits.rs`.)

mod common;

use common::*;
use mpitorrent_core::scenario::ScenarioParams;
use std::fs;
use std::path::Path;
use std::process::Output;

/// Ranks of every `mpirun` job here: the tracker and three peers.
const NP: u32 = 4;

/// A folder `data` of two files, each of several 4 KiB segments.
fn data(dir: &Path) {
    fs::create_dir_all(dir.join("data/sub")).unwrap();
    let bytes = |len: usize, seed: u8| -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
    };
    fs::write(dir.join("data/a.bin"), bytes(5 * 4096 + 17, 1)).unwrap();
    fs::write(dir.join("data/sub/b.bin"), bytes(3 * 4096, 2)).unwrap();
}

/// Every regular file under `root` (none if it does not exist).
fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// Asserts that `output` failed with `code` (under `mpirun` too: rank 0's
/// status is the job's), and that its stderr holds `message` exactly once
/// and no other error line. Returns the stderr.
fn fails_once(output: &Output, code: i32, message: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert_eq!(
        stderr.matches(message).count(),
        1,
        "'{message}' exactly once in: {stderr}"
    );
    let errors = stderr.lines().filter(|l| l.contains("error")).count();
    assert_eq!(errors, 1, "one error line in: {stderr}");
    stderr
}

/// `mpitorrent share <args>`, in one process with `NP` ranks or under
/// `mpirun -np NP`, in `dir`.
fn share(dir: &Path, under_mpirun: bool, args: &[&str]) -> Output {
    share_command(dir, NP, under_mpirun, args).output().unwrap()
}

/// Runs `share <args>` on `data` in one process and under mpirun, and
/// asserts each fails with `code` and `message` once, having written no
/// file under `out`; then `also` checks the folder.
fn refused_in_both(args: &[&str], code: i32, message: &str, also: impl Fn(&Path)) {
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        data(dir.path());
        let output = share(dir.path(), under_mpirun, args);
        fails_once(&output, code, message);
        assert_eq!(files_under(&dir.path().join("out")), Vec::<String>::new());
        also(dir.path());
    }
}

#[test]
fn a_share_with_no_from_anywhere_is_an_error_naming_it() {
    refused_in_both(
        &["--from", "missing/{rank}", "--to", "out/{rank}"],
        1,
        "nothing to share: no rank has a file under --from missing/{rank}",
        |_| {},
    );
}

#[test]
fn an_empty_from_is_nothing_to_share_too() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("empty")).unwrap();
    let output = share(
        dir.path(),
        false,
        &["--from", "empty", "--seeders", "1", "--to", "out/{rank}"],
    );
    fails_once(&output, 1, "nothing to share: no rank has a file");
}

#[test]
fn seeders_must_be_peer_ranks_of_the_job() {
    let cases = [
        ("0", "--seeders names rank 0, which is the tracker"),
        ("1,4", "--seeders names rank 4, but the job has 4 ranks"),
        ("99", "--seeders names rank 99, but the job has 4 ranks"),
    ];
    for (seeders, message) in cases {
        let args = ["--from", "data", "--seeders", seeders, "--to", "out/{rank}"];
        refused_in_both(&args, 2, message, |dir| {
            assert!(!dir.join("out").exists(), "nothing was started");
        });
    }
}

#[test]
fn a_seeder_without_its_from_folder_is_one_error() {
    refused_in_both(
        &[
            "--from",
            "data/{rank}",
            "--seeders",
            "2",
            "--to",
            "out/{rank}",
        ],
        1,
        "rank 2: --from data/2 is not a folder, but this rank is a seeder",
        |_| {},
    );
}

#[test]
fn segments_below_4kib_are_refused_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    data(dir.path());
    let message = "is below the smallest segment, 4KiB: a number without a unit is in bytes";
    for size in ["1", "4095", "1KiB"] {
        let output = mpitorrent()
            .current_dir(dir.path())
            .args(["manifest", "--segment-size", size, "data/a.bin"])
            .output()
            .unwrap();
        fails_once(&output, 2, message);
        assert!(output.stdout.is_empty());
    }
    for under_mpirun in [false, true] {
        let args = [
            "--from",
            "data",
            "--to",
            "out/{rank}",
            "--segment-size",
            "1",
        ];
        let output = share(dir.path(), under_mpirun, &args);
        fails_once(&output, 2, message);
        assert!(!dir.path().join("out").exists(), "nothing was started");
    }
    let huge = mpitorrent()
        .current_dir(dir.path())
        .args(["manifest", "--segment-size", "2GiB", "data/a.bin"])
        .output()
        .unwrap();
    fails_once(&huge, 2, "is above the largest segment, 1GiB");
    // The smallest accepted size still splits a file into its segments.
    let smallest = mpitorrent()
        .current_dir(dir.path())
        .args(["manifest", "--segment-size", "4096", "data/a.bin"])
        .output()
        .unwrap();
    assert!(smallest.status.success());
    assert!(String::from_utf8_lossy(&smallest.stdout).starts_with("data/a.bin 6\n"));
}

#[test]
fn a_command_line_error_under_mpirun_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 3] = [&["--bogus"], &["share", "--from", "x"], &["--window", "0"]];
    // Repeated: which rank ends first varies, and rank 0 must print anyway.
    for args in cases.iter().cycle().take(3 * cases.len()) {
        let output = mpirun(NP, dir.path()).args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.matches("error:").count(),
            1,
            "{args:?}: one error in: {stderr}"
        );
        let hint = "For more information, try '--help'.";
        assert_eq!(stderr.matches(hint).count(), 1, "{args:?}: {stderr}");
    }
    let help = mpirun(NP, dir.path()).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    // (Open MPI hands rank 0 a terminal, so the help comes in colour.)
    let about = "A BitTorrent-style file swarm over MPI.";
    assert_eq!(text.matches(about).count(), 1, "{text}");
}

/// A classic swarm of `NP` ranks in a fresh folder.
fn classic_swarm() -> (tempfile::TempDir, mpitorrent_core::scenario::Scenario) {
    generated(&ScenarioParams {
        ranks: NP,
        files: 3,
        segments: 30,
        seeds_per_file: 1,
        wanters_per_file: 2,
        seed: 12,
    })
}

#[test]
fn the_classic_command_takes_the_options_of_run() {
    let (dir, scenario) = classic_swarm();
    let output = mpirun(NP, dir.path())
        .args(["-q", "--window", "1", "--strategy", "round-robin"])
        .args(["--report", "r.json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.contains("peers downloaded"),
        "-q: no summary: {stderr}"
    );
    assert_outputs(dir.path(), &scenario, "mpitorrent -q");
    let report = fs::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(report.contains("\"strategy\": \"round-robin\""), "{report}");
    assert!(report.contains("\"window\": 1"), "{report}");
}

#[test]
fn options_of_run_before_another_command_are_refused_not_ignored() {
    let (dir, _) = classic_swarm();
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["-q", "local", "--ranks", "4"])
        .output()
        .unwrap();
    fails_once(
        &output,
        2,
        "--quiet before 'local' is an option of the classic swarm without a command",
    );
    assert!(client_files(dir.path()).is_empty());
    // -v is everyone's, before the command or after it.
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["-v", "local", "--ranks", "4", "-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("INFO"), "-v logs: {stderr}");
}
