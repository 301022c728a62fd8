//! Reading a user's file with a bound on its size.
//!
//! An input path can name anything: `/dev/zero`, `/dev/urandom`, a FIFO
//! that a process fills forever or that nobody opens for writing, a sparse
//! file of 50 GB. [`read_text`] reads at most a [`Limit`] and ends with an
//! error naming the file and the limit instead of the machine's memory,
//! and [`open_regular`] opens a file that will be streamed whole (hashed)
//! only if it is a regular file. Both open with `O_NONBLOCK`, so that
//! opening a FIFO with no writer does not wait forever (a blocking open
//! of a FIFO waits for a writer; a non-blocking one returns at once).

use mpitorrent_core::escape::shown_path;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How much of a file [`read_text`] reads, and what the file is, for the
/// message when it holds more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    /// What the file is, as the message says it: "an in<R>.txt".
    pub what: &'static str,
}

/// An `in<R>.txt`: 256 MiB. A segment's hash and its newline take 33
/// bytes, so this is about 8 million segments in one peer's input; the
/// largest the tests use is a file of 100,000 segments (3.3 MB) and a peer
/// of 1,000 files. Reading it whole costs at most 256 MiB per rank, and
/// `/dev/urandom` that far takes about a second.
pub const PEER_INPUT: Limit = Limit {
    bytes: 256 << 20,
    what: "an in<R>.txt",
};

/// A run report (`mpitorrent report FILE.json`): 256 MiB. A report grows
/// with the segments downloaded (a progress sample every 10: about 7 bytes
/// per segment as written) and with the square of the ranks (each peer's
/// `downloaded_from` and `uploaded_to`): a 64-rank job that moved 120,000
/// segments writes 0.8 MB, so this holds jobs of about 40 million
/// segments.
pub const RUN_REPORT: Limit = Limit {
    bytes: 256 << 20,
    what: "a run report",
};

/// Why a user's file could not be read. Every message names the file
/// (escaped: see [`mpitorrent_core::escape`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("{} is larger than the limit of {} for {what}", shown_path(path), size(*limit))]
    TooLarge {
        path: PathBuf,
        limit: u64,
        what: &'static str,
    },
    #[error("{} is not valid UTF-8 text (line {line})", shown_path(path))]
    NotUtf8 { path: PathBuf, line: usize },
    #[error("cannot read {}: it is a folder, not a file", shown_path(path))]
    Folder { path: PathBuf },
    #[error("{} is not a regular file", shown_path(path))]
    NotRegular { path: PathBuf },
    #[error("cannot read {}: {source}", shown_path(path))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Reads the text of a file that should be at most `limit.bytes` long. A
/// FIFO works (its writer may be slow); one that nobody writes to reads as
/// empty. More than the limit, or bytes that are not UTF-8, are an error.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = || ReadError::TooLarge {
        path: path.to_path_buf(),
        limit: limit.bytes,
        what: limit.what,
    };
    let (file, metadata) = open(path)?;
    // A regular file's size is known: a huge one is refused unread, and a
    // small one is read into a buffer of the right size.
    let mut capacity = 0;
    if metadata.is_file() {
        if metadata.len() > limit.bytes {
            return Err(too_large());
        }
        capacity = metadata.len() as usize;
    }
    let mut bytes = Vec::with_capacity(capacity);
    // One byte past the limit tells a file of exactly the limit from a
    // larger one (a device or FIFO has no size to ask, and a regular file
    // may grow while it is read).
    file.take(limit.bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit.bytes {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        ReadError::NotUtf8 {
            path: path.to_path_buf(),
            line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
        }
    })
}

/// Opens a file to be read from start to end, refusing anything but a
/// regular file (a device or a FIFO may never end).
pub fn open_regular(path: &Path) -> Result<File, ReadError> {
    let (file, metadata) = open(path)?;
    if !metadata.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// Opens `path` for reading without waiting for a FIFO's writer, then
/// makes reads blocking again, so a FIFO whose writer is slow is read as
/// it comes (with no writer at all a read returns end of file at once).
/// Folders are refused here, whatever the caller wants.
fn open(path: &Path) -> Result<(File, std::fs::Metadata), ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    // std opens with O_CLOEXEC already; it is named for the reader.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    if metadata.is_dir() {
        return Err(ReadError::Folder {
            path: path.to_path_buf(),
        });
    }
    if metadata.file_type().is_fifo() || metadata.file_type().is_char_device() {
        clear_nonblocking(&file).map_err(io)?;
    }
    Ok((file, metadata))
}

