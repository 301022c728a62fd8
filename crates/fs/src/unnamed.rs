//! New files written with no name at all, and given their final name only when complete.
//!
//! A [`NewFile`] is made with `O_TMPFILE` in the folder its final name
//! belongs in: an inode with no name, which no other user can open,
//! list, replace or plant a link at, and which the kernel frees when its
//! descriptor closes (a failed or killed run leaves nothing behind, not
//! even a temporary to sweep). [`NewFile::finish`] gives it the source's
//! mode and time through the descriptor, then links it under its final
//! name with `linkat`, which never follows a link there and fails if the
//! name is taken: the file appears whole, atomically, or not at all.
//!
//! A final name that is taken (a rerun's older copy, a link someone
//! planted) is replaced as a [`TempFile`] replaces it: the file is linked
//! under a new temporary name (exclusive, unpredictable, `linkat` again)
//! and renamed over it; a folder there is an [`Error::IsAFolder`].
//!
//! Why not a named temporary for every file: for the thousands of small
//! members of a pack, a temporary costs its creation, a lock (for
//! [`crate::stale`]), two `stat`s before the rename and the rename itself
//! (about 10 system calls a file); an unnamed file needs none of the
//! lock, `stat`s or rename (6 calls: `openat`, `pwrite`, `fchmod`,
//! `futimens`, `linkat`, `close`), and measured on tmpfs it costs a third
//! less CPU. It is for files written whole in one run: a large file's
//! named temporary stays, since a killed run's temporary is resumed.
//!
//! Where a file system lacks `O_TMPFILE` (NFS, Lustre, old kernels), the
//! file is a [`TempFile`] as before. `linkat` of a descriptor
//! (`AT_EMPTY_PATH`) needs `CAP_DAC_READ_SEARCH` on older kernels (this
//! machine's 6.18 lets an unprivileged user link the file it opened);
//! without it the same link is made through `/proc/self/fd/N` (which
//! names this process's own descriptor, not a path anyone else chooses).
//! Without `/proc` files are named temporaries, so that a file is always
//! linked one way or the other.

use crate::beneath::{cvt, open_at};
use crate::meta::set_meta;
use crate::temp::checked_name;
use crate::{Error, Folder, TempFile};
use mpitorrent_core::tree::Mtime;
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Set once `linkat(AT_EMPTY_PATH)` was refused: later links go through
/// `/proc/self/fd` at once.
static LINK_BY_PROC: AtomicBool = AtomicBool::new(false);

/// A file being written, under its final name only once finished.
#[derive(Debug)]
pub struct NewFile {
    how: How,
    /// Whether it was given its final name.
    finished: Mutex<bool>,
}

#[derive(Debug)]
enum How {
    Unnamed {
        folder: Arc<Folder>,
        file: File,
        final_name: CString,
        final_path: PathBuf,
        owner: u32,
    },
    /// The file system has no unnamed files (or `/proc` is missing).
    Named(TempFile),
}

impl NewFile {
    /// A new file for `final_name` (one plain name) in `folder`, written
    /// by `owner` (whose number a temporary's name carries, if one is
    /// needed): unnamed if the file system allows and `/proc/self/fd` is
    /// there (looked at once), which any kernel can link through.
    pub fn create(folder: Arc<Folder>, final_name: &OsStr, owner: u32) -> Result<NewFile, Error> {
        static PROC_FD: OnceLock<bool> = OnceLock::new();
        let proc_fd = *PROC_FD.get_or_init(|| Path::new("/proc/self/fd").is_dir());
        Self::create_as(folder, final_name, owner, proc_fd)
    }

