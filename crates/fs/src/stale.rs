//! Temporaries a killed run left behind: recognised by their pattern and removed only when no live process holds them.
//!
//! A run killed mid-write (`kill -9`, a node lost, mpirun ending a stuck
//! rank) leaves its temporaries (`.<name>.<owner>-<random>.part`, see
//! [`crate::temp`]). A later successful run of the same owner removes
//! them, under three rules:
//!
//! - **Only names of the temporaries' own pattern, of its own owner**
//!   ([`crate::temp::parse`]), and only those whose final name the caller
//!   accepts (the classic mode: its own output names). A file of any other
//!   name is never touched, whoever made it.
//! - **Only when no live process owns it.** Every temporary's descriptor
//!   holds `flock(LOCK_EX)` for as long as it is written, and the kernel
//!   drops a lock when the last descriptor of its holder closes, which a
//!   killed process does. So each candidate is opened (`O_NOFOLLOW |
//!   O_NONBLOCK`: a link or FIFO is left alone) and locked with
//!   `LOCK_EX | LOCK_NB`: if that succeeds nobody holds it; if it would
//!   block, a live process (another job, or a rank of this one) still
//!   writes it, and it stays. The lock works between processes and between
//!   the threads of `--local` alike, since `flock` locks belong to open
//!   files, not to processes.
//! - **Only the file that was checked.** Before unlinking, the name is
//!   looked up again (`fstatat`) and must still be the inode just locked
//!   (`fstat`), so a name swapped meanwhile is left alone.
//!
//! Caveats: a process that created a temporary but has not locked it yet
//! (the instant between `open` and `flock`) looks dead; only another run
//! of the same owner writing into the same folder at the same moment could
//! see it, and its temporary would then fail to commit ([`Error::Replaced`]),
//! never a wrong file. On network file systems `flock` is only as good as
//! their locking: NFS maps it to byte-range locks (cross-node if the server
//! locks; node-local with `nolock`), Lustre needs `-o flock`. Where `flock`
//! fails outright (`ENOLCK`, `ENOSYS`), nothing is removed.

use crate::beneath::{cvt, open_at, stat_fd, unlink_if_same, Kind};
use crate::temp::parse;
use crate::{Error, Folder, TempFile};
use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Chooses, by its final name's part ([`crate::temp::final_part`]), which
/// temporaries of the owner may be removed.
pub type Owned<'a> = &'a dyn Fn(&[u8]) -> bool;

/// Removes the stale temporaries of the same owner and final name as
/// `temp` (other than `temp`, which its owner holds) from its folder; for a
/// file written whole at once, once it is in place.
pub fn remove_stale_beside(temp: &TempFile) -> Result<Vec<PathBuf>, Error> {
    let (folder, owner, part) = temp.pattern();
    remove_stale(folder, owner, &|p| p == part)
}

/// Removes the stale temporaries of `owner` in `folder` (not below it)
/// whose final name `owned` accepts; returns their paths.
pub fn remove_stale(folder: &Folder, owner: u32, owned: Owned) -> Result<Vec<PathBuf>, Error> {
    let mut removed = Vec::new();
    for (name, kind) in folder.entries()? {
        if kind == Kind::File && remove_if_stale(folder, &name, owner, owned)? {
            removed.push(folder.path().join(name));
        }
    }
    Ok(removed)
}

/// Removes `relative` (a path below `root`, reached without following
/// links) if it is a stale temporary of `owner`, whatever file it was
/// for; returns its path if it did. For the temporaries a scan of `root`
/// found before a run: a run that ended well knows they are an earlier
/// run's, and need not walk the whole tree again to find them. A folder
/// on the way that is gone (or is not one) means it is gone too.
pub fn remove_stale_at(
    root: &Folder,
    relative: &Path,
    owner: u32,
) -> Result<Option<PathBuf>, Error> {
    let Some(name) = relative.file_name() else {
        return Ok(None);
    };
    let folder = match relative.parent().filter(|p| !p.as_os_str().is_empty()) {
        None => None,
        Some(parent) => match root.open_folder(parent) {
            Ok(folder) => Some(folder),
            Err(Error::Link { .. } | Error::NotAFolder { .. }) => return Ok(None),
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        },
    };
    let folder = folder.as_ref().unwrap_or(root);
    let removed = remove_if_stale(folder, name, owner, &|_| true)?;
    Ok(removed.then(|| folder.path().join(name)))
}