fn clear_nonblocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns, with
    // integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A limit as a message says it: "256 MiB", "4 KiB", "100 bytes".
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    use std::time::{Duration, Instant};

    const SMALL: Limit = Limit {
        bytes: 1 << 20,
        what: "a test input",
    };

    fn mkfifo(path: &Path) {
        let name = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn reads_a_normal_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in1.txt");
        std::fs::write(&path, "1\nf 1\naa\n0\n").unwrap();
        assert_eq!(read_text(&path, SMALL).unwrap(), "1\nf 1\naa\n0\n");
        let exact = "x".repeat(1 << 20);
        std::fs::write(&path, &exact).unwrap();
        assert_eq!(read_text(&path, SMALL).unwrap(), exact, "exactly the limit");
        std::fs::write(&path, format!("{exact}x")).unwrap();
        let err = read_text(&path, SMALL).unwrap_err().to_string();
        assert!(
            err.ends_with("is larger than the limit of 1 MiB for a test input"),
            "{err}"
        );
    }

    #[test]
    fn devices_end_at_the_limit() {
        for device in ["/dev/zero", "/dev/urandom"] {
            let err = read_text(Path::new(device), SMALL).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{device} is larger than the limit of 1 MiB for a test input")
            );
            assert!(matches!(
                open_regular(Path::new(device)),
                Err(ReadError::NotRegular { .. })
            ));
        }
    }

    #[test]
    fn a_sparse_50_gb_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge");
        File::create(&path)
            .unwrap()
            .set_len(50_000_000_000)
            .unwrap();
        let start = Instant::now();
        let err = read_text(&path, PEER_INPUT).unwrap_err().to_string();
        assert!(
            err.ends_with("huge is larger than the limit of 256 MiB for an in<R>.txt"),
            "{err}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "it was read");
        assert!(
            open_regular(&path).is_ok(),
            "a regular file, to be streamed"
        );
    }

    /// A FIFO at `path` and a descriptor of it open for reading and
    /// writing: the FIFO has a writer from now on, whenever the code under
    /// test opens it (a writer that opened it later might find the reader
    /// already gone, reading an empty FIFO), and the writes never fail.
    fn fifo_with_writer(dir: &Path, flags: i32) -> (PathBuf, File) {
        let path = dir.join("fifo");
        mkfifo(&path);
        let writer = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(&path)
            .unwrap();
        (path, writer)
    }

    #[test]
    fn an_endless_fifo_ends_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut fifo) = fifo_with_writer(dir.path(), libc::O_NONBLOCK);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let chunk = [b'y'; 4096];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match fifo.write(&chunk) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(1))
                        }
                        Err(e) => panic!("writing the FIFO: {e}"),
                    }
                }
            });
            let err = read_text(&path, SMALL).unwrap_err();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(matches!(err, ReadError::TooLarge { .. }), "{err}");
        });
    }

    #[test]
    fn a_fifo_with_a_slow_writer_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut fifo) = fifo_with_writer(dir.path(), 0);
        let writer = std::thread::spawn(move || {
            for line in ["0\n", "1\n", "f\n"] {
                std::thread::sleep(Duration::from_millis(50));
                fifo.write_all(line.as_bytes()).unwrap();
            }
            // Dropping the only writer ends the reader's file.
        });
        assert_eq!(read_text(&path, SMALL).unwrap(), "0\n1\nf\n");
        writer.join().unwrap();
    }

    #[test]
    fn a_fifo_nobody_writes_to_reads_as_empty_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        mkfifo(&path);
        assert_eq!(read_text(&path, SMALL).unwrap(), "");
        assert!(matches!(
            open_regular(&path),
            Err(ReadError::NotRegular { .. })
        ));
    }

    #[test]
    fn folders_missing_files_and_bad_text_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_text(dir.path(), SMALL).unwrap_err();
        assert!(
            err.to_string().ends_with(": it is a folder, not a file"),
            "{err}"
        );
        let missing = dir.path().join("missing");
        let err = read_text(&missing, SMALL).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read ") && err.contains("(os error 2)"),
            "{err}"
        );
        let path = dir.path().join("bad");
        std::fs::write(&path, b"0\n1\nna\xffme\n").unwrap();
        let err = read_text(&path, SMALL).unwrap_err().to_string();
        assert!(
            err.ends_with("bad is not valid UTF-8 text (line 3)"),
            "{err}"
        );
    }

    #[test]
    fn names_in_messages_are_escaped() {
        use std::ffi::OsStr;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OsStr::from_bytes(b"in\x1b[2J\n\xff.txt"));
        let err = read_text(&path, SMALL).unwrap_err().to_string();
        assert!(err.contains("in\\x1b[2J\\n\\xff.txt"), "{err}");
        assert!(!err.bytes().any(|b| b == 0x1b || b == b'\n'), "{err}");
    }

    #[test]
    fn limits_are_said_in_the_largest_whole_unit() {
        assert_eq!(size(256 << 20), "256 MiB");
        assert_eq!(size(4 << 10), "4 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
