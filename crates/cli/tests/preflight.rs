//! Issue 15, point 5: before any download, rank 0 checks that every
//! destination filesystem has the room for what its ranks lack; if not,
//! the job ends with one line naming the ranks, the node, the folders and
//! the bytes, and nothing is transferred or written. On a 1 MiB tmpfs
//! (mounted for the test, as root; unmounted however the test ends), in
//! one process and under `mpirun`.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of `size` mounted on a fresh folder, unmounted on drop (also
/// when the test panics).
struct Tmpfs {
    mount: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` if this user may not mount (not root): the test says so and
    /// checks nothing.
    fn mount(size: &str) -> Option<Tmpfs> {
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to this process's user.
        if fs::metadata("/proc/self").unwrap().uid() != 0 {
            eprintln!("skipping: mounting a tmpfs needs root");
            return None;
        }
        let parent = tempfile::tempdir().unwrap();
        let mount = parent.path().join("small");
        fs::create_dir(&mount).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount)
            .status()
            .unwrap();
        assert!(status.success(), "mount -t tmpfs failed as root");
        Some(Tmpfs {
            mount,
            _parent: parent,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let status = Command::new("umount").arg(&self.mount).status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("could not unmount {}", self.mount.display());
        }
    }
}

/// `data/big.bin` of `size` bytes and a small file beside it.
fn data(dir: &Path, size: usize) {
    fs::create_dir_all(dir.join("data/sub")).unwrap();
    fs::write(dir.join("data/sub/big.bin"), bytes(size, 1)).unwrap();
    fs::write(dir.join("data/small"), bytes(10, 2)).unwrap();
}

/// Runs the share of `data` to `to` with `np` ranks; (success, stderr).
fn share(dir: &Path, np: u32, under_mpirun: bool, to: &Path) -> (bool, String) {
    let to = to.to_str().unwrap();
    let args = ["--from", "data", "--seeders", "1", "--to", to, "-q"];
    let mut cmd = share_command(dir, np, under_mpirun, &args);
    cmd.args(["--report", "r.json"]);
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stderr)
}

#[test]
fn a_destination_without_room_is_refused_before_anything_moves() {
    for under_mpirun in [false, true] {
        let Some(small) = Tmpfs::mount("1m") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        data(dir.path(), 2 << 20);
        let (ok, stderr) = share(dir.path(), 3, under_mpirun, &small.mount);
        assert!(!ok, "{stderr}");
        let host = mpitorrent_net::share::destination::host_name();
        let line = format!(
            "mpitorrent: error: rank 2 (node {host}): not enough room in {}: \
             2097162 bytes (2.0 MiB) to write, 1048576 bytes (1.0 MiB) available \
             (nothing was transferred)",
            small.mount.display()
        );
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(errors, [line.as_str()], "{stderr}");
        assert_eq!(
            names_in(&small.mount),
            Vec::<String>::new(),
            "nothing written"
        );
        assert!(
            !dir.path().join("r.json").exists(),
            "no report of a job that did not run"
        );
    }
}

#[test]
fn folders_on_one_filesystem_are_checked_together() {
    for under_mpirun in [false, true] {
        let Some(small) = Tmpfs::mount("1m") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        data(dir.path(), 600 << 10);
        let per_rank = small.mount.join("{rank}");
        // One peer's copy fits...
        let (ok, stderr) = share(dir.path(), 3, under_mpirun, &per_rank);
        assert!(ok, "{stderr}");
        assert_same_tree(&dir.path().join("data"), &small.mount.join("2"));
        fs::remove_dir_all(small.mount.join("2")).unwrap();
        // ...two do not, though each alone would.
        let (ok, stderr) = share(dir.path(), 4, under_mpirun, &per_rank);
        assert!(!ok, "{stderr}");
        let (two, three) = (small.mount.join("2"), small.mount.join("3"));
        assert!(
            stderr.contains(&format!(
                "ranks 2, 3 (node {}): not enough room in {}, {}: 1228820 bytes (1.2 MiB) to write",
                mpitorrent_net::share::destination::host_name(),
                two.display(),
                three.display()
            )),
            "{stderr}"
        );
        for folder in [&two, &three] {
            assert_eq!(
                files_under(folder),
                Vec::<PathBuf>::new(),
                "nothing written"
            );
        }
    }
}
