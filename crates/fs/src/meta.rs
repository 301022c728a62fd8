//! What `share` keeps of a file besides its bytes, read and set through
//! open descriptors (never through a path that a link could redirect):
//! permission bits and modification times ([`meta_of`], [`set_meta`]);
//! symbolic links read and recreated beneath a folder ([`read_link`],
//! [`create_link`]: made under a temporary name and renamed into place,
//! like files); and the free space of a folder's filesystem
//! ([`available`]).

use crate::beneath::{c_path, cvt, stat_fd};
use crate::temp::temp_name;
use crate::{Error, Folder};
use mpitorrent_core::tree::{FileMeta, Mtime};
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

/// The permission bits kept: set-user-ID, set-group-ID and sticky bits are
/// dropped (a file another user gave us must not become set-user-ID root).
pub const PERMISSION_BITS: u32 = 0o777;

/// The size, permission bits and modification time of an open file or
/// folder.
pub fn meta_of(fd: &impl AsFd) -> io::Result<FileMeta> {
    Ok(meta_of_stat(&stat_fd(fd.as_fd())?))
}

/// Opens the regular file at `relative` below `folder` as
/// [`Folder::open_file`] does, with its [`meta_of`] from the same `fstat`.
pub fn open_with_meta(folder: &Folder, relative: &Path) -> Result<(File, FileMeta), Error> {
    let (file, stat) = folder.open_file_stat(relative)?;
    Ok((file, meta_of_stat(&stat)))
}

fn meta_of_stat(stat: &libc::stat) -> FileMeta {
    FileMeta {
        size: stat.st_size as u64,
        mode: stat.st_mode & PERMISSION_BITS,
        mtime: Mtime {
            secs: stat.st_mtime,
            nanos: stat.st_mtime_nsec as u32,
        },
    }
}

/// Sets the permission bits (`fchmod`) and the modification time
/// (`futimens`; the access time is left as it is) of an open file or
/// folder. Called last, after every write, since a write moves the time.
pub fn set_meta(fd: &impl AsFd, mode: u32, mtime: Mtime) -> io::Result<()> {
    let raw = fd.as_fd().as_raw_fd();
    // SAFETY: an open descriptor; fchmod reads nothing else.
    cvt(unsafe { libc::fchmod(raw, (mode & PERMISSION_BITS) as libc::mode_t) })?;
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: mtime.secs as libc::time_t,
            tv_nsec: i64::from(mtime.nanos.min(999_999_999)) as libc::c_long,
        },
    ];
    // SAFETY: an open descriptor and an array of two timespecs.
    cvt(unsafe { libc::futimens(raw, times.as_ptr()) })?;
    Ok(())
}

/// [`set_meta`] on the regular file at `relative` below `root`, opened
/// without following links.
pub fn set_meta_below(
    root: &Folder,
    relative: &Path,
    mode: u32,
    mtime: Mtime,
) -> Result<(), Error> {
    let file = root.open_file(relative)?;
    set_meta(&file, mode, mtime)
        .map_err(|e| Error::io("set the mode and time of", root.path().join(relative), e))
}

