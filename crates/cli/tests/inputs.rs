//! Inputs that never end or are huge (`/dev/zero`, `/dev/urandom`, a FIFO
//! fed forever, a sparse 50 GB file) end every command that reads them with
//! one error naming the file and the limit, under `local` and `mpirun`;
//! names from disk that hold terminal escapes are printed escaped.

mod common;

use common::*;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What `local` and `mpirun` say when rank 1's `in1.txt` is too large.
const INPUT_TOO_LARGE: &str =
    "mpitorrent: error: rank 1: in1.txt is larger than the limit of 256 MiB for an in<R>.txt";

const REPORT_TOO_LARGE: &str = "is larger than the limit of 256 MiB for a run report";

/// A FIFO at `path`, held open for reading and writing by this process:
/// it has a writer from now on, so a reader that opens it finds data or
/// waits for it (a writer that only opened it later could miss a reader
/// that had already given up on an empty FIFO).
fn fifo(path: &Path) -> File {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

/// `yes > path` for as long as this lives: a FIFO that never ends.
struct EndlessFifo {
    yes: Child,
    _held: File,
}

impl EndlessFifo {
    fn new(path: &Path) -> Self {
        let held = fifo(path);
        let yes = Command::new("yes")
            .stdout(Stdio::from(held.try_clone().unwrap()))
            .spawn()
            .unwrap();
        EndlessFifo { yes, _held: held }
    }
}

impl Drop for EndlessFifo {
    fn drop(&mut self) {
        let _ = self.yes.kill();
        let _ = self.yes.wait();
    }
}

/// The kinds of endless or huge `in1.txt` (or report) a user can name.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    DevZero,
    DevUrandom,
    EndlessFifo,
    Sparse50Gb,
}

const EVERY_KIND: [Hostile; 4] = [
    Hostile::DevZero,
    Hostile::DevUrandom,
    Hostile::EndlessFifo,
    Hostile::Sparse50Gb,
];

/// Puts a file of `kind` at `path`; what is returned must live as long as
/// the file is read (the FIFO's writer).
fn plant(kind: Hostile, path: &Path) -> Option<EndlessFifo> {
    match kind {
        Hostile::DevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        Hostile::DevUrandom => std::os::unix::fs::symlink("/dev/urandom", path).unwrap(),
        Hostile::EndlessFifo => return Some(EndlessFifo::new(path)),
        // Sparse: no disk is used.
        Hostile::Sparse50Gb => File::create(path).unwrap().set_len(50_000_000_000).unwrap(),
    }
    None
}

/// A classic folder whose rank 2 owns a file that rank 1 wants, so that a
/// run that wrongly went on would write `client1_f`.
fn classic_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("in2.txt"), "1\nf 2\naa\nbb\n0\n").unwrap();
    dir
}

/// Asserts a run failed with exactly one error line, `expected`, and left
/// no output; returns its stderr.
fn fails_with_one_line(output: std::process::Output, expected: &str, dir: &Path) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("mpitorrent: error"))
        .collect();
    assert_eq!(errors, [expected], "one error line expected: {stderr}");
    assert!(
        client_files(dir).is_empty(),
        "no output may be left: {stderr}"
    );
    stderr
}

#[test]
fn an_endless_or_huge_input_is_refused_in_one_process() {
    for kind in EVERY_KIND {
        let dir = classic_folder();
        let _writer = plant(kind, &dir.path().join("in1.txt"));
        let output = mpitorrent()
            .current_dir(dir.path())
            .args(["local", "--ranks", "3"])
            .output()
            .unwrap();
        let stderr = fails_with_one_line(output, INPUT_TOO_LARGE, dir.path());
        assert!(!stderr.contains("panicked"), "{kind:?}: {stderr}");
    }
}

#[test]
fn an_endless_or_huge_input_is_refused_under_mpirun() {
    for kind in EVERY_KIND {
        let dir = classic_folder();
        let _writer = plant(kind, &dir.path().join("in1.txt"));
        let output = mpirun(3, dir.path()).output().unwrap();
        let stderr = fails_with_one_line(output, INPUT_TOO_LARGE, dir.path());
        assert!(!stderr.contains("panicked"), "{kind:?}: {stderr}");
    }
}

#[test]
fn an_input_from_a_fifo_with_a_slow_writer_still_works() {
    let dir = classic_folder();
    let mut writer = fifo(&dir.path().join("in1.txt"));
    let feeding = std::thread::spawn(move || {
        for line in ["0\n", "1\n", "f\n"] {
            std::thread::sleep(std::time::Duration::from_millis(100));
            writer.write_all(line.as_bytes()).unwrap();
        }
        // Closing the only writer ends the input.
    });
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["local", "--ranks", "3", "-q"])
        .output()
        .unwrap();
    feeding.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        fs::read_to_string(dir.path().join("client1_f")).unwrap(),
        "aa\nbb\n"
    );
}

#[test]
fn a_fifo_nobody_writes_to_is_an_empty_input() {
    let dir = classic_folder();
    let status = Command::new("mkfifo")
        .arg(dir.path().join("in1.txt"))
        .status()
        .unwrap();
    assert!(status.success());
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["local", "--ranks", "3"])
        .output()
        .unwrap();
    fails_with_one_line(
        output,
        "mpitorrent: error: rank 1: in1.txt: line 1: the input is empty: \
         expected the number of owned files",
        dir.path(),
    );
}

