//! Exclusive, unpredictable temporary files, renamed into place when complete.
//!
//! A [`TempFile`] is created for the final name it will get, in the
//! [`Folder`] that name belongs in, as
//! `.<final name>.<owner>-<16 random hex digits>.part` (the owner is the
//! rank that writes it; the final name is shortened to [`FINAL_PART_MAX`]
//! bytes, so the temporary fits in [`NAME_MAX`] even when the final name
//! is as long as a name may be). It is opened with
//! `O_CREAT | O_EXCL | O_NOFOLLOW`: a name that already exists (a planted
//! link, a file of anyone) is never opened, truncated or reused; another
//! random name is tried. The random part comes from the operating system's
//! generator, so nobody can guess a name ahead: not a pid, which is
//! guessable and shared by the ranks of `--local`.
//!
//! [`TempFile::commit`] renames it to the final name with `renameat` in the
//! same folder descriptor: atomic, and whatever was under the final name
//! (an older file, or a link someone planted there) is replaced, never
//! followed. A folder under the final name is an [`Error::IsAFolder`].
//! Dropped without a commit, the temporary is removed.
//!
//! While it exists the temporary's descriptor holds `flock(LOCK_EX)`: a
//! later run that finds it knows from the lock whether the process that
//! made it still lives (see [`crate::stale`]).

use crate::beneath::{c_path, cvt, open_at, stat_at, stat_fd, unlink_if_same};
use crate::{Error, Folder, NAME_MAX};
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The longest part of a final name kept in its temporary's name: what
/// [`NAME_MAX`] leaves after the dots, the largest owner (10 digits), the
/// dash, the 16 random digits and `.part`.
pub const FINAL_PART_MAX: usize = NAME_MAX - (1 + 1 + 10 + 1 + 16 + 5);

/// How many random names are tried before giving up: a collision of 64
/// random bits happens only if someone creates names to match ours.
const ATTEMPTS: usize = 64;

/// A file being written under a temporary name beside its final one.
#[derive(Debug)]
pub struct TempFile {
    folder: Arc<Folder>,
    name: CString,
    final_name: CString,
    final_path: PathBuf,
    owner: u32,
    file: File,
    state: Mutex<State>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Writing,
    Committed,
    Removed,
}

impl TempFile {
    /// Creates the temporary for `final_name` (one plain name) in `folder`,
    /// written by `owner`; mode 0644 less the umask.
    pub fn create(folder: Arc<Folder>, final_name: &OsStr, owner: u32) -> Result<TempFile, Error> {
        Self::create_with(folder, final_name, owner, &mut rand::random)
    }

    /// [`Self::create`] with the random parts drawn from `random`.
    fn create_with(
        folder: Arc<Folder>,
        final_name: &OsStr,
        owner: u32,
        random: &mut dyn FnMut() -> u64,
    ) -> Result<TempFile, Error> {
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let mut open =
            |dir: BorrowedFd, name: &CStr| open_at(dir, name, flags, 0o644).map(File::from);
        Self::name_with(folder, final_name, owner, random, &mut open)
    }

    /// The temporary for `final_name` in `folder` whose file `make` puts
    /// under each random name tried: it must fail with `EEXIST` for a name
    /// that exists (a planted link, a file of anyone), and another random
    /// name is tried.
    fn name_with(
        folder: Arc<Folder>,
        final_name: &OsStr,
        owner: u32,
        random: &mut dyn FnMut() -> u64,
        make: &mut dyn FnMut(BorrowedFd, &CStr) -> io::Result<File>,
    ) -> Result<TempFile, Error> {
        let (final_c, final_path) = checked_name(&folder, final_name)?;
        for _ in 0..ATTEMPTS {
            let name = temp_name(final_name, owner, random());
            let c_name = CString::new(name.into_vec()).expect("no NUL in a checked name");
            let file = match make(folder.as_fd(), &c_name) {
                Ok(file) => file,
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
                Err(e) => return Err(Error::io("write", final_path, e)),
            };
            let temp = TempFile {
                folder,
                name: c_name,
                final_name: final_c,
                final_path,
                owner,
                file,
                state: Mutex::new(State::Writing),
            };
            // From here on, dropping `temp` removes the name again.
            // SAFETY: flock on an open descriptor.
            let locked = cvt(unsafe { libc::flock(temp.file.as_raw_fd(), libc::LOCK_EX) });
            locked.map_err(|e| Error::io("lock", temp.path(), e))?;
            return Ok(temp);
        }
        let cause = io::Error::other(format!("{ATTEMPTS} random temporary names were all taken"));
        Err(Error::io("write", final_path, cause))
    }

