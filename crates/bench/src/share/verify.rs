//! Checking a destination tree: every file a rank must have is there with
//! exactly its source's bytes, and nothing else is (no leftover `.part`
//! file, no stray output). Files are compared a block at a time, never
//! loaded whole.

use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes read from each file at a time.
const BLOCK: usize = 4 << 20;

/// One output a correct run writes.
#[derive(Clone, Debug)]
pub struct Expected {
    /// Under the rank's destination folder.
    pub relative: PathBuf,
    /// The file it must equal.
    pub source: PathBuf,
}

/// Checks `folder` (which may not exist if nothing is expected in it)
/// against `expected`. Returns one line per problem; empty means correct.
pub fn check_folder(folder: &Path, expected: &[Expected]) -> Result<Vec<String>> {
    let mut present = files_under(folder)?;
    let mut problems = Vec::new();
    for want in expected {
        let path = folder.join(&want.relative);
        if !present.remove(&want.relative) {
            problems.push(format!("{}: missing", path.display()));
        } else if let Some(difference) = difference(&path, &want.source)? {
            problems.push(format!("{}: {difference}", path.display()));
        }
    }
    problems.extend(
        present
            .into_iter()
            .map(|name| format!("{}: unexpected", folder.join(name).display())),
    );
    Ok(problems)
}

/// Every file under `folder`, as paths relative to it (none if `folder`
/// does not exist); anything that is not a regular file or a folder
/// counts as a file, so that it is reported.
pub fn files_under(folder: &Path) -> Result<BTreeSet<PathBuf>> {
    let mut files = BTreeSet::new();
    if !folder.exists() {
        return Ok(files);
    }
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = folder.join(&relative);
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                files.insert(path);
            }
        }
    }
    Ok(files)
}

/// How `got` differs from `want`, or `None` if their bytes are the same.
pub fn difference(got: &Path, want: &Path) -> Result<Option<String>> {
    let open =
        |path: &Path| File::open(path).with_context(|| format!("cannot open {}", path.display()));
    let (mut a, mut b) = (open(got)?, open(want)?);
    let (size_a, size_b) = (a.metadata()?.len(), b.metadata()?.len());
    if size_a != size_b {
        return Ok(Some(format!("{size_a} bytes, expected {size_b}")));
    }
    let (mut block_a, mut block_b) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
    let mut offset = 0u64;
    while offset < size_a {
        let n = (size_a - offset).min(BLOCK as u64) as usize;
        a.read_exact(&mut block_a[..n])?;
        b.read_exact(&mut block_b[..n])?;
        if block_a[..n] != block_b[..n] {
            let at = (0..n).find(|&i| block_a[i] != block_b[i]).unwrap_or(0);
            return Ok(Some(format!("differs at byte {}", offset + at as u64)));
        }
        offset += n as u64;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn finds_missing_wrong_and_unexpected_files() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        let big: Vec<u8> = (0..BLOCK + 100).map(|i| (i % 251) as u8).collect();
        fs::write(&source, &big).unwrap();
        let out = dir.path().join("out");
        let expected = |name: &str| Expected {
            relative: PathBuf::from(name),
            source: source.clone(),
        };
        let want = [expected("a.bin"), expected("sub/b.bin")];
        assert_eq!(check_folder(&out, &[]).unwrap(), Vec::<String>::new());
        assert_eq!(check_folder(&out, &want).unwrap().len(), 2);

        fs::create_dir_all(out.join("sub")).unwrap();
        fs::write(out.join("a.bin"), &big).unwrap();
        fs::write(out.join("sub/b.bin"), &big).unwrap();
        assert!(check_folder(&out, &want).unwrap().is_empty());

        let mut wrong = big.clone();
        wrong[BLOCK + 7] ^= 1;
        fs::write(out.join("sub/b.bin"), &wrong).unwrap();
        fs::write(out.join(".a.bin.part-1"), b"").unwrap();
        let problems = check_folder(&out, &want).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].ends_with(&format!("differs at byte {}", BLOCK + 7)));
        assert!(problems[1].contains(".a.bin.part-1: unexpected"));

        fs::write(out.join("a.bin"), &big[1..]).unwrap();
        let problems = check_folder(&out, &want[..1]).unwrap();
        assert!(problems[0].contains("bytes, expected"), "{problems:?}");
    }
}
