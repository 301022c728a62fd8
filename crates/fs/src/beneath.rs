//! Folders and files beneath a folder the user named, opened one component at a time without following links.
//!
//! A [`Folder`] is an open descriptor of a folder. The folder the user
//! named (`--output-dir`, `--to`, the folder of `--report`) is opened by its
//! path as given, links included: that path is the user's choice. Below
//! it, every path component is opened relative to the descriptor of the
//! one above with `openat(O_NOFOLLOW | O_DIRECTORY)`, and created with
//! `mkdirat`; files are opened with `O_NOFOLLOW`. So nothing another user
//! plants below the folder (a symbolic link to `/etc`, a folder swapped for
//! a link between two calls) can make mpitorrent read or write outside it:
//! each `openat` either opens the real folder that is there at that
//! instant or fails.
//!
//! **A link below the folder is an error ([`Error::Link`]), not replaced.**
//! Replacing it would delete something a user made (maybe on purpose: a
//! sub-folder linked to a bigger disk), and silently writing elsewhere than
//! the link says would surprise them as much; an error naming the link
//! lets them decide. `..` and absolute components are refused
//! ([`Error::Outside`]).
//!
//! Why component by component rather than Linux's `openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`: creating missing sub-folders
//! needs the walk anyway (`mkdirat` takes one name), the walk works on
//! every kernel and file system with no fallback path to test, and a
//! failure names the exact component. Its cost, one `openat` per
//! component, is nothing next to writing a file.

use crate::Error;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The longest file name (one path component) that Linux file systems
/// take, in bytes.
pub const NAME_MAX: usize = 255;

/// An open folder, and its path for messages.
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
    path: PathBuf,
}

/// What an entry of a folder is, seen without following a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Folder,
    Link,
    /// A FIFO, socket or device.
    Other,
}

/// What [`Folder::list`] hands each sub-folder to enter: the visitor, the
/// open folder and its path below the walk's start.
pub(crate) type Enter<'a> = dyn FnMut(&mut dyn Visitor, Folder, PathBuf) -> Result<(), Error> + 'a;

/// A folder's identity on this machine (device and inode numbers), to
/// recognise it whatever path leads to it.
pub type FolderId = (u64, u64);

/// Walks a tree of folders ([`Folder::walk`]).
pub trait Visitor {
    /// Whether to go into the sub-folder `folder`, found at `relative`
    /// below the walk's start. Every one, unless overridden.
    fn enter(&mut self, _folder: &Folder, _relative: &Path) -> Result<bool, Error> {
        Ok(true)
    }

    /// An entry that is not a folder, in `folder`, at `relative` below the
    /// walk's start.
    fn visit(
        &mut self,
        folder: &Folder,
        name: &OsStr,
        relative: &Path,
        kind: Kind,
    ) -> Result<(), Error>;
}

