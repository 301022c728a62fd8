//! Direct I/O (`O_DIRECT`) for the files `share --direct` receives: the
//! bytes go from our buffer to the disk and back without a copy in the page
//! cache.
//!
//! Why it exists: a buffered write copies every byte into a page-cache page
//! the kernel allocates for it, and on some machines that copy is most of
//! the job. On the benchmark machine (a VM whose freed memory is handed back
//! to the host, so fresh pages fault on the host at first touch) writing
//! 7 GiB through the page cache cost 8-18 s of CPU (`dd`), while the same bytes
//! with `O_DIRECT` cost under 1 s of CPU and ~5 s of disk time. The price:
//! the files are not in the page cache afterwards (a program reading them
//! next goes to the disk), so it is opt-in.
//!
//! `O_DIRECT` wants the buffer's address, the file offset and the length
//! aligned to the device's block. This module hides that: callers pass
//! ordinary slices and a reusable [`AlignedBuf`]; segments start at
//! multiples of the segment size, which must be a multiple of [`ALIGN`]
//! (checked where `--direct` is parsed). A short last segment is written
//! padded with zeros to [`ALIGN`]; the file is cut to its real size when it
//! is finished.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The alignment used for buffers, offsets and lengths: a page, which
/// covers every block size Linux devices use (512 B and 4 KiB).
pub const ALIGN: usize = 4096;

/// One aligned block of [`AlignedBuf`].
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; ALIGN]);

/// A buffer whose start is [`ALIGN`]-aligned, reused from one segment to
/// the next (allocating a fresh megabyte per segment would touch fresh
/// memory every time, which is what direct I/O is meant to avoid).
#[derive(Default)]
pub struct AlignedBuf {
    blocks: Vec<Block>,
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.blocks.len() * ALIGN)
    }
}

impl AlignedBuf {
    /// The first `len` bytes rounded up to [`ALIGN`], grown if needed.
    pub fn slice_mut(&mut self, len: usize) -> &mut [u8] {
        let blocks = len.div_ceil(ALIGN);
        if self.blocks.len() < blocks {
            self.blocks.resize(blocks, Block([0; ALIGN]));
        }
        let blocks = &mut self.blocks[..blocks];
        // SAFETY: `Block` is `repr(C)` around a byte array, so a slice of
        // blocks is that many contiguous bytes, all initialised.
        unsafe {
            std::slice::from_raw_parts_mut(blocks.as_mut_ptr().cast::<u8>(), blocks.len() * ALIGN)
        }
    }
}

/// `len` rounded up to a multiple of [`ALIGN`].
pub fn round_up(len: usize) -> usize {
    len.div_ceil(ALIGN) * ALIGN
}

/// Whether segments of `segment_size` bytes can be written directly.
pub fn segment_size_fits(segment_size: u64) -> bool {
    segment_size > 0 && segment_size.is_multiple_of(ALIGN as u64)
}

/// Opens `path` as `options` say, with `O_DIRECT` if `direct` and its
/// filesystem does direct I/O, through the page cache otherwise; says
/// which (see [`set_direct`]).
pub fn open(options: &OpenOptions, path: &Path, direct: bool) -> io::Result<(File, bool)> {
    let file = options.open(path)?;
    let direct = direct && set_direct(&file)?;
    Ok((file, direct))
}