    /// [`Self::create`], unnamed only if `unnamed` and the file system
    /// allows.
    fn create_as(
        folder: Arc<Folder>,
        final_name: &OsStr,
        owner: u32,
        unnamed: bool,
    ) -> Result<NewFile, Error> {
        let (final_name_c, final_path) = checked_name(&folder, final_name)?;
        let flags = libc::O_TMPFILE | libc::O_RDWR;
        // Mode 0600: nobody can open it before it has a name anyway, and
        // it gets the source's mode before.
        let made = match unnamed {
            true => open_at(folder.as_fd(), c".", flags, 0o600).ok(),
            false => None,
        };
        let how = match made {
            Some(fd) => How::Unnamed {
                folder,
                file: File::from(fd),
                final_name: final_name_c,
                final_path,
                owner,
            },
            // EOPNOTSUPP (the file system), EISDIR or EINVAL (an old
            // kernel): a named temporary says what else is wrong, if
            // anything.
            None => How::Named(TempFile::create(folder, final_name, owner)?),
        };
        Ok(NewFile {
            how,
            finished: Mutex::new(false),
        })
    }

    /// The open file, for writing and reading at offsets.
    pub fn file(&self) -> &File {
        match &self.how {
            How::Unnamed { file, .. } => file,
            How::Named(temp) => temp.file(),
        }
    }

    /// Where the file goes when finished.
    pub fn final_path(&self) -> &Path {
        match &self.how {
            How::Unnamed { final_path, .. } => final_path,
            How::Named(temp) => temp.final_path(),
        }
    }

    /// Gives the file the permission bits `mode` and the time `mtime`,
    /// flushes it to disk if `fsync`, and puts it under its final name
    /// (replacing a file or link there, never following it). The open file
    /// stays usable and is now the final file. Finishing twice does
    /// nothing.
    pub fn finish(&self, mode: u32, mtime: Mtime, fsync: bool) -> Result<(), Error> {
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        if *finished {
            return Ok(());
        }
        let failed = |e| Error::io("write", self.final_path(), e);
        set_meta(self.file(), mode, mtime).map_err(failed)?;
        if fsync {
            self.file().sync_all().map_err(failed)?;
        }
        match &self.how {
            How::Named(temp) => temp.commit()?,
            How::Unnamed {
                folder,
                file,
                final_name,
                final_path,
                owner,
            } => match link(file, folder.as_fd(), final_name) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    let name = OsStr::from_bytes(final_name.to_bytes());
                    let temp = TempFile::naming(Arc::clone(folder), name, *owner, file, &link)?;
                    temp.commit()?;
                }
                Err(e) => return Err(Error::io("write", final_path, e)),
            },
        }
        *finished = true;
        Ok(())
    }

    /// Drops the file unfinished: an unnamed one simply goes when its last
    /// descriptor closes; a named temporary is removed now.
    pub fn discard(&self) {
        if let How::Named(temp) = &self.how {
            temp.discard();
        }
    }
}