impl Folder {
    /// Opens the folder the user named, following links in `path`.
    pub fn open(path: &Path) -> Result<Folder, Error> {
        let name = c_path(path, "open the folder", path)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        // SAFETY: `AT_FDCWD` is always a valid directory argument.
        let cwd = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };
        match open_at(cwd, &name, flags, 0) {
            Ok(fd) => Ok(Folder {
                fd,
                path: path.to_path_buf(),
            }),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) && path.exists() => {
                Err(Error::NotAFolder { path: path.into() })
            }
            Err(e) => Err(Error::io("open the folder", path, e)),
        }
    }

    /// The folder's path, as the user named it plus the components below.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Another descriptor of the same folder.
    pub fn try_clone(&self) -> Result<Folder, Error> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| Error::io("open the folder", &self.path, e))?;
        Ok(Folder {
            fd,
            path: self.path.clone(),
        })
    }

    /// The folder's device and inode numbers.
    pub fn id(&self) -> Result<FolderId, Error> {
        let stat = stat_fd(self.as_fd()).map_err(|e| Error::io("stat", &self.path, e))?;
        Ok((stat.st_dev, stat.st_ino))
    }

    /// The existing folder at `relative` below this one.
    pub fn open_folder(&self, relative: &Path) -> Result<Folder, Error> {
        self.descend(relative, false)
    }

    /// The folder at `relative` below this one, creating what is missing
    /// (mode 0777 less the umask, as `mkdir -p` does).
    pub fn create_folders(&self, relative: &Path) -> Result<Folder, Error> {
        self.descend(relative, true)
    }

    /// Opens the regular file at `relative` for reading.
    pub fn open_file(&self, relative: &Path) -> Result<File, Error> {
        let (file, _) = self.open_file_stat(relative)?;
        Ok(file)
    }

    /// [`Self::open_file`], and the file's `fstat` (which the open needs
    /// anyway, to refuse anything but a regular file).
    pub(crate) fn open_file_stat(&self, relative: &Path) -> Result<(File, libc::stat), Error> {
        self.in_parent_of(relative, |parent, name| parent.open_here(name))
    }

    /// Opens the regular file `name` of this folder for reading: an
    /// `openat`, an `fstat` and an `fcntl` (a seeder opens every file of
    /// its tree twice, to list it and to read it: for 20,000 small files
    /// each syscall saved here is tens of milliseconds).
    fn open_here(&self, name: &OsStr) -> Result<(File, libc::stat), Error> {
        let path = self.path.join(name);
        let c_name = c_path(Path::new(name), "open", &path)?;
        // O_NONBLOCK: a FIFO planted under the name must not block the
        // open; it is refused just below.
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
        let fd =
            open_at(self.as_fd(), &c_name, flags, 0).map_err(|e| self.explain(name, e, "open"))?;
        let stat = stat_fd(fd.as_fd()).map_err(|e| Error::io("open", &path, e))?;
        match stat.st_mode & libc::S_IFMT {
            libc::S_IFREG => {}
            libc::S_IFDIR => return Err(Error::IsAFolder { path }),
            _ => return Err(Error::NotAFile { path }),
        }
        // O_NONBLOCK does nothing for a regular file, but clear it anyway so
        // that the file reads like any other. It is the only flag of
        // `F_SETFL`'s (O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME, O_NONBLOCK)
        // set above, so setting none clears it without reading them first.
        // SAFETY: an open descriptor; F_SETFL touches only its flags.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, 0) })
            .map_err(|e| Error::io("open", &path, e))?;
        Ok((File::from(fd), stat))
    }

    /// Every entry of this folder (but `.` and `..`), in no order.
    pub fn entries(&self) -> Result<Vec<(OsString, Kind)>, Error> {
        let fail = |e| Error::io("list", &self.path, e);
        let dup = self.fd.try_clone().map_err(fail)?;
        // SAFETY: `fdopendir` takes ownership of the duplicate on success;
        // on failure it is still ours (into_raw_fd then from_raw_fd).
        let raw = std::os::fd::IntoRawFd::into_raw_fd(dup);
        let dir = unsafe { libc::fdopendir(raw) };
        if dir.is_null() {
            let e = io::Error::last_os_error();
            drop(unsafe { OwnedFd::from_raw_fd(raw) });
            return Err(fail(e));
        }
        // The duplicate shares the read position with `self.fd`: start over.
        // SAFETY: `dir` is a valid DIR* until closedir below.
        unsafe { libc::rewinddir(dir) };
        let mut entries = Vec::new();
        let result = loop {
            // readdir signals errors only through errno.
            unsafe { *libc::__errno_location() = 0 };
            // SAFETY: `dir` is valid; the entry is read before the next call.
            let entry = unsafe { libc::readdir(dir) };
            if entry.is_null() {
                let e = io::Error::last_os_error();
                break match e.raw_os_error() {
                    Some(0) | None => Ok(()),
                    Some(_) => Err(fail(e)),
                };
            }
            // SAFETY: `d_name` is a NUL-terminated name inside `entry`.
            let (name, d_type) = unsafe {
                let name = CStr::from_ptr((*entry).d_name.as_ptr());
                (
                    OsStr::from_bytes(name.to_bytes()).to_os_string(),
                    (*entry).d_type,
                )
            };
            if name == "." || name == ".." {
                continue;
            }
            let kind = match d_type {
                libc::DT_REG => Kind::File,
                libc::DT_DIR => Kind::Folder,
                libc::DT_LNK => Kind::Link,
                libc::DT_UNKNOWN => self.kind_of(&name)?,
                _ => Kind::Other,
            };
            entries.push((name, kind));
        };
        // SAFETY: closes `dir` and the duplicate descriptor it owns.
        unsafe { libc::closedir(dir) };
        result.map(|()| entries)
    }

    /// Walks every folder below this one (depth first, one descriptor per
    /// level open at a time), never through a link: `visitor` sees every
    /// entry that is not a folder, links included, and chooses which
    /// sub-folders to enter.
    pub fn walk(&self, visitor: &mut dyn Visitor) -> Result<(), Error> {
        self.walk_below(Path::new(""), visitor)
    }

    fn walk_below(&self, relative: &Path, visitor: &mut dyn Visitor) -> Result<(), Error> {
        self.list(relative, visitor, &mut |visitor, sub, below| {
            sub.walk_below(&below, visitor)
        })
    }

    /// Hands this folder's entries (found at `relative` below a walk's
    /// start) to `visitor`, and each sub-folder it chooses to enter, opened,
    /// to `enter` with the visitor (a walk goes into it there, or later).
    pub(crate) fn list(
        &self,
        relative: &Path,
        visitor: &mut dyn Visitor,
        enter: &mut Enter<'_>,
    ) -> Result<(), Error> {
        for (name, kind) in self.entries()? {
            let below = relative.join(&name);
            if kind != Kind::Folder {
                visitor.visit(self, &name, &below, kind)?;
                continue;
            }
            match self.child(&name, false) {
                Ok(sub) if visitor.enter(&sub, &below)? => enter(visitor, sub, below)?,
                Ok(_) => {}
                // Swapped for a link since the listing: still a link.
                Err(Error::Link { .. }) => visitor.visit(self, &name, &below, Kind::Link)?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Calls `then` with the folder holding `relative` (opened, not
    /// created) and its last component, which must be a plain name. A name
    /// in this folder itself uses this descriptor, with no copy of it.
    pub(crate) fn in_parent_of<T>(
        &self,
        relative: &Path,
        then: impl FnOnce(&Folder, &OsStr) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let names = components(relative, &self.path)?;
        let Some((last, above)) = names.split_last() else {
            return Err(Error::Outside {
                path: relative.into(),
            });
        };
        match self.below(above, false)? {
            None => then(self, last),
            Some(folder) => then(&folder, last),
        }
    }

    fn descend(&self, relative: &Path, create: bool) -> Result<Folder, Error> {
        match self.below(&components(relative, &self.path)?, create)? {
            Some(folder) => Ok(folder),
            None => self.try_clone(),
        }
    }

    /// The folder `names` lead to from this one, each created first if
    /// `create` and missing; `None` for no names (this folder itself).
    fn below(&self, names: &[&OsStr], create: bool) -> Result<Option<Folder>, Error> {
        let Some((first, rest)) = names.split_first() else {
            return Ok(None);
        };
        let mut folder = self.child(first, create)?;
        for name in rest {
            folder = folder.child(name, create)?;
        }
        Ok(Some(folder))
    }

    /// The sub-folder `name`, created first if `create` and missing.
    fn child(&self, name: &OsStr, create: bool) -> Result<Folder, Error> {
        let path = self.path.join(name);
        let c_name = c_path(Path::new(name), "open the folder", &path)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let mut made = false;
        loop {
            match open_at(self.as_fd(), &c_name, flags, 0) {
                Ok(fd) => return Ok(Folder { fd, path }),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create && !made => {
                    // SAFETY: a valid directory descriptor and C string.
                    let made_now =
                        unsafe { libc::mkdirat(self.fd.as_raw_fd(), c_name.as_ptr(), 0o777) };
                    match cvt(made_now) {
                        // Someone else made it meanwhile: open theirs, as
                        // long as it is a folder.
                        Ok(_) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => return Err(Error::io("create the folder", &path, e)),
                    }
                    made = true;
                }
                Err(e) => return Err(self.explain(name, e, "open the folder")),
            }
        }
    }

    /// The error for a failed open of `name` in this folder: ELOOP and
    /// ENOTDIR (which `O_DIRECTORY` may answer for a link) say what is
    /// really there.
    fn explain(&self, name: &OsStr, e: io::Error, op: &'static str) -> Error {
        let path = self.path.join(name);
        if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) {
            match self.kind_of(name) {
                Ok(Kind::Link) => return Error::Link { path },
                Ok(Kind::Folder) => {}
                Ok(_) => return Error::NotAFolder { path },
                Err(_) => {}
            }
        }
        Error::io(op, path, e)
    }

    /// What `name` in this folder is, without following a link.
    fn kind_of(&self, name: &OsStr) -> Result<Kind, Error> {
        let path = self.path.join(name);
        let stat = stat_at(self.as_fd(), name).map_err(|e| Error::io("stat", &path, e))?;
        Ok(kind_of_mode(stat.st_mode))
    }
}

impl AsFd for Folder {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn kind_of_mode(mode: libc::mode_t) -> Kind {
    match mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Folder,
        libc::S_IFLNK => Kind::Link,
        _ => Kind::Other,
    }
}

/// The plain names of a relative path; `.` components are skipped, `..`
/// and absolute ones refused.
fn components<'a>(relative: &'a Path, base: &Path) -> Result<Vec<&'a OsStr>, Error> {
    relative
        .components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(Error::Outside {
                path: base.join(relative),
            }),
        })
        .collect()
}