/// The bytes an unprivileged writer may still put on the filesystem of
/// an open folder (`fstatvfs`: available blocks times the block size).
pub fn available(folder: &Folder) -> Result<u64, Error> {
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `stat` is written by a successful call before it is read.
    let done = cvt(unsafe { libc::fstatvfs(folder.as_fd().as_raw_fd(), stat.as_mut_ptr()) });
    done.map_err(|e| Error::io("read the free space of", folder.path(), e))?;
    let stat = unsafe { stat.assume_init() };
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Where the link `name` in `folder` points (`readlinkat`), as stored.
pub fn read_link(folder: &Folder, name: &OsStr) -> Result<OsString, Error> {
    let path = folder.path().join(name);
    let c_name = c_path(Path::new(name), "read the link", &path)?;
    let mut buffer = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: a valid directory descriptor, C string and buffer.
    let len = unsafe {
        libc::readlinkat(
            folder.as_fd().as_raw_fd(),
            c_name.as_ptr(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    if len < 0 {
        return Err(Error::io("read the link", path, io::Error::last_os_error()));
    }
    buffer.truncate(len as usize);
    Ok(OsString::from_vec(buffer))
}

/// Makes `relative` below `root` a symbolic link to `target` (stored as
/// given, never followed here): its folders are made beneath `root`
/// without following links, the link is created under an unpredictable
/// temporary name (`symlinkat` fails rather than reuse a name) and
/// renamed over whatever held the final name, as a file would be; a
/// folder there is refused.
pub fn create_link(
    root: &Folder,
    relative: &Path,
    target: &OsStr,
    owner: u32,
) -> Result<(), Error> {
    let path = root.path().join(relative);
    let (Some(name), parent) = (relative.file_name(), relative.parent()) else {
        return Err(Error::Outside { path });
    };
    let folder = match parent {
        Some(parent) if !parent.as_os_str().is_empty() => root.create_folders(parent)?,
        _ => root.try_clone()?,
    };
    let dir = folder.as_fd().as_raw_fd();
    let c_target = c_path(Path::new(target), "create the link", &path)?;
    let c_final = c_path(Path::new(name), "create the link", &path)?;
    for _ in 0..64 {
        let temp = temp_name(name, owner, rand::random());
        let c_temp = CString::new(temp.into_vec()).expect("no NUL in a checked name");
        // SAFETY: valid descriptors and C strings.
        let made = unsafe { libc::symlinkat(c_target.as_ptr(), dir, c_temp.as_ptr()) };
        match cvt(made) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(Error::io("create the link", path, e)),
        }
        // SAFETY: as above.
        let renamed = unsafe { libc::renameat(dir, c_temp.as_ptr(), dir, c_final.as_ptr()) };
        return match cvt(renamed) {
            Ok(_) => Ok(()),
            Err(e) => {
                // SAFETY: as above; the temporary link is ours.
                unsafe { libc::unlinkat(dir, c_temp.as_ptr(), 0) };
                match e.raw_os_error() {
                    Some(libc::EISDIR) => Err(Error::IsAFolder { path }),
                    _ => Err(Error::io("create the link", path, e)),
                }
            }
        };
    }
    let cause = io::Error::other("64 random temporary names were all taken");
    Err(Error::io("create the link", path, cause))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn modes_and_times_are_set_through_the_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"abc").unwrap();
        let file = fs::File::open(&path).unwrap();
        let mtime = Mtime {
            secs: 1_000_000_000,
            nanos: 123_456_789,
        };
        set_meta(&file, 0o4755, mtime).unwrap();
        let meta = meta_of(&file).unwrap();
        assert_eq!(meta.mode, 0o755, "no set-user-ID bit");
        assert_eq!(meta.mtime, mtime);
        assert_eq!(meta.size, 3);
        let on_disk = fs::metadata(&path).unwrap();
        assert_eq!(on_disk.permissions().mode() & 0o7777, 0o755);
    }

    #[test]
    fn links_are_read_and_made_under_a_temporary_name_then_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let root = Folder::open(dir.path()).unwrap();
        fs::write(dir.path().join("old"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("sub")).unwrap();
        create_link(&root, Path::new("old"), OsStr::new("../t"), 2).unwrap();
        assert_eq!(read_link(&root, OsStr::new("old")).unwrap(), "../t");
        create_link(&root, Path::new("deep/er/l"), OsStr::new("x"), 2).unwrap();
        assert_eq!(
            fs::read_link(dir.path().join("deep/er/l")).unwrap(),
            Path::new("x")
        );
        let err = create_link(&root, Path::new("sub/l"), OsStr::new("x"), 2).unwrap_err();
        assert!(matches!(err, Error::Link { .. }), "{err}");
        fs::create_dir(dir.path().join("folder")).unwrap();
        let err = create_link(&root, Path::new("folder"), OsStr::new("x"), 2).unwrap_err();
        assert!(matches!(err, Error::IsAFolder { .. }), "{err}");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 4, "no temporary left: {names:?}");
        assert!(available(&root).unwrap() > 0);
    }
}
