//! Writing a file that arrives segment by segment, in any order: a
//! temporary file beside the final one ([`TempFile`]: created exclusively
//! under a random name, its folders made beneath `--to` without following
//! links), pre-sized, each verified segment written in place at its offset
//! (so it can be served to others at once), and renamed to the final name
//! only when every segment is there. An interrupted run leaves at most a
//! `.part` file, never a wrong file under the final name.
//!
//! With `--direct` a file this run writes is written and read back with
//! `O_DIRECT` (see [`super::direct`]) where its filesystem allows; the
//! scratch buffers that needs are the caller's, one per thread.

use super::direct::{self, AlignedBuf};
use mpitorrent_core::tree::FileMeta;
use mpitorrent_fs::meta::set_meta;
use mpitorrent_fs::{Error, Folder, TempFile};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file being received.
#[derive(Debug)]
pub struct PartialFile {
    /// Written at offsets by the download thread and read at offsets by
    /// the upload thread (`pwrite` and `pread` move no shared cursor).
    temp: TempFile,
    /// Whether the file bypasses the page cache.
    direct: bool,
    segment_size: u64,
    segments: u64,
}

impl PartialFile {
    /// Creates the temporary file of `name` (a `/`-separated path below
    /// `root`, whose folders are created as needed), written by rank
    /// `owner`, sized for `segments` full segments; the last one may turn
    /// out shorter. With `direct` (and a segment size
    /// [`direct::segment_size_fits`]), the file is written and read with
    /// `O_DIRECT` if its filesystem allows, through the page cache if not.
    pub fn create(
        root: &Arc<Folder>,
        name: &str,
        owner: u32,
        segments: u64,
        segment_size: u64,
        direct: bool,
    ) -> Result<Self, Error> {
        let temp = TempFile::create_below(root, Path::new(name), owner)?;
        let failed = |e| Error::io("write", temp.final_path(), e);
        let want_direct = direct && direct::segment_size_fits(segment_size);
        let direct = want_direct && direct::set_direct(temp.file()).map_err(failed)?;
        temp.file()
            .set_len(segments * segment_size)
            .map_err(failed)?;
        Ok(PartialFile {
            temp,
            direct,
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
        let file = self.temp.file();
        match self.direct {
            true => direct::write_at(file, scratch, bytes, offset),
            false => file.write_all_at(bytes, offset),
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
        let offset = index * self.segment_size;
        let file = self.temp.file();
        match self.direct {
            true => direct::append_at(file, scratch, offset, len, out),
            false => append_at(file, offset, len, out),
        }
    }

    /// Trims the file to its real size (the last segment is `last_len`
    /// bytes), flushes it to disk if `fsync`, and renames it to its final
    /// name (replacing whatever was there, a link included). Readers that
    /// hold this `PartialFile` keep reading the same (now final) file.
    ///
    /// Without `fsync` the rename can reach the disk before the data: a
    /// power loss (not a killed job: the page cache survives that) could
    /// then leave a short file under the final name. A rerun hashes every
    /// file it finds and fetches such a file again; `--fsync` is for users
    /// who need the files durable the moment the job ends, at the cost of
    /// waiting for the disk (measured here: 1 GiB to each of 7 ranks took
    /// seconds longer).
    ///
    /// With `meta`, the file gets the source's permission bits and time
    /// last, through its descriptor, before the rename: no reader ever sees
    /// it under its final name with another mode.
    pub fn finish(
        &self,
        last_len: u64,
        fsync: bool,
        meta: Option<FileMeta>,
    ) -> Result<PathBuf, Error> {
        let size = match self.segments {
            0 => 0,
            n => (n - 1) * self.segment_size + last_len,
        };
        let file = self.temp.file();
        let failed = |e| Error::io("write", self.temp.final_path(), e);
        file.set_len(size).map_err(failed)?;
        if let Some(meta) = meta {
            set_meta(file, meta.mode, meta.mtime).map_err(failed)?;
        }
        if fsync {
            file.sync_all().map_err(failed)?;
        }
        self.temp.commit()?;
        Ok(self.temp.final_path().to_path_buf())
    }

    /// Removes the temporary file (after a failure).
    pub fn discard(&self) {
        self.temp.discard();
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
    /// Opens `relative` below `root` without following links; with
    /// `direct` (a file this run wrote with `O_DIRECT`) it is read back the
    /// same way, so serving it does not fill the page cache either.
    pub fn open(
        root: &Folder,
        relative: &Path,
        segment_size: u64,
        direct: bool,
    ) -> Result<Self, Error> {
        let file = root.open_file(relative)?;
        let failed = |e| Error::io("read", root.path().join(relative), e);
        let want_direct = direct && direct::segment_size_fits(segment_size);
        let direct = want_direct && direct::set_direct(&file).map_err(failed)?;
        let size = file.metadata().map_err(failed)?.len();
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
        &self,
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

/// Appends `len` bytes of `file`, from `offset`, to `out`: `pread` straight
/// into its spare room, without filling it with zeros first (which
/// `read_exact_at` into a zeroed buffer would cost: a megabyte of `memset`
/// per segment served), and without moving a cursor, so any number of
/// threads may read one descriptor. A short read (the file shrank) is an
/// `UnexpectedEof` error, and `out` is left as it was.
pub(super) fn append_at(file: &File, offset: u64, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    out.reserve(len);
    let mut got = 0;
    while got < len {
        let spare = &mut out.spare_capacity_mut()[..len - got];
        let at = offset + got as u64;
        // SAFETY: `pread` writes at most `spare.len()` bytes into the
        // spare room; only the bytes it reports become part of `out`.
        let read = unsafe {
            libc::pread(
                file.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                at as libc::off_t,
            )
        };
        match read {
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                out.truncate(start);
                return Err(e);
            }
            0 => break,
            read => {
                got += read as usize;
                // SAFETY: the `read` bytes after the old length were just
                // written by `pread`.
                unsafe { out.set_len(start + got) };
            }
        }
    }
    if got < len {
        out.truncate(start);
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the file ends {got} byte(s) into a {len}-byte segment"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn root(dir: &tempfile::TempDir) -> Arc<Folder> {
        Arc::new(Folder::open(dir.path()).unwrap())
    }

    /// The same story through the page cache and around it: segments of
    /// `size` bytes (the last one half as long) written in any order,
    /// served before and after the rename, and a file that shrank.
    fn segments_in_any_order_make_the_file_only_when_finished(size: usize, direct: bool) {
        let dir = tempfile::tempdir().unwrap();
        let mut scratch = AlignedBuf::default();
        let segment = |n: u8, len: usize| vec![b'0' + n; len];
        let partial =
            PartialFile::create(&root(&dir), "sub/f.bin", 1, 3, size as u64, direct).unwrap();
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
        let path = partial.finish((size / 2) as u64, true, None).unwrap();
        let whole_bytes = [segment(0, size), segment(1, size), segment(2, size / 2)].concat();
        assert_eq!(fs::read(&path).unwrap(), whole_bytes);
        let left: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(left.len(), 1, "the temporary file was renamed");
        let relative = Path::new("sub/f.bin");
        let whole =
            WholeFile::open(&root(&dir), relative, size as u64, partial.is_direct()).unwrap();
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
        let partial = PartialFile::create(&root(&dir), "f", 1, 2, 1000, true).unwrap();
        assert!(
            !partial.is_direct(),
            "1000-byte segments go through the page cache"
        );
    }

    #[test]
    fn empty_files_and_discards() {
        let dir = tempfile::tempdir().unwrap();
        for direct in [false, true] {
            let path = PartialFile::create(&root(&dir), "empty", 1, 0, 4096, direct)
                .unwrap()
                .finish(0, false, None)
                .unwrap();
            assert_eq!(fs::read(path).unwrap(), b"");
        }
        PartialFile::create(&root(&dir), "gone", 1, 2, 4, false)
            .unwrap()
            .discard();
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_linked_sub_folder_is_refused_and_nothing_is_written_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("sub")).unwrap();
        let root = Arc::new(Folder::open(dir.path()).unwrap());
        let err = PartialFile::create(&root, "sub/f.bin", 2, 1, 4, false).unwrap_err();
        assert!(matches!(err, Error::Link { .. }), "{err}");
        assert!(err.to_string().contains("sub is a symbolic link"), "{err}");
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
        fs::write(outside.path().join("secret"), b"s").unwrap();
        let err = WholeFile::open(&root, Path::new("sub/secret"), 4, false).unwrap_err();
        assert!(matches!(err, Error::Link { .. }), "{err}");
    }
}
