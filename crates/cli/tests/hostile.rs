//! Issue 12, "files it creates": mpitorrent runs as root in folders other
//! users can write to. Each test plants what a careless or hostile user
//! could (links at the temporary names older versions used, a linked
//! sub-folder, a folder where a file goes, stale temporaries, a missing
//! report folder), runs the binary as a user would, in one process and
//! under `mpirun`, and checks the exit status, the one message, a victim
//! outside the folders untouched, and no wrong file under a final name.

mod common;

use common::*;
use mpitorrent_fs::temp::temp_name;
use mpitorrent_fs::{Folder, TempFile};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A segment size small enough that test files span several segments.
const SEGMENT: &str = "4KiB";

/// How a job is started.
#[derive(Clone, Copy, Debug)]
enum Launch {
    /// Every rank a thread of one process (`local`, `share --local`).
    Local,
    Mpirun,
}

const BOTH: [Launch; 2] = [Launch::Local, Launch::Mpirun];

/// Each launch twice, with its description: cases whose outcome could
/// depend on timing are repeated.
fn attempts() -> impl Iterator<Item = (String, Launch)> {
    let launches = BOTH.into_iter().chain(BOTH).enumerate();
    launches.map(|(attempt, launch)| (format!("{launch:?}, attempt {attempt}"), launch))
}

impl Launch {
    /// A classic swarm of `ranks` ranks in `dir`.
    fn classic(self, dir: &Path, ranks: u32) -> assert_cmd::Command {
        self.start(dir, ranks, &["local", "--ranks"], "run")
    }

    /// A `share` of `ranks` ranks in `dir`.
    fn share(self, dir: &Path, ranks: u32) -> assert_cmd::Command {
        let mut cmd = self.start(dir, ranks, &["share", "--local"], "share");
        cmd.args(["--segment-size", SEGMENT]);
        cmd
    }

    /// A `share` of `ranks` ranks in `dir` from rank 1's `data` to every
    /// rank's `out/<rank>`.
    fn share_out(self, dir: &Path, ranks: u32) -> assert_cmd::Command {
        let mut cmd = self.share(dir, ranks);
        cmd.args(["--from", "data", "--seeders", "1", "--to", "out/{rank}"]);
        cmd
    }

    /// `mpitorrent <local> <ranks>` or `mpirun -np <ranks> mpitorrent
    /// <command>`, in `dir`.
    fn start(self, dir: &Path, ranks: u32, local: &[&str], command: &str) -> assert_cmd::Command {
        match self {
            Launch::Local => {
                let mut cmd = mpitorrent();
                cmd.current_dir(dir).args(local).arg(ranks.to_string());
                cmd
            }
            Launch::Mpirun => {
                let mut cmd = mpirun(ranks, dir);
                cmd.arg(command);
                cmd
            }
        }
    }
}

/// How a run ended.
struct Outcome {
    success: bool,
    stderr: String,
}

fn run(mut cmd: assert_cmd::Command) -> Outcome {
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.code().is_some(), "killed (a hang?): {stderr}");
    Outcome {
        success: output.status.success(),
        stderr,
    }
}

impl Outcome {
    fn assert_success(&self, context: &str) {
        assert!(self.success, "{context}: {}", self.stderr);
    }

    /// Asserts a failure with exactly one error line from mpitorrent, and
    /// that it says each of `parts`.
    fn assert_one_error(&self, context: &str, parts: &[&str]) {
        assert!(!self.success, "{context}: {}", self.stderr);
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("mpitorrent: error"))
            .collect();
        assert_eq!(errors.len(), 1, "{context}: {}", self.stderr);
        for part in parts {
            assert!(
                errors[0].contains(part),
                "{context}: {part:?} in {}",
                errors[0]
            );
        }
    }
}

/// A file outside every folder a job writes, whose bytes must not change,
/// alone in its folder.
struct Victim {
    dir: tempfile::TempDir,
}

const PRECIOUS: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n";

impl Victim {
    fn new() -> Victim {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("passwd"), PRECIOUS).unwrap();
        Victim { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("passwd")
    }