    /// The temporary for `final_name` in `folder` under which `link` puts
    /// an existing file (`file`, an unnamed one: see [`crate::unnamed`]),
    /// to be committed over a final name that `linkat` alone cannot
    /// replace.
    pub(crate) fn naming(
        folder: Arc<Folder>,
        final_name: &OsStr,
        owner: u32,
        file: &File,
        link: &dyn Fn(&File, BorrowedFd, &CStr) -> io::Result<()>,
    ) -> Result<TempFile, Error> {
        let mut make = |dir: BorrowedFd, name: &CStr| {
            link(file, dir, name)?;
            file.try_clone()
        };
        Self::name_with(folder, final_name, owner, &mut rand::random, &mut make)
    }

    /// The temporary for the file at `relative` below `root` (a path of
    /// plain names), its folders created beneath `root` without following
    /// links ([`Folder::create_folders`]), written by `owner`.
    pub fn create_below(
        root: &Arc<Folder>,
        relative: &Path,
        owner: u32,
    ) -> Result<TempFile, Error> {
        let Some(name) = relative.file_name() else {
            return Err(Error::Outside {
                path: root.path().join(relative),
            });
        };
        let folder = match relative.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => {
                Arc::new(root.create_folders(parent)?)
            }
            _ => Arc::clone(root),
        };
        TempFile::create(folder, name, owner)
    }

    /// The temporary for the file at `path` (a path the user gave, whose
    /// folder is opened as given, links included), written by `owner`.
    pub fn beside(path: &Path, owner: u32) -> Result<TempFile, Error> {
        let Some(name) = path.file_name() else {
            return Err(Error::Outside { path: path.into() });
        };
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let folder = Folder::open(folder)?;
        // Messages name the file as the user did, not as ./name.
        let final_path = path.to_path_buf();
        let mut temp = TempFile::create(Arc::new(folder), name, owner)?;
        temp.final_path = final_path;
        Ok(temp)
    }

    /// The open file, for reading and writing (at offsets or in order).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where the file goes when committed.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Where the file is until then.
    pub fn path(&self) -> PathBuf {
        self.folder
            .path()
            .join(OsStr::from_bytes(self.name.to_bytes()))
    }

    /// Renames the file to its final name, replacing what was there (a link
    /// included: the link is replaced, never followed). The open file stays
    /// usable and is now the final file. Committing twice does nothing.
    pub fn commit(&self) -> Result<(), Error> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *state {
            State::Committed => return Ok(()),
            State::Removed => {
                return Err(Error::Replaced {
                    path: self.final_path.clone(),
                })
            }
            State::Writing => {}
        }
        // A temporary someone else removed or replaced (in a folder without
        // the sticky bit, anyone who may write the folder can) is not
        // renamed: its name may now hold their file.
        let ours = stat_fd(self.file.as_fd()).map_err(|e| self.io("finish", e))?;
        let there = stat_at(self.folder.as_fd(), OsStr::from_bytes(self.name.to_bytes()));
        if !matches!(there, Ok(there) if (there.st_dev, there.st_ino) == (ours.st_dev, ours.st_ino))
        {
            return Err(Error::Replaced {
                path: self.final_path.clone(),
            });
        }
        let dir = self.folder.as_fd().as_raw_fd();
        // SAFETY: valid descriptors and C strings.
        let renamed =
            unsafe { libc::renameat(dir, self.name.as_ptr(), dir, self.final_name.as_ptr()) };
        match cvt(renamed) {
            Ok(_) => {
                *state = State::Committed;
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => Err(Error::IsAFolder {
                path: self.final_path.clone(),
            }),
            Err(e) => Err(self.io("rename a temporary file to", e)),
        }
    }

    /// Writes `bytes` (the whole file), flushes them to disk (a full disk
    /// may only say so then) and commits; on any error the temporary is
    /// removed when dropped, and nothing appears under the final name.
    pub fn write_and_commit(&self, bytes: &[u8]) -> Result<(), Error> {
        let mut file = &self.file;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io("write", e))?;
        self.commit()
    }

    /// Removes the temporary now (dropping it does the same), unless it
    /// was committed.
    pub fn discard(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if *state == State::Writing {
            // Failing to remove it (the folder became read-only, say) leaves
            // a temporary that the next successful run removes.
            let _ = unlink_if_same(self.folder.as_fd(), &self.name, self.file.as_fd());
            *state = State::Removed;
        }
    }

    /// The folder it is in, who writes it and the part of the final name
    /// its name keeps: what [`crate::stale`] needs to find its siblings.
    pub(crate) fn pattern(&self) -> (&Folder, u32, &[u8]) {
        let final_name = OsStr::from_bytes(self.final_name.to_bytes());
        (&self.folder, self.owner, final_part(final_name))
    }

    fn io(&self, op: &'static str, cause: io::Error) -> Error {
        Error::io(op, &self.final_path, cause)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.discard();
    }
}

