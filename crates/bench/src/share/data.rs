//! A real-data scenario on disk: a fresh temporary folder (removed on
//! drop) holding the generated inputs, where each job writes into its own
//! destination tree (`share-out/{rank}` for mpitorrent, `bcast-out/{rank}`
//! for `mpi-bcast`), and what every rank's tree must hold afterwards.
//!
//! ```text
//! from/data.bin                    share-one-to-all, -start, -rerun: on seeder rank 1
//! shards/<r>/shard-<r>.bin         share-all-gather: on peer rank r
//! from/d<nnn>/f<nnn>.txt           share-small-files: on seeder rank 1
//! share-out/<r>/, bcast-out/<r>/   the outputs of the current job
//! cp-out/<r>/, small.tar           share-small-files: cp -r's, and tar's
//! ```

use super::disk;
use super::small::{small_bytes, SMALL_FILES, SMALL_FOLDERS};
use super::verify::{check_folder, Expected};
use super::ShareKind;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Display;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Below this much free space a real-data scenario does not start.
const MIN_FREE: u64 = 6 << 30;
/// Free space left over beyond the inputs and one job's outputs.
const SPARE: u64 = 1 << 30;

/// The seeder of `share-one-to-all`.
const SEEDER: u32 = 1;
const SOURCE_DIR: &str = "from";
const SOURCE_FILE: &str = "data.bin";
const SHARDS_DIR: &str = "shards";
const TAR: &str = "small.tar";

/// Where a job writes: `<tree>/<rank>`.
#[derive(Clone, Copy, Debug)]
pub enum Tree {
    Share,
    Bcast,
    /// `cp -r` (share-small-files).
    Cp,
}

impl Tree {
    const ALL: [Tree; 3] = [Tree::Share, Tree::Bcast, Tree::Cp];

    fn name(self) -> &'static str {
        match self {
            Tree::Share => "share-out",
            Tree::Bcast => "bcast-out",
            Tree::Cp => "cp-out",
        }
    }

    /// `--to` of the job.
    pub fn template(self) -> String {
        format!("{}/{{rank}}", self.name())
    }
}

/// A scenario's inputs, written once, and what each run must output.
pub struct ShareDir {
    dir: TempDir,
    kind: ShareKind,
    /// Per peer rank, every file its tree must hold.
    expected: BTreeMap<u32, Vec<Expected>>,
}