/// `name` as a C string; a NUL byte (which no file system name holds) is
/// an error for `op` on `path`.
pub(crate) fn c_path(name: &Path, op: &'static str, path: &Path) -> Result<CString, Error> {
    CString::new(name.as_os_str().as_bytes()).map_err(|_| {
        let cause = io::Error::new(io::ErrorKind::InvalidInput, "the name holds a NUL byte");
        Error::io(op, path, cause)
    })
}

/// A system call's -1 as the error it set.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    match ret {
        -1 => Err(io::Error::last_os_error()),
        ok => Ok(ok),
    }
}

/// Sets the file status flags `add` and clears `remove` (`fcntl`
/// `F_SETFL`: `O_NONBLOCK`, `O_DIRECT`, ...).
pub fn set_status_flags(fd: BorrowedFd, add: libc::c_int, remove: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is an open descriptor; F_GETFL and F_SETFL touch only
    // its flags.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, (flags | add) & !remove) })?;
    Ok(())
}

/// `openat` with `O_CLOEXEC`, retried if a signal interrupts it.
pub(crate) fn open_at(
    dir: BorrowedFd,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: a valid directory descriptor and C string; the result is
        // a new descriptor we own.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_CLOEXEC,
                libc::c_uint::from(mode),
            )
        };
        match cvt(fd) {
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `fstat` of an open descriptor.
pub(crate) fn stat_fd(fd: BorrowedFd) -> io::Result<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is written by a successful call before it is read.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) })?;
    Ok(unsafe { stat.assume_init() })
}