/// `final_name` as a C string, and its path in `folder`, if it is one
/// plain name a file system takes (no `/`, not `.` or `..`, at most
/// [`NAME_MAX`] bytes).
pub(crate) fn checked_name(
    folder: &Folder,
    final_name: &OsStr,
) -> Result<(CString, PathBuf), Error> {
    let final_path = folder.path().join(final_name);
    let plain = !final_name.is_empty()
        && final_name != "."
        && final_name != ".."
        && !final_name.as_bytes().contains(&b'/');
    if !plain {
        return Err(Error::Outside { path: final_path });
    }
    if final_name.len() > NAME_MAX {
        let len = final_name.len();
        return Err(Error::NameTooLong {
            path: final_path,
            len,
        });
    }
    let final_c = c_path(Path::new(final_name), "write", &final_path)?;
    Ok((final_c, final_path))
}

/// The temporary name for `final_name` written by `owner`, with `random`
/// as its random part.
pub fn temp_name(final_name: &OsStr, owner: u32, random: u64) -> OsString {
    let mut name = b".".to_vec();
    name.extend_from_slice(final_part(final_name));
    name.extend_from_slice(format!(".{owner}-{random:016x}.part").as_bytes());
    OsString::from_vec(name)
}

/// The part of `final_name` kept in its temporaries' names: all of it, or
/// its first [`FINAL_PART_MAX`] bytes cut on a character boundary (if the
/// name is UTF-8; a name that is not is cut anywhere).
pub fn final_part(final_name: &OsStr) -> &[u8] {
    let bytes = final_name.as_bytes();
    if bytes.len() <= FINAL_PART_MAX {
        return bytes;
    }
    let mut cut = FINAL_PART_MAX;
    // UTF-8 continuation bytes are 0b10xx_xxxx: back up to a first byte.
    while cut > 0 && bytes[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    &bytes[..cut]
}

/// A name of the temporaries' pattern, taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TempName<'a> {
    /// The final name, as [`final_part`] kept it.
    pub final_part: &'a [u8],
    /// Who wrote it.
    pub owner: u32,
}

