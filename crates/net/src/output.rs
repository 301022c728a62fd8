//! Writing a peer's completed files: `client<R>_<name>` in the output
//! folder, each written under an exclusive temporary name beside it and
//! renamed (see [`mpitorrent_fs::temp`]), so nobody ever sees a
//! half-written output under its final name and nothing planted in the
//! folder is written through.

use crate::content::Content;
use mpitorrent_core::classic::{output_file_name, render_output};
use mpitorrent_core::holdings::HeldFile;
use mpitorrent_core::{Rank, SegmentIdx};
use mpitorrent_fs::temp::final_part;
use mpitorrent_fs::{Error, Folder, TempFile};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder a peer writes its outputs into.
#[derive(Debug)]
pub struct OutputDir {
    /// None for a peer that wants nothing, which needs no folder.
    folder: Option<Arc<Folder>>,
    rank: Rank,
    /// The output names this rank writes (its stale temporaries are theirs).
    names: Vec<String>,
}

impl OutputDir {
    /// The folder at `path` (as the user named it), where `rank` writes the
    /// outputs of the `wanted` files.
    pub fn open(path: &Path, rank: Rank, wanted: &[String]) -> Result<Self, Error> {
        Ok(OutputDir {
            folder: Some(Arc::new(Folder::open(path)?)),
            rank,
            names: wanted.iter().map(|w| output_file_name(rank, w)).collect(),
        })
    }

    /// The outputs of a peer that wants nothing.
    pub fn none(rank: Rank) -> Self {
        OutputDir {
            folder: None,
            rank,
            names: Vec::new(),
        }
    }

    /// Writes the output of a complete file; returns its path.
    pub fn write(&self, file: &HeldFile) -> Result<PathBuf, Error> {
        let name = output_file_name(self.rank, &file.name);
        let Some(folder) = &self.folder else {
            let cause = std::io::Error::other("this rank was given no output folder");
            return Err(Error::io("write", name, cause));
        };
        let temp = TempFile::create(Arc::clone(folder), name.as_ref(), self.rank.0)?;
        let path = temp.final_path().to_path_buf();
        temp.write_and_commit(render_output(&file.hashes).as_bytes())?;
        Ok(path)
    }
}

/// Classic contents: a segment is its hash, so nothing is stored or sent,
/// and a finished file is written as its `client<R>_<name>` listing.
impl Content for OutputDir {
    fn carries_bytes(&self) -> bool {
        false
    }

    fn store(&self, file: &HeldFile, index: SegmentIdx, _: &[u8]) -> Result<(), String> {
        Err(format!(
            "segment {index} of '{}' came with bytes, which a classic swarm never sends",
            file.name
        ))
    }

    fn complete(&self, rank: Rank, file: &HeldFile) -> Result<(), String> {
        self.write(file)
            .map(|_| ())
            .map_err(|e| format!("rank {rank}: {e}"))
    }

    /// Only temporaries of this rank's own output names, in the folder.
    fn tidy(&self) -> Result<Vec<PathBuf>, Error> {
        let Some(folder) = &self.folder else {
            return Ok(Vec::new());
        };
        let own = |part: &[u8]| self.names.iter().any(|n| final_part(n.as_ref()) == part);
        mpitorrent_fs::stale::remove_stale(folder, self.rank.0, &own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::holdings::Holdings;
    use mpitorrent_core::FileId;
    use mpitorrent_fs::temp::temp_name;
    use std::fs;

    #[test]
    fn writes_hashes_one_per_line_under_the_classic_name() {
        let dir = tempfile::tempdir().unwrap();
        let holdings = Holdings::new();
        let file = holdings.add_complete(FileId(0), "f".into(), vec!["a".into(), "b".into()]);
        let out = OutputDir::open(dir.path(), Rank(3), &["f".into()]).unwrap();
        let path = out.write(&file).unwrap();
        assert_eq!(path, dir.path().join("client3_f"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\nb\n");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_the_path() {
        let err = OutputDir::open(Path::new("/nonexistent/dir"), Rank(1), &[]).unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(err.to_string().contains("/nonexistent/dir"), "{err}");
    }

    #[test]
    fn tidying_removes_only_this_ranks_unheld_temporaries_of_its_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let temp = |name: &str, owner| {
            let path = dir.path().join(temp_name(name.as_ref(), owner, 5));
            fs::write(&path, b"half").unwrap();
            path
        };
        let own = temp("client2_f", 2);
        let not_wanted = temp("client2_g", 2);
        let other_rank = temp("client3_f", 3);
        let out = OutputDir::open(dir.path(), Rank(2), &["f".into()]).unwrap();
        assert_eq!(out.tidy().unwrap(), std::slice::from_ref(&own));
        assert!(!own.exists() && not_wanted.exists() && other_rank.exists());
    }
}
