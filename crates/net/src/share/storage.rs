//! Writing a file that arrives segment by segment, in any order: a
//! temporary file beside the final one, pre-sized, each verified segment
//! written in place at its offset (so it can be served to others at once),
//! and renamed to the final name only when every segment is there. An
//! interrupted run leaves at most a `.part` file, never a wrong file under
//! the final name.
//!
//! With `--direct` a file this run writes is written and read back with
//! `O_DIRECT` (see [`super::direct`]) where its filesystem allows; the
//! scratch buffers that needs are the caller's, one per thread.

use super::direct::{self, AlignedBuf};
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
    /// Whether both handles bypass the page cache.
    direct: bool,
    temp: PathBuf,
    target: PathBuf,
    segment_size: u64,
    segments: u64,
}

impl PartialFile {
    /// Creates `root/name`'s temporary file (and its folders), sized for
    /// `segments` full segments; the last one may turn out shorter. With
    /// `direct` (and a segment size [`direct::segment_size_fits`]), the file
    /// is written and read with `O_DIRECT` if its filesystem allows, through
    /// the page cache if not.
    pub fn create(
        root: &Path,
        name: &str,
        segments: u64,
        segment_size: u64,
        direct: bool,
    ) -> io::Result<Self> {
        let target = root.join(name);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        let file_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = target.with_file_name(format!(".{file_name}.part-{}", std::process::id()));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(true);
        let want_direct = direct && direct::segment_size_fits(segment_size);
        let (file, direct) = direct::open(&options, &temp, want_direct)?;
        file.set_len(segments * segment_size)?;
        // Read back as written (a filesystem that took O_DIRECT for
        // writing takes it for reading).
        let (reader, _) = direct::open(OpenOptions::new().read(true), &temp, direct)?;
        Ok(PartialFile {
            file,
            reader: Mutex::new(reader),
            direct,
            temp,
            target,
            segment_size,
            segments,
        })
    }

    /// Whether this file bypasses the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Writes segment `index` in place (`scratch` is used if direct).
    pub fn write_segment(
        &self,
        index: u64,
        bytes: &[u8],
        scratch: &mut AlignedBuf,
    ) -> io::Result<()> {
        let offset = index * self.segment_size;
        match self.direct {
            true => direct::write_at(&self.file, scratch, bytes, offset),
            false => self.file.write_all_at(bytes, offset),
        }
    }

    /// Appends segment `index` (`len` bytes) to `out`, to serve it to
    /// others (`scratch` is used if direct).
    pub fn append_segment(
        &self,
        index: u64,
        len: usize,
        out: &mut Vec<u8>,
        scratch: &mut AlignedBuf,
    ) -> io::Result<()> {
        let reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let offset = index * self.segment_size;
        match self.direct {
            true => direct::append_at(&reader, scratch, offset, len, out),
            false => append_at(&reader, offset, len, out),
        }
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
    /// Whether `file` bypasses the page cache.
    direct: bool,
    size: u64,
    segment_size: u64,
}

impl WholeFile {
    /// Opens `path`; with `direct` (a file this run wrote with `O_DIRECT`)
    /// it is read back the same way, so serving it does not fill the page
    /// cache either.
    pub fn open(path: &Path, segment_size: u64, direct: bool) -> io::Result<Self> {
        let want_direct = direct && direct::segment_size_fits(segment_size);
        let (file, direct) = direct::open(OpenOptions::new().read(true), path, want_direct)?;
        let size = file.metadata()?.len();
        Ok(WholeFile {
            file,
            direct,
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
    /// `out` (`scratch` is used if direct).
    pub fn append_segment(
        &mut self,
        index: u64,
        out: &mut Vec<u8>,
        scratch: &mut AlignedBuf,
    ) -> io::Result<()> {
        let len = self.segment_len(index);
        let offset = index * self.segment_size;
        match self.direct {
            true => direct::append_at(&self.file, scratch, offset, len, out),
            false => append_at(&self.file, offset, len, out),
        }
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

    /// The same story through the page cache and around it: segments of
    /// `size` bytes (the last one half as long) written in any order,
    /// served before and after the rename, and a file that shrank.
    fn segments_in_any_order_make_the_file_only_when_finished(size: usize, direct: bool) {
        let dir = tempfile::tempdir().unwrap();
        let mut scratch = AlignedBuf::default();
        let segment = |n: u8, len: usize| vec![b'0' + n; len];
        let partial = PartialFile::create(dir.path(), "sub/f.bin", 3, size as u64, direct).unwrap();
        partial
            .write_segment(2, &segment(2, size / 2), &mut scratch)
            .unwrap();
        partial
            .write_segment(0, &segment(0, size), &mut scratch)
            .unwrap();
        assert!(
            !dir.path().join("sub/f.bin").exists(),
            "no final name before the end"
        );
        partial
            .write_segment(1, &segment(1, size), &mut scratch)
            .unwrap();
        let mut served = vec![9];
        partial
            .append_segment(1, size, &mut served, &mut scratch)
            .unwrap();
        assert_eq!(served[0], 9);
        assert_eq!(served[1..], segment(1, size));
        let path = partial.finish((size / 2) as u64, true).unwrap();
        let whole_bytes = [segment(0, size), segment(1, size), segment(2, size / 2)].concat();
        assert_eq!(fs::read(&path).unwrap(), whole_bytes);
        let left: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(left.len(), 1, "the temporary file was renamed");
        let mut whole = WholeFile::open(&path, size as u64, partial.is_direct()).unwrap();
        assert_eq!(
            (0..4).map(|i| whole.segment_len(i)).collect::<Vec<_>>(),
            [size, size, size / 2, 0]
        );
        let mut last = Vec::new();
        whole.append_segment(2, &mut last, &mut scratch).unwrap();
        assert_eq!(last, segment(2, size / 2));
        fs::write(&path, segment(0, size)).unwrap();
        let err = whole
            .append_segment(1, &mut last, &mut scratch)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    }

    #[test]
    fn buffered_segments_make_the_file_only_when_finished() {
        segments_in_any_order_make_the_file_only_when_finished(4, false);
    }

    #[test]
    fn direct_segments_make_the_file_only_when_finished() {
        segments_in_any_order_make_the_file_only_when_finished(direct::ALIGN, true);
    }

    #[test]
    fn direct_needs_an_aligned_segment_size() {
        let dir = tempfile::tempdir().unwrap();
        let partial = PartialFile::create(dir.path(), "f", 2, 1000, true).unwrap();
        assert!(
            !partial.is_direct(),
            "1000-byte segments go through the page cache"
        );
    }

    #[test]
    fn empty_files_and_discards() {
        let dir = tempfile::tempdir().unwrap();
        for direct in [false, true] {
            let path = PartialFile::create(dir.path(), "empty", 0, 4096, direct)
                .unwrap()
                .finish(0, false)
                .unwrap();
            assert_eq!(fs::read(path).unwrap(), b"");
        }
        PartialFile::create(dir.path(), "gone", 2, 4, false)
            .unwrap()
            .discard();
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