/// Whether `name` is a temporary's name (`.<part>.<owner>-<16 hex>.part`),
/// and whose.
pub fn parse(name: &OsStr) -> Option<TempName<'_>> {
    let middle = name.as_bytes().strip_prefix(b".")?.strip_suffix(b".part")?;
    let dot = middle.iter().rposition(|&b| b == b'.')?;
    let (final_part, tail) = (&middle[..dot], &middle[dot + 1..]);
    let dash = tail.iter().position(|&b| b == b'-')?;
    let (owner, random) = (&tail[..dash], &tail[dash + 1..]);
    let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    let digits = !owner.is_empty() && owner.iter().all(u8::is_ascii_digit);
    if final_part.is_empty() || !digits || random.len() != 16 || !random.iter().all(hex) {
        return None;
    }
    let owner = std::str::from_utf8(owner).ok()?.parse().ok()?;
    Some(TempName { final_part, owner })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::{Read, Seek};
    use std::os::unix::fs::symlink;

    fn folder(dir: &tempfile::TempDir) -> Arc<Folder> {
        Arc::new(Folder::open(dir.path()).unwrap())
    }

    /// The names in `dir`, sorted, as [`Folder::entries`] lists them.
    fn names(dir: &Path) -> Vec<String> {
        let folder = Folder::open(dir).unwrap();
        let entries = folder.entries().unwrap().into_iter();
        let mut names: Vec<String> = entries.map(|(n, _)| n.into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn writes_under_a_random_name_then_renames() {
        let dir = tempfile::tempdir().unwrap();
        let temp = TempFile::create(folder(&dir), "f.txt".as_ref(), 3).unwrap();
        let temp_path = temp.path();
        let name = temp_path.file_name().unwrap();
        let parsed = parse(name).unwrap();
        assert_eq!((parsed.final_part, parsed.owner), (&b"f.txt"[..], 3));
        assert!(name.to_str().unwrap().starts_with(".f.txt.3-"), "{name:?}");
        temp.file().write_all(b"hello").unwrap();
        assert!(!dir.path().join("f.txt").exists());
        temp.commit().unwrap();
        temp.commit().unwrap();
        assert_eq!(names(dir.path()), ["f.txt"]);
        // The descriptor is now the final file's.
        let mut back = String::new();
        let mut file = temp.file();
        file.rewind().unwrap();
        file.read_to_string(&mut back).unwrap();
        assert_eq!(back, "hello");
        drop(temp);
        assert_eq!(fs::read(dir.path().join("f.txt")).unwrap(), b"hello");
    }

    #[test]
    fn whole_files_in_one_call() {
        let dir = tempfile::tempdir().unwrap();
        let temp = TempFile::create(folder(&dir), "w".as_ref(), 0).unwrap();
        temp.write_and_commit(b"all of it").unwrap();
        assert_eq!(fs::read(dir.path().join("w")).unwrap(), b"all of it");
        assert_eq!(names(dir.path()), ["w"]);
    }

    #[test]
    fn two_temporaries_of_one_name_and_owner_differ_and_drop_removes() {
        let dir = tempfile::tempdir().unwrap();
        let a = TempFile::create(folder(&dir), "f".as_ref(), 1).unwrap();
        let b = TempFile::create(folder(&dir), "f".as_ref(), 1).unwrap();
        assert_ne!(a.path(), b.path());
        assert_eq!(names(dir.path()).len(), 2);
        drop(a);
        b.discard();
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn an_existing_name_is_never_opened_the_next_is_tried() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        // Links planted at the names randoms 7 and 8 give.
        for random in [7, 8] {
            symlink(&victim, dir.path().join(temp_name("f".as_ref(), 1, random))).unwrap();
        }
        let mut randoms = [7, 8, 7, 9].into_iter();
        let mut next = || randoms.next().unwrap();
        let temp = TempFile::create_with(folder(&dir), "f".as_ref(), 1, &mut next).unwrap();
        assert_eq!(temp.path(), dir.path().join(temp_name("f".as_ref(), 1, 9)));
        temp.file().write_all(b"new").unwrap();
        temp.commit().unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"new");
        // When every name is taken, it gives up rather than reuse one.
        let err = TempFile::create_with(folder(&dir), "f".as_ref(), 1, &mut || 7).unwrap_err();
        assert!(err.to_string().contains("were all taken"), "{err}");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_link_at_the_final_name_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = tempfile::tempdir().unwrap();
        let target = victim.path().join("passwd");
        fs::write(&target, b"root:x:0:0").unwrap();
        symlink(&target, dir.path().join("out")).unwrap();
        let temp = TempFile::create(folder(&dir), "out".as_ref(), 2).unwrap();
        temp.file().write_all(b"mine").unwrap();
        temp.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"root:x:0:0");
        let meta = fs::symlink_metadata(dir.path().join("out")).unwrap();
        assert!(meta.is_file(), "the link itself was replaced");
        assert_eq!(fs::read(dir.path().join("out")).unwrap(), b"mine");
    }

    #[test]
    fn a_folder_at_the_final_name_is_an_error_and_the_temporary_goes() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("out")).unwrap();
        let temp = TempFile::create(folder(&dir), "out".as_ref(), 2).unwrap();
        let err = temp.commit().unwrap_err();
        assert!(matches!(err, Error::IsAFolder { .. }), "{err}");
        assert!(err
            .to_string()
            .ends_with("out is a folder, where a file was expected"));
        drop(temp);
        assert_eq!(names(dir.path()), ["out"]);
    }

    #[test]
    fn a_replaced_temporary_is_not_committed() {
        let dir = tempfile::tempdir().unwrap();
        let temp = TempFile::create(folder(&dir), "f".as_ref(), 2).unwrap();
        fs::remove_file(temp.path()).unwrap();
        fs::write(temp.path(), b"someone else's").unwrap();
        let err = temp.commit().unwrap_err();
        assert!(matches!(err, Error::Replaced { .. }), "{err}");
        drop(temp);
        assert!(!dir.path().join("f").exists());
        assert_eq!(names(dir.path()).len(), 1, "their file is left alone");
    }

    #[test]
    fn names_of_255_bytes_work_and_longer_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        // 'é' is two bytes: 127 of them and one 'x' make 255 bytes, and the
        // cut at FINAL_PART_MAX falls inside one of them.
        let long = format!("{}x", "é".repeat(127));
        assert_eq!(long.len(), NAME_MAX);
        let temp = TempFile::create(folder(&dir), long.as_ref(), u32::MAX).unwrap();
        let temp_name = temp.path().file_name().unwrap().to_owned();
        assert!(temp_name.len() <= NAME_MAX, "{}", temp_name.len());
        let part = parse(&temp_name).unwrap().final_part;
        assert!(std::str::from_utf8(part).is_ok(), "cut on a char boundary");
        assert!(part.len() <= FINAL_PART_MAX && part.len() >= FINAL_PART_MAX - 1);
        temp.commit().unwrap();
        assert!(dir.path().join(&long).is_file());
        let longer = "y".repeat(NAME_MAX + 1);
        let err = TempFile::create(folder(&dir), longer.as_ref(), 1).unwrap_err();
        assert!(matches!(err, Error::NameTooLong { len: 256, .. }), "{err}");
    }

    #[test]
    fn below_a_folder_its_folders_are_made_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), dir.path().join("link")).unwrap();
        let temp = TempFile::create_below(&folder(&dir), "a/b/f".as_ref(), 1).unwrap();
        temp.write_and_commit(b"x").unwrap();
        assert_eq!(fs::read(dir.path().join("a/b/f")).unwrap(), b"x");
        let err = TempFile::create_below(&folder(&dir), "link/f".as_ref(), 1).unwrap_err();
        assert!(matches!(err, Error::Link { .. }), "{err}");
        for bad in ["a/..", "../f", ""] {
            let err = TempFile::create_below(&folder(&dir), bad.as_ref(), 1).unwrap_err();
            assert!(matches!(err, Error::Outside { .. }), "{bad}: {err}");
        }
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn only_plain_names_are_final_names() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", ".", "..", "a/b", "../x"] {
            let err = TempFile::create(folder(&dir), bad.as_ref(), 1).unwrap_err();
            assert!(matches!(err, Error::Outside { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn beside_a_user_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let temp = TempFile::beside(&path, 0).unwrap();
        assert_eq!(temp.final_path(), path);
        temp.commit().unwrap();
        assert!(path.is_file());
        let err = TempFile::beside(&dir.path().join("missing/r.json"), 0).unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(TempFile::beside(Path::new("/"), 0).is_err());
    }

    #[test]
    fn the_pattern_is_parsed_strictly() {
        let name = temp_name("a.b".as_ref(), 12, 0xabc);
        assert_eq!(name, ".a.b.12-0000000000000abc.part");
        let parsed = parse(&name).unwrap();
        assert_eq!((parsed.final_part, parsed.owner), (&b"a.b"[..], 12));
        for not_ours in [
            ".a.part-123",
            ".a.12-0000000000000abc",
            "a.12-0000000000000abc.part",
            "..12-0000000000000abc.part",
            ".a.x-0000000000000abc.part",
            ".a.12-000000000000abc.part",
            ".a.12-0000000000000ABC.part",
            ".a.-0000000000000abc.part",
        ] {
            assert_eq!(parse(not_ours.as_ref()), None, "{not_ours}");
        }
    }
}