/// Removes `name` from `folder` if it is a temporary of `owner` for an
/// accepted final name that nobody holds; says whether it did.
fn remove_if_stale(folder: &Folder, name: &OsStr, owner: u32, owned: Owned) -> Result<bool, Error> {
    match parse(name) {
        Some(temp) if temp.owner == owner && owned(temp.final_part) => {}
        _ => return Ok(false),
    }
    let path = folder.path().join(name);
    let c_name = CString::new(name.as_bytes()).expect("a listed name holds no NUL");
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
    let fd = match open_at(folder.as_fd(), &c_name, flags, 0) {
        Ok(fd) => fd,
        // Gone already, or not a file we made (a link answers ELOOP).
        Err(_) => return Ok(false),
    };
    match stat_fd(fd.as_fd()) {
        Ok(stat) if stat.st_mode & libc::S_IFMT == libc::S_IFREG => {}
        _ => return Ok(false),
    }
    // SAFETY: flock on an open descriptor.
    if cvt(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }).is_err() {
        // EWOULDBLOCK: a live process holds it. Anything else: cannot tell.
        return Ok(false);
    }
    unlink_if_same(folder.as_fd(), &c_name, fd.as_fd()).map_err(|e| Error::io("remove", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temp::temp_name;
    use std::fs;
    use std::sync::Arc;

    fn everything(_: &[u8]) -> bool {
        true
    }

    #[test]
    fn removes_only_unheld_temporaries_of_its_owner_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Arc::new(Folder::open(dir.path()).unwrap());
        // A live one: created (and locked) by this process.
        let live = TempFile::create(Arc::clone(&folder), "a".as_ref(), 2).unwrap();
        // Dead ones: plain files under the pattern, nobody holds them.
        let dead = dir.path().join(temp_name("a".as_ref(), 2, 1));
        let other_name = dir.path().join(temp_name("b".as_ref(), 2, 2));
        let other_owner = dir.path().join(temp_name("a".as_ref(), 3, 3));
        for path in [&dead, &other_name, &other_owner] {
            fs::write(path, b"half").unwrap();
        }
        let unrelated = ["a", ".a.part-123", "notes.part"];
        for name in unrelated {
            fs::write(dir.path().join(name), b"keep").unwrap();
        }
        let only_a = |part: &[u8]| part == b"a";
        let removed = remove_stale(&folder, 2, &only_a).unwrap();
        assert_eq!(removed, [dead]);
        assert!(live.path().exists(), "a held temporary stays");
        assert!(other_name.exists() && other_owner.exists());
        for name in unrelated {
            assert!(dir.path().join(name).exists(), "{name}");
        }
        // Once its holder is gone (killed, say), it is stale too.
        let live_path = live.path();
        std::mem::forget(live);
        // A leaked TempFile keeps its descriptor (and lock) open.
        assert!(remove_stale(&folder, 2, &only_a).unwrap().is_empty());
        assert!(live_path.exists());
    }

    #[test]
    fn a_lock_held_by_another_open_file_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::open(dir.path()).unwrap();
        let path = dir.path().join(temp_name("f".as_ref(), 1, 9));
        fs::write(&path, b"").unwrap();
        let holder = fs::File::open(&path).unwrap();
        assert_eq!(unsafe { libc::flock(holder.as_raw_fd(), libc::LOCK_EX) }, 0);
        assert!(remove_stale(&folder, 1, &everything).unwrap().is_empty());
        assert!(path.exists());
        drop(holder);
        assert_eq!(
            remove_stale(&folder, 1, &everything).unwrap(),
            vec![path.clone()]
        );
        assert!(!path.exists());
    }

    #[test]
    fn beside_a_temporary_only_its_own_name_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Arc::new(Folder::open(dir.path()).unwrap());
        let old = dir.path().join(temp_name("r.json".as_ref(), 0, 1));
        let other = dir.path().join(temp_name("t.svg".as_ref(), 0, 2));
        fs::write(&old, b"").unwrap();
        fs::write(&other, b"").unwrap();
        let temp = TempFile::create(folder, "r.json".as_ref(), 0).unwrap();
        temp.write_and_commit(b"{}").unwrap();
        assert_eq!(remove_stale_beside(&temp).unwrap(), [old]);
        assert!(other.exists());
    }

    #[test]
    fn links_and_folders_under_the_pattern_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let victim = tempfile::tempdir().unwrap();
        fs::write(victim.path().join("v"), b"v").unwrap();
        let link = dir.path().join(temp_name("f".as_ref(), 1, 1));
        std::os::unix::fs::symlink(victim.path().join("v"), &link).unwrap();
        let folder_named = dir.path().join(temp_name("g".as_ref(), 1, 2));
        fs::create_dir(&folder_named).unwrap();
        let folder = Folder::open(dir.path()).unwrap();
        assert!(remove_stale(&folder, 1, &everything).unwrap().is_empty());
        assert!(fs::symlink_metadata(&link).is_ok() && folder_named.is_dir());
        assert_eq!(fs::read(victim.path().join("v")).unwrap(), b"v");
    }

    #[test]
    fn a_named_temporary_below_the_root_is_removed_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let far_name = temp_name("x".as_ref(), 4, 1);
        fs::write(outside.path().join(&far_name), b"").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        let deep_name = temp_name("y".as_ref(), 4, 2);
        let deep = dir.path().join("a/b").join(&deep_name);
        fs::write(&deep, b"").unwrap();
        let top = dir.path().join(temp_name("z".as_ref(), 4, 3));
        fs::write(&top, b"").unwrap();
        let folder = Folder::open(dir.path()).unwrap();
        let at = |path: &Path| remove_stale_at(&folder, path, 4).unwrap();
        let far = Path::new("out").join(&far_name);
        assert_eq!(at(&far), None, "nothing beyond a link is touched");
        assert!(outside.path().join(&far_name).exists());
        assert_eq!(at(&Path::new("a/b").join(&deep_name)), Some(deep.clone()));
        assert!(!deep.exists());
        assert_eq!(at(top.strip_prefix(dir.path()).unwrap()), Some(top.clone()));
        // Another owner's, a folder that is gone, a name that is gone.
        let others = dir.path().join("a").join(temp_name("w".as_ref(), 5, 4));
        fs::write(&others, b"").unwrap();
        assert_eq!(at(others.strip_prefix(dir.path()).unwrap()), None);
        assert!(others.exists());
        assert_eq!(at(&Path::new("gone").join(&deep_name)), None);
        assert_eq!(at(&Path::new("a/b").join(&deep_name)), None);
    }
}