/// `fstatat` of `name` in `dir`, not following a link.
pub(crate) fn stat_at(dir: BorrowedFd, name: &OsStr) -> io::Result<libc::stat> {
    let name = CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a name"))?;
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    let flags = libc::AT_SYMLINK_NOFOLLOW;
    // SAFETY: as in `stat_fd`.
    cvt(unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), stat.as_mut_ptr(), flags) })?;
    Ok(unsafe { stat.assume_init() })
}

/// Removes `name` from `dir` if it is still the file `file` is open on
/// (a name another process replaced meanwhile is left alone); says whether
/// it did.
pub(crate) fn unlink_if_same(dir: BorrowedFd, name: &CStr, file: BorrowedFd) -> io::Result<bool> {
    let ours = stat_fd(file)?;
    let there = stat_at(dir, OsStr::from_bytes(name.to_bytes()))?;
    if (ours.st_dev, ours.st_ino) != (there.st_dev, there.st_ino) {
        return Ok(false);
    }
    // SAFETY: a valid directory descriptor and C string.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn folder(dir: &tempfile::TempDir) -> Folder {
        Folder::open(dir.path()).unwrap()
    }

    #[test]
    fn creates_and_opens_sub_folders() {
        let dir = tempfile::tempdir().unwrap();
        let sub = folder(&dir).create_folders(Path::new("a/./b/c")).unwrap();
        assert!(dir.path().join("a/b/c").is_dir());
        assert_eq!(sub.path(), dir.path().join("a/b/c"));
        let again = folder(&dir).open_folder(Path::new("a/b/c")).unwrap();
        assert_eq!(again.id().unwrap(), sub.id().unwrap());
        let err = folder(&dir).open_folder(Path::new("a/x")).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }

    #[test]
    fn the_named_folder_may_be_a_link_but_nothing_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = tempfile::tempdir().unwrap();
        symlink(victim.path(), dir.path().join("link")).unwrap();
        // The user's own path is followed.
        let named = Folder::open(&dir.path().join("link")).unwrap();
        assert_eq!(named.entries().unwrap(), vec![]);
        for create in [false, true] {
            let err = folder(&dir)
                .descend(Path::new("link/sub"), create)
                .unwrap_err();
            assert!(matches!(err, Error::Link { .. }), "{err}");
            assert!(err.to_string().contains("link is a symbolic link"), "{err}");
        }
        assert!(!victim.path().join("sub").exists(), "nothing created there");
        fs::write(victim.path().join("f"), b"secret").unwrap();
        let err = folder(&dir).open_file(Path::new("link/f")).unwrap_err();
        assert!(matches!(err, Error::Link { .. }), "{err}");
        symlink(victim.path().join("f"), dir.path().join("file-link")).unwrap();
        let err = folder(&dir).open_file(Path::new("file-link")).unwrap_err();
        assert!(matches!(err, Error::Link { .. }), "{err}");
    }

    #[test]
    fn parent_and_absolute_components_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("a")).unwrap();
        for bad in ["../x", "a/../a", "/etc", ""] {
            let err = folder(&dir).open_file(Path::new(bad)).unwrap_err();
            assert!(matches!(err, Error::Outside { .. }), "{bad}: {err}");
        }
        let err = folder(&dir).create_folders(Path::new("a/..")).unwrap_err();
        assert!(matches!(err, Error::Outside { .. }), "{err}");
    }

    #[test]
    fn files_open_only_if_regular() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), b"abc").unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        let fifo = CString::new(dir.path().join("fifo").as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let read = io::read_to_string(folder(&dir).open_file(Path::new("f")).unwrap());
        assert_eq!(read.unwrap(), "abc");
        let err = folder(&dir).open_file(Path::new("d")).unwrap_err();
        assert!(matches!(err, Error::IsAFolder { .. }), "{err}");
        let err = folder(&dir).open_file(Path::new("fifo")).unwrap_err();
        assert!(matches!(err, Error::NotAFile { .. }), "{err}");
        let err = folder(&dir).open_folder(Path::new("f")).unwrap_err();
        assert!(matches!(err, Error::NotAFolder { .. }), "{err}");
        let err = Folder::open(&dir.path().join("f")).unwrap_err();
        assert!(matches!(err, Error::NotAFolder { .. }), "{err}");
    }

    /// Lists what a walk sees, skipping folders named `skip`.
    struct Seen(Vec<(PathBuf, Kind)>);

    impl Visitor for Seen {
        fn enter(&mut self, _: &Folder, relative: &Path) -> Result<bool, Error> {
            Ok(!relative.ends_with("skip"))
        }
        fn visit(&mut self, _: &Folder, _: &OsStr, rel: &Path, kind: Kind) -> Result<(), Error> {
            self.0.push((rel.into(), kind));
            Ok(())
        }
    }

    #[test]
    fn walks_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"x").unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::create_dir_all(dir.path().join("a/skip")).unwrap();
        fs::write(dir.path().join("a/b/f"), b"").unwrap();
        fs::write(dir.path().join("a/skip/g"), b"").unwrap();
        symlink(outside.path(), dir.path().join("a/out")).unwrap();
        let mut seen = Seen(Vec::new());
        folder(&dir).walk(&mut seen).unwrap();
        seen.0.sort_by(|a, b| a.0.cmp(&b.0));
        let want = vec![
            (PathBuf::from("a/b/f"), Kind::File),
            (PathBuf::from("a/out"), Kind::Link),
        ];
        assert_eq!(seen.0, want);
        // Listing twice through one descriptor lists everything twice.
        let a = folder(&dir).open_folder(Path::new("a")).unwrap();
        assert_eq!(a.entries().unwrap().len(), 3);
        assert_eq!(a.entries().unwrap().len(), 3);
    }
}
