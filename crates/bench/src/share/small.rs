//! `share-small-files`: a tree of many small files, the case packs are
//! for (issue 15, point 3), measured against the two ways people copy
//! such a tree without mpitorrent: `cp -r` into every destination on the
//! same host (the receivers' copies, run side by side), and
//! `tar c | mpi-bcast | tar x` (one archive made at the seeder, broadcast
//! as one file, unpacked by every receiver side by side). Each is timed
//! as a whole (wall) and by the CPU of every process it ran
//! (`getrusage(RUSAGE_CHILDREN)`, which counts the ranks `mpirun` waited
//! for), and its output checked file by file like mpitorrent's.

use super::case::mpi_bcast;
use super::data::{ShareDir, Tree};
use crate::bcast_report::BcastReport;
use crate::runner::{problem_list, Runner};
use anyhow::{bail, Context, Result};
use mpitorrent_core::content::hash_segment;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Files in the tree, folders they are spread over, and bytes each.
pub const SMALL_FILES: usize = 20_000;
pub const SMALL_FOLDERS: usize = 200;
pub const SMALL_FILE_SIZE: u64 = 150;

/// The bytes of small file `index`: [`SMALL_FILE_SIZE`] of them, text
/// made of hashes of the index (no two files alike).
pub fn small_bytes(index: u64) -> Vec<u8> {
    let mut text = String::new();
    let mut round = 0u64;
    while (text.len() as u64) < SMALL_FILE_SIZE {
        text += &hash_segment(&[index.to_le_bytes(), round.to_le_bytes()].concat());
        round += 1;
    }
    text.truncate(SMALL_FILE_SIZE as usize);
    text.into_bytes()
}

/// A baseline's wall time and the CPU time of everything it ran.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    pub wall: Duration,
    pub cpu_seconds: f64,
}

/// `cp -r` of the source into every receiver's folder, side by side,
/// checked and removed.
pub fn run_cp(dir: &ShareDir) -> Result<Measured> {
    dir.clean()?;
    super::disk::sync()?;
    let measured = measure(|| {
        let copies = dir.receivers(Tree::Cp).into_iter().map(|(_, to)| {
            let parent = to.parent().expect("a rank's folder is in its tree");
            std::fs::create_dir_all(parent)?;
            let mut cp = Command::new("cp");
            cp.arg("-r").arg(dir.source()).arg(&to);
            spawn(cp)
        });
        wait_all(copies.collect::<Result<Vec<_>>>()?, "cp -r")
    })?;
    checked(dir, Tree::Cp, "cp -r")?;
    Ok(measured)
}

/// `tar c` of the source at the seeder, `mpi-bcast` (with `--direct` if
/// `direct`) of the archive to every other peer, and `tar x` of it at
/// every receiver side by side, each archive removed after; checked and
/// removed. Also `mpi-bcast`'s report.
pub fn run_tar_bcast(
    runner: &Runner,
    dir: &ShareDir,
    direct: bool,
) -> Result<(Measured, BcastReport)> {
    dir.clean()?;
    super::disk::sync()?;
    let mut report = None;
    let measured = measure(|| {
        let mut tar = Command::new("tar");
        tar.arg("cf")
            .arg(dir.tar())
            .arg("-C")
            .arg(dir.source())
            .arg(".");
        wait_all(vec![spawn(tar)?], "tar c")?;
        mpi_bcast(runner, dir, direct)?;
        report = Some(BcastReport::read(&dir.bcast_report())?);
        let unpacks = dir.receivers(Tree::Bcast).into_iter().map(|(_, to)| {
            let mut tar = Command::new("tar");
            let archive = to.join(dir.tar().file_name().expect("the archive has a name"));
            tar.arg("xf").arg(&archive).arg("-C").arg(&to);
            spawn(tar).map(|child| (child, archive))
        });
        let unpacks = unpacks.collect::<Result<Vec<_>>>()?;
        let archives: Vec<_> = unpacks.iter().map(|(_, a)| a.clone()).collect();
        wait_all(unpacks.into_iter().map(|(c, _)| c).collect(), "tar x")?;
        for archive in archives {
            std::fs::remove_file(&archive)
                .with_context(|| format!("cannot remove {}", archive.display()))?;
        }
        Ok(())
    })?;
    checked(dir, Tree::Bcast, "tar c | mpi-bcast | tar x")?;
    Ok((measured, report.context("mpi-bcast wrote no report")?))
}

/// Runs `job`, timing it and counting the CPU of the processes it ran.
fn measure(job: impl FnOnce() -> Result<()>) -> Result<Measured> {
    let (cpu_before, start) = (children_cpu_seconds(), Instant::now());
    job()?;
    Ok(Measured {
        wall: start.elapsed(),
        cpu_seconds: children_cpu_seconds() - cpu_before,
    })
}

/// The outputs of `tree` are right (or the run fails, naming them); then
/// they are removed.
fn checked(dir: &ShareDir, tree: Tree, what: &str) -> Result<()> {
    let problems = dir.check(tree)?;
    if !problems.is_empty() {
        bail!("WRONG OUTPUT of {what} in {}", problem_list(&problems));
    }
    dir.clean()
}

fn spawn(mut command: Command) -> Result<Child> {
    command
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {command:?}"))
}

fn wait_all(children: Vec<Child>, what: &str) -> Result<()> {
    for mut child in children {
        let status = child
            .wait()
            .with_context(|| format!("cannot wait for {what}"))?;
        if !status.success() {
            bail!("{what} failed: {status}");
        }
    }
    Ok(())
}

/// User and system CPU of every child process waited for so far.
fn children_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::ShareKind;

    #[test]
    fn the_tree_is_written_and_cp_copies_it_to_every_receiver() {
        assert_ne!(small_bytes(1), small_bytes(2));
        let dir = ShareDir::create(ShareKind::SmallFiles, 0).unwrap();
        assert_eq!(dir.bytes().unwrap(), 2 * 20_000 * 150);
        assert_eq!(dir.check(Tree::Cp).unwrap().len(), 2 * 20_000);
        let measured = run_cp(&dir).unwrap();
        assert!(measured.cpu_seconds > 0.0, "{measured:?}");
        assert!(!dir.path().join("cp-out").exists(), "checked and removed");
    }
}