impl ShareDir {
    /// Writes the inputs of `kind` (`size` bytes in all) into a new folder
    /// under the system's temporary folder, after checking that it has
    /// room for them and for one job's outputs.
    pub fn create(kind: ShareKind, size: u64) -> Result<ShareDir> {
        let parent = std::env::temp_dir();
        let peers = u64::from(kind.ranks() - 1);
        let need = (size + (peers - 1) * size + SPARE).max(MIN_FREE);
        let free = disk::free_bytes(&parent)?;
        if free < need {
            bail!(
                "{} has {:.1} GiB free; {} needs {:.1} GiB (its inputs, one job's outputs and \
                 1 GiB to spare, at least 6 GiB): free some space, or point TMPDIR elsewhere",
                parent.display(),
                gib(free),
                kind.name(),
                gib(need)
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("mpitorrent-bench-share-")
            .tempdir_in(&parent)
            .context("cannot create a temporary folder")?;
        let mut share = ShareDir {
            dir,
            kind,
            expected: BTreeMap::new(),
        };
        match kind {
            ShareKind::AllGather => share.write_shards((size / peers).max(1))?,
            ShareKind::SmallFiles => share.write_small_files()?,
            _ => share.write_one_to_all(size)?,
        }
        Ok(share)
    }

    /// `from/d<nnn>/f<nnn>.txt`: [`SMALL_FILES`] files of
    /// [`super::small::SMALL_FILE_SIZE`] random bytes in [`SMALL_FOLDERS`] folders, for
    /// every peer but the seeder.
    fn write_small_files(&mut self) -> Result<()> {
        let mut files = Vec::with_capacity(SMALL_FILES);
        for index in 0..SMALL_FILES {
            let relative = PathBuf::from(format!(
                "d{:03}/f{:03}.txt",
                index % SMALL_FOLDERS,
                index / SMALL_FOLDERS
            ));
            let source = self.path().join(SOURCE_DIR).join(&relative);
            if index < SMALL_FOLDERS {
                fs::create_dir_all(source.parent().expect("a file is in a folder"))?;
            }
            fs::write(&source, small_bytes(index as u64))
                .with_context(|| format!("cannot write {}", source.display()))?;
            files.push(Expected { relative, source });
        }
        for rank in 1..self.kind.ranks() {
            let outputs = if rank == SEEDER {
                Vec::new()
            } else {
                files.clone()
            };
            self.expected.insert(rank, outputs);
        }
        Ok(())
    }

    /// The folder share-small-files shares (rank 1's `--from`).
    pub fn source(&self) -> PathBuf {
        self.path().join(SOURCE_DIR)
    }

    /// Where `tar c` writes the tree that `mpi-bcast` broadcasts.
    pub fn tar(&self) -> PathBuf {
        self.path().join(TAR)
    }

    /// Each receiving peer's folder of `tree`, by rank.
    pub fn receivers(&self, tree: Tree) -> Vec<(u32, PathBuf)> {
        (self.expected.iter())
            .filter(|(_, files)| !files.is_empty())
            .map(|(rank, _)| (*rank, self.path().join(tree.name()).join(rank.to_string())))
            .collect()
    }

    fn write_one_to_all(&mut self, size: u64) -> Result<()> {
        let folder = self.path().join(SOURCE_DIR);
        fs::create_dir_all(&folder)?;
        let source = folder.join(SOURCE_FILE);
        disk::write_random(&source, size, 1)?;
        for rank in 1..self.kind.ranks() {
            let outputs = if rank == SEEDER {
                Vec::new()
            } else {
                vec![Expected {
                    relative: SOURCE_FILE.into(),
                    source: source.clone(),
                }]
            };
            self.expected.insert(rank, outputs);
        }
        Ok(())
    }

    fn write_shards(&mut self, shard_size: u64) -> Result<()> {
        let shards: Vec<(u32, PathBuf)> = (1..self.kind.ranks())
            .map(|rank| (rank, self.path().join(shard_relative(rank))))
            .collect();
        for (rank, path) in &shards {
            fs::create_dir_all(path.parent().expect("a shard is in a folder"))?;
            disk::write_random(path, shard_size, u64::from(*rank))?;
        }
        for rank in 1..self.kind.ranks() {
            let outputs = shards
                .iter()
                .filter(|(owner, _)| *owner != rank)
                .map(|(owner, path)| Expected {
                    relative: shard_name(*owner).into(),
                    source: path.clone(),
                })
                .collect();
            self.expected.insert(rank, outputs);
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn kind(&self) -> ShareKind {
        self.kind
    }

    /// Bytes a correct run writes over all ranks.
    pub fn bytes(&self) -> Result<u64> {
        let mut total = 0;
        for expected in self.expected.values().flatten() {
            total += fs::metadata(&expected.source)?.len();
        }
        Ok(total)
    }

    /// Where mpitorrent writes its report.
    pub fn share_report(&self) -> PathBuf {
        self.path().join("share-report.json")
    }

    /// Where `mpi-bcast` writes its report.
    pub fn bcast_report(&self) -> PathBuf {
        self.path().join("bcast-report.json")
    }

    /// `mpitorrent share` and its options for this scenario, before the
    /// run settings.
    pub fn share_args(&self) -> Vec<OsString> {
        let from = match self.kind {
            ShareKind::AllGather => format!("{SHARDS_DIR}/{{rank}}"),
            _ => SOURCE_DIR.to_string(),
        };
        let mut args: Vec<OsString> = vec!["share".into(), "--from".into(), from.into()];
        if self.kind != ShareKind::AllGather {
            args.extend(["--seeders".into(), SEEDER.to_string().into()]);
        }
        args.extend(["--to".into(), Tree::Share.template().into()]);
        args
    }

    /// The options of `mpi-bcast` for this scenario (with `--direct` if
    /// `direct`).
    pub fn bcast_args(&self, direct: bool) -> Vec<OsString> {
        let mut args: Vec<OsString> = match self.kind {
            kind if kind.one_file() => vec![
                "--file".into(),
                format!("{SOURCE_DIR}/{SOURCE_FILE}").into(),
                "--root".into(),
                SEEDER.to_string().into(),
            ],
            ShareKind::AllGather => vec!["--shards".into(), shard_relative("{rank}").into()],
            _ => vec![
                "--file".into(),
                TAR.into(),
                "--root".into(),
                SEEDER.to_string().into(),
            ],
        };
        args.extend(["--to".into(), Tree::Bcast.template().into()]);
        args.extend(["--report".into(), self.bcast_report().into()]);
        if direct {
            args.push("--direct".into());
        }
        args
    }

    /// Removes both output trees and both reports: the state before a job.
    pub fn clean(&self) -> Result<()> {
        for tree in Tree::ALL {
            let path = self.path().join(tree.name());
            if path.exists() {
                fs::remove_dir_all(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        for report in [self.share_report(), self.bcast_report(), self.tar()] {
            if report.exists() {
                fs::remove_file(&report)?;
            }
        }
        Ok(())
    }

    /// Checks every peer rank's folder of `tree`; one line per problem.
    pub fn check(&self, tree: Tree) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for (rank, expected) in &self.expected {
            let folder = self.path().join(tree.name()).join(rank.to_string());
            problems.extend(check_folder(&folder, expected)?);
        }
        Ok(problems)
    }
}

fn shard_name(rank: impl Display) -> String {
    format!("shard-{rank}.bin")
}

/// Rank `rank`'s shard; with `"{rank}"`, the template of every rank's.
fn shard_relative(rank: impl Display) -> String {
    format!("{SHARDS_DIR}/{rank}/{}", shard_name(&rank))
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::RANKS;

    #[test]
    fn all_gather_expects_every_other_shard() {
        let dir = ShareDir::create(ShareKind::AllGather, 8 * 1000).unwrap();
        assert_eq!(dir.bytes().unwrap(), 8 * 7 * 1000);
        assert_eq!(
            shard_relative("{rank}").replace("{rank}", "3"),
            shard_relative(3)
        );
        assert!(dir.path().join(shard_relative(8)).is_file());
        assert_eq!(dir.check(Tree::Share).unwrap().len(), 8 * 7);
        for rank in 1..RANKS {
            for owner in (1..RANKS).filter(|&o| o != rank) {
                let out = dir.path().join(format!("share-out/{rank}"));
                fs::create_dir_all(&out).unwrap();
                fs::copy(
                    dir.path().join(shard_relative(owner)),
                    out.join(shard_name(owner)),
                )
                .unwrap();
            }
        }
        assert!(dir.check(Tree::Share).unwrap().is_empty());
        dir.clean().unwrap();
        assert!(!dir.path().join("share-out").exists());
    }

    #[test]
    fn refuses_to_start_without_room() {
        let err = ShareDir::create(ShareKind::OneToAll, 1 << 50)
            .err()
            .unwrap();
        assert!(
            format!("{err:#}").contains("share-one-to-all needs 8388609.0 GiB"),
            "{err:#}"
        );
    }

    #[test]
    fn one_to_all_expects_nothing_on_the_seeder() {
        let dir = ShareDir::create(ShareKind::OneToAll, 5000).unwrap();
        assert_eq!(dir.bytes().unwrap(), 7 * 5000);
        let seeder = dir.path().join("bcast-out/1");
        fs::create_dir_all(&seeder).unwrap();
        fs::write(seeder.join("data.bin"), b"").unwrap();
        let problems = dir.check(Tree::Bcast).unwrap();
        assert_eq!(problems.len(), 8, "{problems:?}");
        assert!(problems
            .iter()
            .any(|p| p.ends_with("1/data.bin: unexpected")));
    }
}
