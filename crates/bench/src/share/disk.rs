//! The disk side of the real-data scenarios: free space (asked of `df`),
//! flushing dirty pages (`sync`) so that one job's writes are not paid for
//! by the next, and writing a file of pseudo-random bytes a block at a time.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Bytes per write when generating a file.
const BLOCK: usize = 4 << 20;

/// Bytes free for an unprivileged user on the file system of `path`.
pub fn free_bytes(path: &Path) -> Result<u64> {
    let output = Command::new("df")
        .arg("-Pk")
        .arg(path)
        .output()
        .context("cannot run df")?;
    if !output.status.success() {
        bail!("df -Pk {} failed", path.display());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    // POSIX format: a title line, then "fs 1024-blocks used available ...".
    let available = text
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|kib| kib.parse::<u64>().ok())
        .with_context(|| format!("cannot read df's output: {text}"))?;
    Ok(available * 1024)
}

/// Writes every dirty page to disk (the `sync` command).
pub fn sync() -> Result<()> {
    let status = Command::new("sync").status().context("cannot run sync")?;
    if !status.success() {
        bail!("sync failed");
    }
    Ok(())
}

/// Writes `size` pseudo-random bytes (SplitMix64 from `seed`) to `path`.
pub fn write_random(path: &Path, size: u64, seed: u64) -> Result<()> {
    let mut file =
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut state = seed;
    let mut block = vec![0u8; BLOCK];
    let mut left = size;
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        for word in block[..n].chunks_mut(8) {
            let bytes = splitmix64(&mut state).to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        file.write_all(&block[..n])
            .with_context(|| format!("cannot write {}", path.display()))?;
        left -= n as u64;
    }
    Ok(())
}

/// The next number of a SplitMix64 sequence: fast, and no two 8-byte
/// words of a file repeat in any way a segment hash could notice.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_files_have_their_size_and_differ_by_seed() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write_random(&a, BLOCK as u64 + 13, 1).unwrap();
        write_random(&b, BLOCK as u64 + 13, 2).unwrap();
        let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        assert_eq!(a.len(), BLOCK + 13);
        assert_ne!(a, b);
        assert_ne!(a[..BLOCK / 2], a[BLOCK / 2..BLOCK]);
    }

    #[test]
    fn df_reports_some_free_space() {
        assert!(free_bytes(Path::new(".")).unwrap() > 0);
    }
}