#[test]
fn the_simulator_refuses_an_endless_or_huge_scenario_input() {
    for kind in EVERY_KIND {
        let dir = classic_folder();
        let path = dir.path().join("in1.txt");
        let _writer = plant(kind, &path);
        let output = mpitorrent()
            .args(["sim", "--scenario"])
            .arg(dir.path())
            .output()
            .unwrap();
        let expected = format!(
            "mpitorrent: error: {} is larger than the limit of 256 MiB for an in<R>.txt",
            path.display()
        );
        fails_with_one_line(output, &expected, dir.path());
    }
}

/// `mpitorrent report <path>`'s output, asserted to have failed.
fn report_fails(path: &Path) -> String {
    let output = mpitorrent().arg("report").arg(path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn an_endless_or_huge_report_is_refused() {
    for kind in EVERY_KIND {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        let _writer = plant(kind, &path);
        let stderr = report_fails(&path);
        let expected = format!("mpitorrent: error: {} {REPORT_TOO_LARGE}", path.display());
        assert_eq!(stderr.trim_end(), expected, "{kind:?}");
    }
    let stderr = report_fails(Path::new("/dev/zero"));
    assert!(
        stderr.contains(&format!("/dev/zero {REPORT_TOO_LARGE}")),
        "{stderr}"
    );
}

#[test]
fn a_report_from_a_fifo_nobody_writes_to_is_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.json");
    assert!(Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap()
        .success());
    let stderr = report_fails(&path);
    assert!(
        stderr.contains("run.json is not a run report (not JSON)"),
        "{stderr}"
    );
}

#[test]
fn a_manifest_of_a_device_or_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo_path = dir.path().join("fifo");
    let _writer = EndlessFifo::new(&fifo_path);
    for (path, shown) in [
        (PathBuf::from("/dev/zero"), "/dev/zero".to_string()),
        (fifo_path.clone(), fifo_path.display().to_string()),
    ] {
        let output = mpitorrent().arg("manifest").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!("mpitorrent: error: {shown} is not a regular file")
        );
        assert!(output.stdout.is_empty());
    }
    // A huge sparse file is regular: it is hashed, a segment at a time.
    let sparse = dir.path().join("sparse");
    File::create(&sparse).unwrap().set_len(3 << 20).unwrap();
    let output = mpitorrent().arg("manifest").arg(&sparse).output().unwrap();
    assert!(output.status.success());
    let listing = String::from_utf8(output.stdout).unwrap();
    assert!(
        listing.starts_with(&format!("{} 3\n", sparse.display())),
        "{listing}"
    );
}

/// Asserts `stderr` has no raw ESC byte, and that every line naming one
/// of the planted files is a whole warning: no newline in a name split it.
fn assert_names_escaped(stderr: &[u8]) {
    assert!(!stderr.contains(&0x1b), "a raw ESC reached the terminal");
    let text = String::from_utf8_lossy(stderr);
    for line in text.lines() {
        if line.contains("evil") {
            assert!(
                line.starts_with("mpitorrent: warning: rank 1: skipping "),
                "{text}"
            );
        } else {
            assert!(!line.contains("hijacked"), "a name started a line: {text}");
        }
    }
}

#[test]
fn names_with_terminal_escapes_are_shown_escaped_and_the_rest_is_shared() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("good.bin"), vec![7u8; 10_000]).unwrap();
    // ESC sequences (a title change, a screen clear), a newline that would
    // forge a line, and a byte that is not UTF-8.
    let invalid = b"evil\x1b]0;title\x07\nhijacked\x1b[2J\xff".as_slice();
    let control = b"evil\x1b[31m\nhijacked".as_slice();
    for name in [invalid, control] {
        fs::write(data.join(OsStr::from_bytes(name)), b"x").unwrap();
    }
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["share", "--segment-size", "4KiB", "--from", "data"])
        .args(["--seeders", "1", "--to", "out/{rank}", "--local", "4"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert_names_escaped(&output.stderr);
    assert!(
        text.contains(
            "skipping data/evil\\x1b]0;title\\x07\\nhijacked\\x1b[2J\\xff: its name is not UTF-8"
        ),
        "{text}"
    );
    assert!(
        text.contains("skipping data/evil\\x1b[31m\\nhijacked: 'evil\\x1b[31m\\nhijacked': "),
        "{text}"
    );
    for rank in 2..4 {
        let out = dir.path().join(format!("out/{rank}"));
        let names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["good.bin"], "rank {rank}");
        assert_eq!(fs::read(out.join("good.bin")).unwrap(), vec![7u8; 10_000]);
    }
}

#[test]
fn a_folder_name_with_escapes_is_shown_escaped_in_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let name = OsStr::from_bytes(b"in\x1b[2J\nhijacked\xfe");
    let input_dir = dir.path().join(name);
    fs::create_dir(&input_dir).unwrap();
    fs::write(input_dir.join("in2.txt"), "0\n0\n").unwrap();
    let output = mpitorrent()
        .current_dir(dir.path())
        .args(["local", "--ranks", "3", "--input-dir"])
        .arg(name)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        !output.stderr.contains(&0x1b),
        "a raw ESC reached the terminal"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        "mpitorrent: error: rank 1: cannot read in\\x1b[2J\\nhijacked\\xfe/in1.txt: \
         No such file or directory (os error 2)"
    );
}