    fn assert_untouched(&self, context: &str) {
        let bytes = fs::read(self.file()).unwrap();
        assert!(bytes == PRECIOUS, "{context}: the victim was overwritten");
        let names = fs::read_dir(self.dir.path()).unwrap().count();
        assert_eq!(
            names, 1,
            "{context}: something was created beside the victim"
        );
    }
}

/// `in<R>.txt` for a classic swarm: rank 1 owns `name` (2 segments), every
/// other peer wants it.
fn classic_inputs(dir: &Path, ranks: u32, name: &str) {
    fs::write(dir.join("in1.txt"), format!("1\n{name} 2\naa\nbb\n0\n")).unwrap();
    for rank in 2..ranks {
        fs::write(dir.join(format!("in{rank}.txt")), format!("0\n1\n{name}\n")).unwrap();
    }
}

const CLASSIC_OUTPUT: &str = "aa\nbb\n";

/// Asserts `path` is a regular file (not a link) holding `bytes`.
fn assert_file(path: &Path, bytes: &[u8], context: &str) {
    let meta = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{context}: {e}"));
    assert!(
        meta.is_file(),
        "{context}: {} is not a file",
        path.display()
    );
    assert!(
        fs::read(path).unwrap() == bytes,
        "{context}: {} differs",
        path.display()
    );
}

/// Plants links to the victim at every name in `names`; returns them.
fn plant_links(victim: &Victim, names: Vec<PathBuf>) -> Vec<PathBuf> {
    for name in &names {
        symlink(victim.file(), name).unwrap();
    }
    names
}

fn assert_still_links(links: &[PathBuf], context: &str) {
    for link in links {
        let meta = fs::symlink_metadata(link).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "{context}: {}",
            link.display()
        );
    }
}

/// The pids a run started now will probably get (older versions named
/// their temporaries after them): the next few thousand after the last
/// one the kernel gave out (the last field of /proc/loadavg), wrapping
/// past pid_max as the kernel does (to 300).
fn likely_pids() -> Vec<u32> {
    let read = |path| fs::read_to_string(path).unwrap();
    let loadavg = read("/proc/loadavg");
    let last: u32 = loadavg.split_whitespace().last().unwrap().parse().unwrap();
    let max: u32 = read("/proc/sys/kernel/pid_max").trim().parse().unwrap();
    (last + 1..last + 3000)
        .map(|pid| if pid >= max { pid - max + 300 } else { pid })
        .collect()
}

#[test]
fn links_at_every_predictable_temporary_name_are_never_followed_classic() {
    for (context, launch) in attempts() {
        let dir = tempfile::tempdir().unwrap();
        let victim = Victim::new();
        classic_inputs(dir.path(), 4, "f");
        let mut names: Vec<PathBuf> = likely_pids()
            .into_iter()
            .flat_map(|pid| (2..4).map(move |rank| format!(".client{rank}_f.part-{pid}")))
            .map(|name| dir.path().join(name))
            .collect();
        // The old report temporary, and final names planted as links.
        names.extend(["r.json.part", "t.svg", "client2_f"].map(|n| dir.path().join(n)));
        let links = plant_links(&victim, names);
        let mut cmd = launch.classic(dir.path(), 4);
        cmd.args(["--report", "r.json", "--timeline", "t.svg"]);
        run(cmd).assert_success(&context);
        victim.assert_untouched(&context);
        for rank in 2..4 {
            let output = dir.path().join(format!("client{rank}_f"));
            assert_file(&output, CLASSIC_OUTPUT.as_bytes(), &context);
        }
        let report = fs::read_to_string(dir.path().join("r.json")).unwrap();
        assert!(report.starts_with('{'), "{context}: {report}");
        let svg = fs::read_to_string(dir.path().join("t.svg")).unwrap();
        assert!(svg.contains("<svg"), "{context}");
        // The links at final names were replaced (checked above), the
        // others are left as they were.
        assert_still_links(&links[..links.len() - 2], &context);
    }
}