/// Turns `O_DIRECT` on for an open file, if its filesystem does direct
/// I/O (one that does not answers `EINVAL`, and the file stays as it was);
/// says whether it did. Setting the flag on the open descriptor, rather
/// than opening with it, lets files be created the one safe way
/// ([`mpitorrent_fs::TempFile`]) and still bypass the page cache.
pub fn set_direct(file: &File) -> io::Result<bool> {
    match mpitorrent_fs::beneath::set_status_flags(file.as_fd(), libc::O_DIRECT, 0) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` at `offset` (a multiple of [`ALIGN`]) through `file`
/// (opened with `O_DIRECT`), padded with zeros to a multiple of [`ALIGN`].
pub fn write_at(
    file: &File,
    scratch: &mut AlignedBuf,
    bytes: &[u8],
    offset: u64,
) -> io::Result<()> {
    debug_assert_eq!(offset % ALIGN as u64, 0, "unaligned direct write");
    let block = scratch.slice_mut(bytes.len());
    block[..bytes.len()].copy_from_slice(bytes);
    block[bytes.len()..].fill(0);
    file.write_all_at(block, offset)
}

/// Appends `len` bytes of `file` (opened with `O_DIRECT`), from `offset` (a
/// multiple of [`ALIGN`]), to `out`. A file that ends sooner is an
/// `UnexpectedEof` error.
pub fn append_at(
    file: &File,
    scratch: &mut AlignedBuf,
    offset: u64,
    len: usize,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    debug_assert_eq!(offset % ALIGN as u64, 0, "unaligned direct read");
    let block = scratch.slice_mut(len);
    let mut got = 0;
    // Reads stay aligned: a read that returns a partial block has met the
    // end of the file.
    while got < len && got.is_multiple_of(ALIGN) {
        match file.read_at(&mut block[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(read) => got += read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if got < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the file ends {got} byte(s) into a {len}-byte segment"),
        ));
    }
    out.extend_from_slice(&block[..len]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_reused() {
        let mut scratch = AlignedBuf::default();
        let first = scratch.slice_mut(10);
        assert_eq!(first.len(), ALIGN);
        assert_eq!(first.as_ptr() as usize % ALIGN, 0);
        assert_eq!(scratch.slice_mut(ALIGN + 1).len(), 2 * ALIGN);
        assert_eq!(
            scratch.slice_mut(1).len(),
            ALIGN,
            "asks are rounded, not kept"
        );
    }

    #[test]
    fn sizes_that_fit() {
        assert!(segment_size_fits(1 << 20));
        assert!(segment_size_fits(4096));
        assert!(!segment_size_fits(1000));
        assert!(!segment_size_fits(0));
    }

    /// The flag is really set on the descriptor (as the kernel reports it
    /// in /proc/self/fdinfo), where the filesystem takes it.
    #[test]
    fn set_direct_sets_the_flag_on_the_open_file() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let flags = || {
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", file.as_raw_fd()));
            let info = info.unwrap();
            let octal = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap();
            i32::from_str_radix(octal.trim(), 8).unwrap()
        };
        assert_eq!(flags() & libc::O_DIRECT, 0);
        if set_direct(&file).unwrap() {
            assert_ne!(flags() & libc::O_DIRECT, 0);
        } else {
            eprintln!("{} does no direct I/O; skipped", dir.path().display());
        }
    }

    /// On a filesystem that does direct I/O (the temporary folder, if it
    /// does), a short last segment round-trips and the padding is cut.
    #[test]
    fn a_short_segment_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(true);
        let (file, true) = open(&options, &path, true).unwrap() else {
            eprintln!("{} does no direct I/O; skipped", dir.path().display());
            return;
        };
        let mut scratch = AlignedBuf::default();
        let full = vec![7u8; ALIGN];
        write_at(&file, &mut scratch, &full, 0).unwrap();
        write_at(&file, &mut scratch, b"tail", ALIGN as u64).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 2 * ALIGN as u64, "padded");
        file.set_len(ALIGN as u64 + 4).unwrap();
        let mut out = vec![1];
        append_at(&file, &mut scratch, ALIGN as u64, 4, &mut out).unwrap();
        assert_eq!(out, b"\x01tail");
        let err = append_at(&file, &mut scratch, ALIGN as u64, 5, &mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        let mut all = Vec::new();
        append_at(&file, &mut scratch, 0, ALIGN, &mut all).unwrap();
        assert_eq!(all, full);
    }
}
