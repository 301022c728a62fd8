//! Writing a file that arrives segment by segment, in any order: a
//! temporary file beside the final one, pre-sized, each verified segment
//! written in place at its offset (so it can be served to others at once),
//! and renamed to the final name only when every segment is there. An
//! interrupted run leaves at most a `.part` file, never a wrong file under
//! the final name.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A file being received.
#[derive(Debug)]
pub struct PartialFile {
    file: File,
    temp: PathBuf,
    target: PathBuf,
    segment_size: u64,
    segments: u64,
}

impl PartialFile {
    /// Creates `root/name`'s temporary file (and its folders), sized for
    /// `segments` full segments; the last one may turn out shorter.
    pub fn create(root: &Path, name: &str, segments: u64, segment_size: u64) -> io::Result<Self> {
        let target = root.join(name);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        let file_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = target.with_file_name(format!(".{file_name}.part-{}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        file.set_len(segments * segment_size)?;
        Ok(PartialFile {
            file,
            temp,
            target,
            segment_size,
            segments,
        })
    }

    /// Writes segment `index` in place.
    pub fn write_segment(&self, index: u64, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, index * self.segment_size)
    }

    /// Reads back segment `index` (`len` bytes), to serve it to others.
    pub fn read_segment(&self, index: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; len];
        self.file
            .read_exact_at(&mut bytes, index * self.segment_size)?;
        Ok(bytes)
    }

    /// Trims the file to its real size (the last segment is `last_len`
    /// bytes), flushes it, and renames it to its final name. Readers that
    /// hold this `PartialFile` keep reading the same (now final) file.
    pub fn finish(&self, last_len: u64) -> io::Result<PathBuf> {
        let size = match self.segments {
            0 => 0,
            n => (n - 1) * self.segment_size + last_len,
        };
        self.file.set_len(size)?;
        self.file.sync_all()?;
        fs::rename(&self.temp, &self.target)?;
        Ok(self.target.clone())
    }

    /// Removes the temporary file (after a failure).
    pub fn discard(&self) {
        let _ = fs::remove_file(&self.temp);
    }
}

/// Reads segment `index` of a complete file on disk (the last one may be
/// shorter than `segment_size`).
pub fn read_segment(path: &Path, index: u64, segment_size: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let offset = index * segment_size;
    let len = size.saturating_sub(offset).min(segment_size) as usize;
    let mut bytes = vec![0; len];
    file.read_exact_at(&mut bytes, offset)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_in_any_order_make_the_file_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let partial = PartialFile::create(dir.path(), "sub/f.bin", 3, 4).unwrap();
        partial.write_segment(2, b"89").unwrap();
        partial.write_segment(0, b"0123").unwrap();
        assert!(
            !dir.path().join("sub/f.bin").exists(),
            "no final name before the end"
        );
        partial.write_segment(1, b"4567").unwrap();
        assert_eq!(partial.read_segment(1, 4).unwrap(), b"4567");
        let path = partial.finish(2).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"0123456789");
        let left: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(left.len(), 1, "the temporary file was renamed");
        assert_eq!(read_segment(&path, 2, 4).unwrap(), b"89");
        assert_eq!(read_segment(&path, 0, 4).unwrap(), b"0123");
    }

    #[test]
    fn empty_files_and_discards() {
        let dir = tempfile::tempdir().unwrap();
        let path = PartialFile::create(dir.path(), "empty", 0, 4)
            .unwrap()
            .finish(0)
            .unwrap();
        assert_eq!(fs::read(path).unwrap(), b"");
        PartialFile::create(dir.path(), "gone", 2, 4)
            .unwrap()
            .discard();
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
