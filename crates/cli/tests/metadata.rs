//! Issue 15, point 4: what `share` keeps besides the bytes. Permission
//! bits (not set-user-ID), modification times of files and folders, and
//! empty folders are kept; symbolic links are skipped with a warning, or
//! recreated as links with `--links` (never followed when writing). In
//! one process and under `mpirun`.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Ranks of every job here: the tracker, the seeder (1) and two peers.
const NP: u32 = 4;

/// A time in the past, `secs` after 2001-09-09, with nanoseconds.
fn past(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(1_000_000_000 + secs, 123_456_789)
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `data`: an executable, a private file, a set-user-ID one, an empty
/// file, an empty folder two levels down and a folder of mode 0750, each
/// with its own time; and a link to a file beside them.
fn data(dir: &Path) {
    let data = dir.join("data");
    fs::create_dir_all(data.join("bin")).unwrap();
    fs::create_dir_all(data.join("empty/deeper")).unwrap();
    fs::write(data.join("bin/run.sh"), bytes(3 * 4096 + 5, 1)).unwrap();
    fs::write(data.join("secret"), bytes(100, 2)).unwrap();
    fs::write(data.join("bin/suid"), bytes(10, 3)).unwrap();
    fs::write(data.join("empty.txt"), b"").unwrap();
    std::os::unix::fs::symlink("bin/run.sh", data.join("latest")).unwrap();
    for (name, mode, secs) in [
        ("bin/run.sh", 0o755, 1),
        ("secret", 0o600, 2),
        ("bin/suid", 0o4755, 3),
        ("empty.txt", 0o444, 4),
    ] {
        set_mode(&data.join(name), mode);
        set_mtime(&data.join(name), past(secs));
    }
    set_mode(&data.join("bin"), 0o750);
    for (name, secs) in [("bin", 10), ("empty/deeper", 11), ("empty", 12)] {
        set_mtime(&data.join(name), past(secs));
    }
}

/// Mode bits (all twelve) and modification time of `path`, not following
/// a link.
fn mode_and_time(path: &Path) -> (u32, SystemTime) {
    let meta = fs::symlink_metadata(path).unwrap();
    (meta.mode() & 0o7777, meta.modified().unwrap())
}

/// Runs the share of `data` to `out/{rank}` (with `extra` options) and
/// returns its stderr.
fn share(dir: &Path, under_mpirun: bool, extra: &[&str]) -> String {
    let mut args = vec!["--from", "data", "--seeders", "1", "--to", "out/{rank}"];
    args.extend(extra);
    args.extend(["--segment-size", "4KiB", "-q"]);
    let output = share_command(dir, NP, under_mpirun, &args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{args:?}: {stderr}");
    stderr
}

#[test]
fn modes_times_and_empty_folders_are_kept_and_links_skipped() {
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        data(dir.path());
        let stderr = share(dir.path(), under_mpirun, &[]);
        assert!(
            stderr.contains(
                "mpitorrent: warning: rank 1: skipping data/latest: a symbolic link \
                 (--links recreates links)"
            ),
            "{stderr}"
        );
        for rank in [2, 3] {
            let out = dir.path().join(format!("out/{rank}"));
            for name in ["bin/run.sh", "secret", "empty.txt"] {
                let original = dir.path().join("data").join(name);
                assert_eq!(
                    fs::read(out.join(name)).unwrap(),
                    fs::read(&original).unwrap()
                );
                assert_eq!(
                    mode_and_time(&out.join(name)),
                    mode_and_time(&original),
                    "rank {rank}: {name}"
                );
            }
            let (mode, time) = mode_and_time(&out.join("bin/suid"));
            assert_eq!(mode, 0o755, "no set-user-ID bit on a received file");
            assert_eq!(time, past(3));
            for name in ["bin", "empty", "empty/deeper"] {
                let original = dir.path().join("data").join(name);
                assert!(out.join(name).is_dir(), "rank {rank}: {name}");
                assert_eq!(
                    mode_and_time(&out.join(name)),
                    mode_and_time(&original),
                    "rank {rank}: folder {name}"
                );
            }
            assert!(fs::symlink_metadata(out.join("latest")).is_err(), "no link");
            assert_eq!(names_in(&out.join("empty/deeper")), Vec::<String>::new());
        }
    }
}

#[test]
fn links_recreates_links_as_links_and_never_follows_them() {
    for under_mpirun in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        data(dir.path());
        let data = dir.path().join("data");
        std::os::unix::fs::symlink("../../outside/planted", data.join("bin/escape")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", data.join("dangling")).unwrap();
        // Rank 2 already has a file where a link goes, and a link of its
        // own where the tree has a file: both are replaced, neither is
        // written through.
        let out2 = dir.path().join("out/2");
        fs::create_dir_all(&out2).unwrap();
        fs::write(out2.join("latest"), b"old file").unwrap();
        fs::create_dir(dir.path().join("victim")).unwrap();
        fs::write(dir.path().join("victim/kept"), b"kept").unwrap();
        std::os::unix::fs::symlink("../../victim/kept", out2.join("secret")).unwrap();
        let stderr = share(dir.path(), under_mpirun, &["--links"]);
        assert!(!stderr.contains("skipping"), "{stderr}");
        for rank in [2, 3] {
            let out = dir.path().join(format!("out/{rank}"));
            for (name, target) in [
                ("latest", "bin/run.sh"),
                ("bin/escape", "../../outside/planted"),
                ("dangling", "/nonexistent/x"),
            ] {
                let link = out.join(name);
                assert!(
                    fs::symlink_metadata(&link)
                        .unwrap()
                        .file_type()
                        .is_symlink(),
                    "rank {rank}: {name} is a link"
                );
                assert_eq!(fs::read_link(&link).unwrap(), Path::new(target));
            }
            assert_eq!(fs::read(out.join("secret")).unwrap(), bytes(100, 2));
            let hidden: Vec<String> = names_in(&out)
                .into_iter()
                .filter(|n| n.starts_with('.'))
                .collect();
            assert_eq!(hidden, Vec::<String>::new(), "no temporary left");
        }
        assert!(
            !dir.path().join("outside").exists(),
            "nothing written through a link"
        );
        assert_eq!(fs::read(dir.path().join("victim/kept")).unwrap(), b"kept");
    }
}
