//! Writing a file that arrives segment by segment, in any order: a
//! temporary file beside the final one, pre-sized, each verified segment
//! written in place at its offset (so it can be served to others at once),
//! and renamed to the final name only when every segment is there. An
//! interrupted run leaves at most a `.part` file, never a wrong file under
//! the final name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// A file being received.
#[derive(Debug)]
pub struct PartialFile {
    /// Written at offsets by the download thread.
    file: File,
    /// A handle of its own for reading segments back: reads move its
    /// cursor (see [`append_at`]).
    reader: Mutex<File>,
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
        let reader = Mutex::new(File::open(&temp)?);
        Ok(PartialFile {
            file,
            reader,
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

    /// Appends segment `index` (`len` bytes) to `out`, to serve it to
    /// others.
    pub fn append_segment(&self, index: u64, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        let reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        append_at(&reader, index * self.segment_size, len, out)
    }

    /// Trims the file to its real size (the last segment is `last_len`
    /// bytes), flushes it to disk if `fsync`, and renames it to its final
    /// name. Readers that hold this `PartialFile` keep reading the same (now
    /// final) file.
    ///
    /// Without `fsync` the rename can reach the disk before the data: a
    /// power loss (not a killed job: the page cache survives that) could
    /// then leave a short file under the final name. A rerun hashes every
    /// file it finds and fetches such a file again; `--fsync` is for users
    /// who need the files durable the moment the job ends, at the cost of
    /// waiting for the disk (measured here: 1 GiB to each of 7 ranks took
    /// seconds longer).
    pub fn finish(&self, last_len: u64, fsync: bool) -> io::Result<PathBuf> {
        let size = match self.segments {
            0 => 0,
            n => (n - 1) * self.segment_size + last_len,
        };
        self.file.set_len(size)?;
        if fsync {
            self.file.sync_all()?;
        }
        fs::rename(&self.temp, &self.target)?;
        Ok(self.target.clone())
    }

    /// Removes the temporary file (after a failure).
    pub fn discard(&self) {
        let _ = fs::remove_file(&self.temp);
    }
}

/// A complete file on disk, opened to serve its segments (the last one may
/// be shorter than the rest).
#[derive(Debug)]
pub struct WholeFile {
    file: File,
    size: u64,
    segment_size: u64,
}

impl WholeFile {
    pub fn open(path: &Path, segment_size: u64) -> io::Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(WholeFile {
            file,
            size,
            segment_size,
        })
    }

    /// The length of segment `index` (0 past the end).
    pub fn segment_len(&self, index: u64) -> usize {
        let offset = index * self.segment_size;
        self.size.saturating_sub(offset).min(self.segment_size) as usize
    }

    /// Appends segment `index` (as long as [`Self::segment_len`] says) to
    /// `out`.
    pub fn append_segment(&mut self, index: u64, out: &mut Vec<u8>) -> io::Result<()> {
        let len = self.segment_len(index);
        append_at(&self.file, index * self.segment_size, len, out)
    }
}

/// Appends `len` bytes of `file`, from `offset`, to `out`: read straight
/// into its spare room, without filling it with zeros first (which
/// `read_exact_at` into a zeroed buffer would cost: a megabyte of `memset`
/// per segment served). Moves `file`'s cursor, so `file` must be a handle
/// no other thread reads through meanwhile. A short read (the file shrank)
/// is an `UnexpectedEof` error.
fn append_at(mut file: &File, offset: u64, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    let read = file.take(len as u64).read_to_end(out)?;
    if read != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the file ends {read} byte(s) into a {len}-byte segment"),
        ));
    }
    Ok(())
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
        let mut segment = vec![9];
        partial.append_segment(1, 4, &mut segment).unwrap();
        assert_eq!(segment, b"\x094567");
        let path = partial.finish(2, true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"0123456789");
        let left: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(left.len(), 1, "the temporary file was renamed");
        let mut whole = WholeFile::open(&path, 4).unwrap();
        assert_eq!(
            (0..4).map(|i| whole.segment_len(i)).collect::<Vec<_>>(),
            [4, 4, 2, 0]
        );
        let mut last = Vec::new();
        whole.append_segment(2, &mut last).unwrap();
        assert_eq!(last, b"89");
        fs::write(&path, b"0123").unwrap();
        let err = whole.append_segment(1, &mut last).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    }

    #[test]
    fn empty_files_and_discards() {
        let dir = tempfile::tempdir().unwrap();
        let path = PartialFile::create(dir.path(), "empty", 0, 4)
            .unwrap()
            .finish(0, false)
            .unwrap();
        assert_eq!(fs::read(path).unwrap(), b"");
        PartialFile::create(dir.path(), "gone", 2, 4)
            .unwrap()
            .discard();
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