/// `data/f.bin` and `data/sub/g.bin`, a few segments each.
fn share_data(dir: &Path) {
    fs::create_dir_all(dir.join("data/sub")).unwrap();
    fs::write(dir.join("data/f.bin"), bytes(3 * 4096 + 7, 1)).unwrap();
    fs::write(dir.join("data/sub/g.bin"), bytes(4096, 2)).unwrap();
}

#[test]
fn links_at_every_predictable_temporary_name_are_never_followed_share() {
    for (context, launch) in attempts() {
        let dir = tempfile::tempdir().unwrap();
        let victim = Victim::new();
        share_data(dir.path());
        let mut names = Vec::new();
        let pids = likely_pids();
        for rank in 2..4 {
            let out = dir.path().join(format!("out/{rank}"));
            fs::create_dir_all(out.join("sub")).unwrap();
            for &pid in &pids {
                names.push(out.join(format!(".f.bin.part-{pid}")));
                names.push(out.join(format!("sub/.g.bin.part-{pid}")));
            }
        }
        names.push(dir.path().join("out/2/f.bin"));
        let links = plant_links(&victim, names);
        let cmd = launch.share_out(dir.path(), 4);
        run(cmd).assert_success(&context);
        victim.assert_untouched(&context);
        for rank in 2..4 {
            let out = dir.path().join(format!("out/{rank}"));
            assert_file(
                &out.join("f.bin"),
                &fs::read(dir.path().join("data/f.bin")).unwrap(),
                &context,
            );
            assert_file(&out.join("sub/g.bin"), &bytes(4096, 2), &context);
        }
        assert_still_links(&links[..links.len() - 1], &context);
    }
}

#[test]
fn a_linked_sub_folder_of_to_is_an_error_naming_the_rank_and_the_link() {
    for (context, launch) in attempts() {
        let dir = tempfile::tempdir().unwrap();
        let victim = Victim::new();
        share_data(dir.path());
        fs::create_dir_all(dir.path().join("out/2")).unwrap();
        symlink(victim.dir.path(), dir.path().join("out/2/sub")).unwrap();
        let cmd = launch.share_out(dir.path(), 3);
        run(cmd).assert_one_error(&context, &["rank 2: ", "out/2/sub is a symbolic link"]);
        victim.assert_untouched(&context);
        // f.bin may have been finished before sub/g.bin failed: whole.
        let finished = dir.path().join("out/2/f.bin");
        if finished.exists() {
            let whole = fs::read(dir.path().join("data/f.bin")).unwrap();
            assert_file(&finished, &whole, &context);
        }
        assert_eq!(
            names_in(&dir.path().join("out/2")).len(),
            finished.exists() as usize + 1
        );
    }
}

#[test]
fn a_folder_where_a_file_goes_is_an_error_and_stays() {
    for launch in BOTH {
        let context = format!("classic, {launch:?}");
        let dir = tempfile::tempdir().unwrap();
        classic_inputs(dir.path(), 3, "f");
        fs::create_dir(dir.path().join("client2_f")).unwrap();
        let outcome = run(launch.classic(dir.path(), 3));
        outcome.assert_one_error(
            &context,
            &["rank 2: ", "client2_f is a folder, where a file"],
        );
        assert!(dir.path().join("client2_f").is_dir(), "{context}");
        assert_eq!(
            names_in(dir.path()),
            ["client2_f", "in1.txt", "in2.txt"],
            "{context}"
        );

        let context = format!("share, {launch:?}");
        let dir = tempfile::tempdir().unwrap();
        share_data(dir.path());
        fs::create_dir_all(dir.path().join("out/2/f.bin")).unwrap();
        let cmd = launch.share_out(dir.path(), 3);
        let outcome = run(cmd);
        outcome.assert_one_error(&context, &["rank 2: ", "out/2/f.bin is a folder"]);
        assert!(dir.path().join("out/2/f.bin").is_dir(), "{context}");
        assert!(
            files_under(&dir.path().join("out/2")).is_empty(),
            "{context}"
        );

        // And a file where a folder goes.
        let dir = tempfile::tempdir().unwrap();
        share_data(dir.path());
        fs::create_dir_all(dir.path().join("out/2")).unwrap();
        fs::write(dir.path().join("out/2/sub"), b"mine").unwrap();
        let cmd = launch.share_out(dir.path(), 3);
        let outcome = run(cmd);
        outcome.assert_one_error(&context, &["rank 2: ", "out/2/sub is not a folder"]);
        assert_eq!(fs::read(dir.path().join("out/2/sub")).unwrap(), b"mine");
    }
}

