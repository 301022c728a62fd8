//! Writing a peer's completed files: `client<R>_<name>` in the output
//! folder, written under a temporary name and renamed, so nobody ever sees
//! a half-written output under its final name.

use crate::content::Content;
use mpitorrent_core::classic::{output_file_name, render_output};
use mpitorrent_core::holdings::HeldFile;
use mpitorrent_core::{Rank, SegmentIdx};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An output file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct OutputError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// The folder a peer writes its outputs into.
#[derive(Clone, Debug)]
pub struct OutputDir {
    dir: PathBuf,
}

impl OutputDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        OutputDir { dir: dir.into() }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes the output of a complete file for `rank`; returns its path.
    pub fn write(&self, rank: Rank, file: &HeldFile) -> Result<PathBuf, OutputError> {
        let name = output_file_name(rank, &file.name);
        let path = self.dir.join(&name);
        // A dot-prefixed name in the same folder: the rename is atomic and a
        // reader listing client* files never matches it.
        let temp = self
            .dir
            .join(format!(".{name}.part-{}", std::process::id()));
        let result = write_then_rename(&temp, &path, render_output(&file.hashes).as_bytes());
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map_err(|source| OutputError {
            path: path.clone(),
            source,
        })?;
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
        self.write(rank, file)
            .map(|_| ())
            .map_err(|e| format!("rank {rank}: {e}"))
    }
}

fn write_then_rename(temp: &Path, path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut out = fs::File::create(temp)?;
    out.write_all(contents)?;
    // Errors such as a full disk can surface only when the data is flushed.
    out.sync_all()?;
    drop(out);
    fs::rename(temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::holdings::Holdings;
    use mpitorrent_core::FileId;

    #[test]
    fn writes_hashes_one_per_line_under_the_classic_name() {
        let dir = tempfile::tempdir().unwrap();
        let holdings = Holdings::new();
        let file = holdings.add_complete(FileId(0), "f".into(), vec!["a".into(), "b".into()]);
        let path = OutputDir::new(dir.path()).write(Rank(3), &file).unwrap();
        assert_eq!(path, dir.path().join("client3_f"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\nb\n");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_the_path() {
        let holdings = Holdings::new();
        let file = holdings.add_complete(FileId(0), "f".into(), vec![]);
        let err = OutputDir::new("/nonexistent/dir")
            .write(Rank(1), &file)
            .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/dir/client1_f"),
            "{err}"
        );
    }
}