/// Links the unnamed `file` as `name` in `dir`: `EEXIST` if the name is
/// taken (by anything, a link included, which is not followed).
fn link(file: &File, dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    let dir = dir.as_raw_fd();
    if !LINK_BY_PROC.load(Ordering::Relaxed) {
        // SAFETY: valid descriptors and C strings.
        let linked = unsafe {
            libc::linkat(
                file.as_raw_fd(),
                c"".as_ptr(),
                dir,
                name.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        match cvt(linked) {
            // Without CAP_DAC_READ_SEARCH, older kernels answer ENOENT.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                LINK_BY_PROC.store(true, Ordering::Relaxed)
            }
            done => return done.map(|_| ()),
        }
    }
    let proc =
        CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).expect("no NUL in a number");
    // SAFETY: valid descriptors and C strings. AT_SYMLINK_FOLLOW follows
    // /proc's magic link to this process's own open file.
    let linked = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc.as_ptr(),
            dir,
            name.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    cvt(linked).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, FileExt, MetadataExt, PermissionsExt};

    fn folder(dir: &tempfile::TempDir) -> Arc<Folder> {
        Arc::new(Folder::open(dir.path()).unwrap())
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    const TIME: Mtime = Mtime {
        secs: 1_600_000_000,
        nanos: 5,
    };

    /// Unnamed (where the test's file system allows) and named alike.
    fn both(test: impl Fn(bool)) {
        test(true);
        test(false);
    }

    #[test]
    fn nothing_is_there_until_finished_then_the_whole_file_is() {
        both(|unnamed| {
            let dir = tempfile::tempdir().unwrap();
            let new = NewFile::create_as(folder(&dir), "f".as_ref(), 2, unnamed).unwrap();
            new.file().write_all_at(b"hello", 0).unwrap();
            if unnamed {
                assert!(names(dir.path()).is_empty(), "no name at all");
            }
            assert!(!dir.path().join("f").exists());
            new.finish(0o640, TIME, true).unwrap();
            new.finish(0o640, TIME, false).unwrap();
            assert_eq!(names(dir.path()), ["f"]);
            let meta = fs::metadata(dir.path().join("f")).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o640);
            assert_eq!((meta.mtime(), meta.mtime_nsec()), (TIME.secs, 5));
            assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"hello");
            // The descriptor is the final file's.
            let mut back = [0; 5];
            new.file().read_exact_at(&mut back, 0).unwrap();
            assert_eq!(&back, b"hello");
        });
    }

    #[test]
    fn a_discarded_or_dropped_file_leaves_nothing() {
        both(|unnamed| {
            let dir = tempfile::tempdir().unwrap();
            let new = NewFile::create_as(folder(&dir), "f".as_ref(), 2, unnamed).unwrap();
            new.file().write_all_at(b"half", 0).unwrap();
            new.discard();
            drop(new);
            let dropped = NewFile::create_as(folder(&dir), "g".as_ref(), 2, unnamed).unwrap();
            drop(dropped);
            assert!(names(dir.path()).is_empty());
        });
    }

    #[test]
    fn a_taken_name_is_replaced_a_link_there_is_not_followed() {
        both(|unnamed| {
            let dir = tempfile::tempdir().unwrap();
            let victim = tempfile::tempdir().unwrap();
            let target = victim.path().join("passwd");
            fs::write(&target, b"root:x:0:0").unwrap();
            symlink(&target, dir.path().join("out")).unwrap();
            fs::write(dir.path().join("old"), b"older copy").unwrap();
            for name in ["out", "old"] {
                let new = NewFile::create_as(folder(&dir), name.as_ref(), 2, unnamed).unwrap();
                new.file().write_all_at(b"mine", 0).unwrap();
                new.finish(0o644, TIME, false).unwrap();
                let meta = fs::symlink_metadata(dir.path().join(name)).unwrap();
                assert!(meta.is_file(), "{name} is now a file");
                assert_eq!(fs::read(dir.path().join(name)).unwrap(), b"mine");
            }
            assert_eq!(fs::read(&target).unwrap(), b"root:x:0:0");
            assert_eq!(names(dir.path()), ["old", "out"], "no temporary left");
        });
    }

    #[test]
    fn a_folder_at_the_final_name_is_an_error_and_nothing_is_left() {
        both(|unnamed| {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir(dir.path().join("out")).unwrap();
            let new = NewFile::create_as(folder(&dir), "out".as_ref(), 2, unnamed).unwrap();
            let err = new.finish(0o644, TIME, false).unwrap_err();
            assert!(matches!(err, Error::IsAFolder { .. }), "{err}");
            drop(new);
            assert_eq!(names(dir.path()), ["out"]);
            assert_eq!(fs::read_dir(dir.path().join("out")).unwrap().count(), 0);
        });
    }

    #[test]
    fn linked_through_proc_as_well() {
        // What kernels before 6.10 leave an unprivileged process (the other
        // tests may then take this way too, which is as good).
        LINK_BY_PROC.store(true, Ordering::Relaxed);
        let dir = tempfile::tempdir().unwrap();
        let new = NewFile::create(folder(&dir), "f".as_ref(), 2).unwrap();
        new.file().write_all_at(b"via proc", 0).unwrap();
        new.finish(0o600, TIME, false).unwrap();
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"via proc");
        assert_eq!(names(dir.path()), ["f"]);
    }

    #[test]
    fn only_plain_names_are_final_names() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", ".", "..", "a/b"] {
            let err = NewFile::create(folder(&dir), bad.as_ref(), 1).unwrap_err();
            assert!(matches!(err, Error::Outside { .. }), "{bad}: {err}");
        }
    }
}