#[test]
fn names_of_255_bytes_work_end_to_end() {
    // client2_ is 8 bytes: the longest wanted name has 247.
    let longest = "n".repeat(247);
    // Two-byte characters, so that shortening for the temporary name must
    // cut on a character boundary.
    let long_utf8 = format!("{}.b", "é".repeat(126));
    assert_eq!(long_utf8.len(), 254);
    for launch in BOTH {
        let context = format!("classic, {launch:?}");
        let dir = tempfile::tempdir().unwrap();
        classic_inputs(dir.path(), 4, &longest);
        run(launch.classic(dir.path(), 4)).assert_success(&context);
        for rank in 2..4 {
            let output = dir.path().join(format!("client{rank}_{longest}"));
            assert_eq!(output.file_name().unwrap().len(), 255);
            assert_file(&output, CLASSIC_OUTPUT.as_bytes(), &context);
        }

        let context = format!("share, {launch:?}");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join(&long_utf8)).unwrap();
        fs::write(data.join("x".repeat(255)), bytes(5000, 3)).unwrap();
        fs::write(data.join(&long_utf8).join(&long_utf8), bytes(9000, 4)).unwrap();
        let cmd = launch.share_out(dir.path(), 3);
        run(cmd).assert_success(&context);
        assert_same_tree(&data, &dir.path().join("out/2"));
    }
}

#[test]
fn a_classic_output_name_that_cannot_fit_is_refused_before_any_download() {
    let too_long = "n".repeat(248);
    for launch in BOTH {
        let context = format!("{launch:?}");
        let dir = tempfile::tempdir().unwrap();
        classic_inputs(dir.path(), 3, &too_long);
        let outcome = run(launch.classic(dir.path(), 3));
        let expected = format!("would be named client2_{too_long}, 256 bytes");
        outcome.assert_one_error(&context, &["rank 2: ", &expected, "255 bytes"]);
        assert!(client_files(dir.path()).is_empty(), "{context}");
        assert_eq!(names_in(dir.path()), ["in1.txt", "in2.txt"], "{context}");
    }
}

#[test]
fn to_inside_from_is_never_copied_into_itself() {
    let dir = tempfile::tempdir().unwrap();
    share_data(dir.path());
    let data = dir.path().join("data");
    let original = files_under(&data);
    for (run_number, launch) in [Launch::Local, Launch::Local, Launch::Mpirun]
        .into_iter()
        .enumerate()
    {
        let context = format!("run {run_number}, {launch:?}");
        let mut cmd = launch.share(dir.path(), 4);
        cmd.args([
            "--from",
            "data",
            "--seeders",
            "1",
            "--to",
            "data/copies/{rank}",
        ]);
        run(cmd).assert_success(&context);
        for rank in 2..4 {
            let copy = data.join(format!("copies/{rank}"));
            assert_eq!(files_under(&copy), original, "{context}: rank {rank}");
        }
        // The seeder itself holds everything already: it copies nothing.
        assert!(files_under(&data.join("copies/1")).is_empty(), "{context}");
    }
}

/// Writes a stale temporary (nobody holds it) of `owner` for `name` in
/// `dir`; returns its path.
fn stale(dir: &Path, name: &str, owner: u32, random: u64) -> PathBuf {
    let path = dir.join(temp_name(name.as_ref(), owner, random));
    fs::write(&path, b"half written by a killed run").unwrap();
    path
}

/// A temporary that this test process holds (its flock is live) for as
/// long as the value lives.
fn held(dir: &Path, name: &str, owner: u32) -> TempFile {
    let folder = Arc::new(Folder::open(dir).unwrap());
    TempFile::create(folder, name.as_ref(), owner).unwrap()
}

