//! Finding the files under a folder and listing each as a classic file:
//! its relative path (with `/` separators) and the BLAKE3 hash of every
//! segment, read one segment at a time.

use mpitorrent_core::content::{hash_segment, relative_path_problem};
use mpitorrent_core::escape::shown_path;
use mpitorrent_fs::bounded::{open_regular, ReadError};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A regular file found under a shared folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedFile {
    /// The path relative to the folder, `/`-separated: the file's name in
    /// the swarm.
    pub name: String,
    /// Where it is on this rank.
    pub path: PathBuf,
    pub size: u64,
    pub hashes: Vec<String>,
}

/// Hashes a regular file segment by segment: its size and the segment
/// hashes. Anything else (a device, a FIFO) is refused: it may never end.
pub fn hash_file(path: &Path, segment_size: u64) -> Result<(u64, Vec<String>), ReadError> {
    let mut file = open_regular(path)?;
    let mut buffer = vec![0; segment_size as usize];
    let mut hashes = Vec::new();
    let mut size = 0;
    loop {
        let filled = read_full(&mut file, &mut buffer).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if filled == 0 {
            break;
        }
        size += filled as u64;
        hashes.push(hash_segment(&buffer[..filled]));
        if filled < buffer.len() {
            break;
        }
    }
    Ok((size, hashes))
}

/// Reads until `buffer` is full or the file ends; returns the bytes read.
fn read_full(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Every regular file under `root` (sub-folders included), sorted by name
/// and hashed. Symbolic links and special files are skipped, each with a
/// line given to `warn`; so are names that could not be used safely on
/// another rank (see [`relative_path_problem`]).
pub fn scan_folder(
    root: &Path,
    segment_size: u64,
    warn: &mut dyn FnMut(String),
) -> io::Result<Vec<ScannedFile>> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(path);
                continue;
            }
            let shown = shown_path(&path);
            if !kind.is_file() {
                warn(format!("skipping {shown}: not a regular file"));
                continue;
            }
            let Some(name) = relative_name(root, &path) else {
                warn(format!("skipping {shown}: its name is not UTF-8"));
                continue;
            };
            if let Some(problem) = relative_path_problem(&name) {
                warn(format!("skipping {shown}: {problem}"));
                continue;
            }
            let (size, hashes) = match hash_file(&path, segment_size) {
                Ok(hashed) => hashed,
                // Replaced by a FIFO or a device since it was listed.
                Err(ReadError::NotRegular { .. }) => {
                    warn(format!("skipping {shown}: not a regular file"));
                    continue;
                }
                Err(e) => return Err(io::Error::other(e)),
            };
            files.push(ScannedFile {
                name,
                path,
                size,
                hashes,
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// `path` relative to `root`, with `/` separators.
fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    Some(parts?.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::content::segment_count;

    #[test]
    fn hashes_segment_by_segment_with_a_short_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"0123456789").unwrap();
        let (size, hashes) = hash_file(&path, 4).unwrap();
        assert_eq!(size, 10);
        assert_eq!(hashes.len() as u64, segment_count(10, 4));
        assert_eq!(hashes[2], hash_segment(b"89"));
        fs::write(&path, b"").unwrap();
        assert_eq!(hash_file(&path, 4).unwrap(), (0, vec![]));
    }

    #[test]
    fn scans_sub_folders_and_skips_links() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
        fs::write(dir.path().join("a.bin"), b"a").unwrap();
        fs::write(dir.path().join("sub/deeper/b.bin"), b"bb").unwrap();
        std::os::unix::fs::symlink("a.bin", dir.path().join("link")).unwrap();
        let mut warnings = Vec::new();
        let files = scan_folder(dir.path(), 1024, &mut |w| warnings.push(w)).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["a.bin", "sub/deeper/b.bin"]);
        assert_eq!(files[1].size, 2);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("link: not a regular file"),
            "{warnings:?}"
        );
    }
}
