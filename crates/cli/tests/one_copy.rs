//! One copy per folder: ranks whose `--to` is one folder (the ranks of a
//! node with `--to DIR/{node}`, every rank of `--local` with one `--to`,
//! links that lead to one folder) cooperate: one of them fetches and
//! writes, the others fetch nothing, and the folder ends with exactly one
//! whole copy, in any interleaving. In one process and under `mpirun`,
//! repeated, since which rank registers first varies from run to run.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

/// Ranks of every job here: the tracker and three peers.
const NP: u32 = 4;

/// A folder `data` of two files, each of several 4 KiB segments; their
/// total size.
fn data(dir: &Path) -> u64 {
    fs::create_dir_all(dir.join("data/sub")).unwrap();
    fs::write(dir.join("data/a.bin"), bytes(5 * 4096 + 17, 1)).unwrap();
    fs::write(dir.join("data/sub/b.bin"), bytes(3 * 4096, 2)).unwrap();
    5 * 4096 + 17 + 3 * 4096
}

/// `mpitorrent share ARGS --report r.json` in `dir`, in one process or
/// under mpirun; asserts success and returns the report's
/// `bytes_downloaded`.
fn share(dir: &Path, under_mpirun: bool, args: &[&str]) -> u64 {
    let mut cmd = share_command(dir, NP, under_mpirun, args);
    cmd.args(["--report", "r.json", "-q"]);
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    report["bytes_downloaded"].as_u64().unwrap()
}

#[test]
fn one_to_folder_for_every_rank_gets_one_copy() {
    for run in 0..10 {
        let under_mpirun = run % 2 == 1;
        let dir = tempfile::tempdir().unwrap();
        let size = data(dir.path());
        let args = ["--from", "data", "--seeders", "1", "--to", "out"];
        let moved = share(dir.path(), under_mpirun, &args);
        assert_same_tree(&dir.path().join("data"), &dir.path().join("out"));
        assert_eq!(moved, size, "run {run}: one rank fetched, once");
    }
}

#[test]
fn links_to_one_folder_get_one_copy_and_other_folders_their_own() {
    for under_mpirun in [false, true, false, true] {
        let dir = tempfile::tempdir().unwrap();
        let size = data(dir.path());
        for (rank, target) in [(1, "mine"), (2, "shared"), (3, "shared")] {
            fs::create_dir_all(dir.path().join(target)).unwrap();
            let link = dir.path().join(format!("view/{rank}"));
            fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(format!("../{target}"), link).unwrap();
        }
        let args = ["--from", "data", "--seeders", "1", "--to", "view/{rank}"];
        let moved = share(dir.path(), under_mpirun, &args);
        assert_same_tree(&dir.path().join("data"), &dir.path().join("shared"));
        // The seeder (rank 1) owns everything: it writes no copy of it.
        assert_eq!(files_under(&dir.path().join("mine")), Vec::<PathBuf>::new());
        assert_eq!(moved, size, "ranks 2 and 3 fetched one copy");
    }
}

#[test]
fn node_in_to_is_the_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let size = data(dir.path());
    let args = ["--from", "data", "--seeders", "1", "--to", "out/{node}"];
    let moved = share(dir.path(), true, &args);
    let nodes = names_in(&dir.path().join("out"));
    assert_eq!(nodes.len(), 1, "one host, one folder: {nodes:?}");
    assert_same_tree(
        &dir.path().join("data"),
        &dir.path().join("out").join(&nodes[0]),
    );
    assert_eq!(moved, size);
}