#[test]
fn a_successful_rerun_removes_its_stale_temporaries_but_not_a_held_one_classic() {
    for (context, launch) in attempts() {
        let dir = tempfile::tempdir().unwrap();
        classic_inputs(dir.path(), 3, "f");
        let path = dir.path();
        let gone = [
            stale(path, "client2_f", 2, 1),
            stale(path, "client2_f", 2, 2),
        ];
        let live = held(path, "client2_f", 2);
        let kept = [
            stale(path, "client2_g", 2, 3), // not an output of this run
            stale(path, "client3_f", 3, 4), // another rank's
            stale(path, "client2_f", 3, 5), // another rank's pattern
        ];
        let old_style = path.join(".client2_f.part-123");
        fs::write(&old_style, b"").unwrap();
        // Rank 0's report: an old temporary of it goes, a held one stays.
        let old_report = stale(path, "r.json", 0, 6);
        let live_report = held(path, "r.json", 0);
        let mut cmd = launch.classic(path, 3);
        cmd.args(["--report", "r.json"]);
        run(cmd).assert_success(&context);
        assert_file(&path.join("client2_f"), CLASSIC_OUTPUT.as_bytes(), &context);
        for p in gone.iter().chain([&old_report]) {
            assert!(!p.exists(), "{context}: {} was not removed", p.display());
        }
        for p in kept
            .iter()
            .chain([&live.path(), &live_report.path(), &old_style])
        {
            assert!(p.exists(), "{context}: {} was removed", p.display());
        }
    }
}

#[test]
fn a_successful_rerun_removes_its_stale_temporaries_but_not_a_held_one_share() {
    for (context, launch) in attempts() {
        let dir = tempfile::tempdir().unwrap();
        share_data(dir.path());
        let out = |rank: u32| dir.path().join(format!("out/{rank}"));
        for rank in 2..4 {
            fs::create_dir_all(out(rank).join("sub")).unwrap();
        }
        let gone = [
            stale(&out(2), "f.bin", 2, 1),
            stale(&out(2).join("sub"), "g.bin", 2, 2),
            stale(&out(3), "f.bin", 3, 3),
            stale(&out(2), "renamed-since.bin", 2, 4),
        ];
        let live = [
            held(&out(2), "f.bin", 2),
            held(&out(3).join("sub"), "g.bin", 3),
        ];
        let kept = stale(&out(2), "f.bin", 3, 5);
        let cmd = launch.share_out(dir.path(), 4);
        run(cmd).assert_success(&context);
        for rank in 2..4 {
            assert_file(&out(rank).join("sub/g.bin"), &bytes(4096, 2), &context);
        }
        for p in &gone {
            assert!(!p.exists(), "{context}: {} was not removed", p.display());
        }
        for p in live.iter().map(TempFile::path).chain([kept]) {
            assert!(p.exists(), "{context}: {} was removed", p.display());
        }
    }
}

#[test]
fn report_and_timeline_into_a_missing_folder_fail_before_the_swarm_runs() {
    for launch in BOTH {
        for (option, path) in [("--report", "nodir/r.json"), ("--timeline", "nodir/t.svg")] {
            let context = format!("{launch:?} {option}");
            let dir = tempfile::tempdir().unwrap();
            classic_inputs(dir.path(), 3, "f");
            let mut cmd = launch.classic(dir.path(), 3);
            cmd.args([option, path]);
            let outcome = run(cmd);
            let shown = format!("{option} {path}: cannot open the folder nodir");
            outcome.assert_one_error(&context, &[&shown, "No such file or directory"]);
            assert!(client_files(dir.path()).is_empty(), "{context}: no output");
            assert_eq!(names_in(dir.path()), ["in1.txt", "in2.txt"], "{context}");
        }
        let context = format!("share, {launch:?}");
        let dir = tempfile::tempdir().unwrap();
        share_data(dir.path());
        let mut cmd = launch.share_out(dir.path(), 3);
        cmd.args(["--report", "nodir/r.json"]);
        run(cmd).assert_one_error(&context, &["--report nodir/r.json"]);
        let out = dir.path().join("out");
        assert!(!out.exists() || files_under(&out).is_empty(), "{context}");
    }
}
