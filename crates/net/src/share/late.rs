//! A seeder's files registered with their sizes alone (`share` starts at
//! once): [`LateFiles`] hashes them after the registration, on every core,
//! in the order registered, and hands the hashes on in batches as they are
//! ready (the peer's hash thread sends each to the tracker as HASHES).
//!
//! Batches start small and grow: the first of each file holds one read
//! batch (at most [`MOST_PER_BATCH`] segments, or 8 MiB), so that its
//! first segments can move within moments of the start; each next one
//! twice as many segments, up to [`MOST_PER_BATCH`] segments or
//! [`MOST_BYTES_PER_BATCH`], so that the tracker sees few messages (16
//! for 1 GiB at 1 MiB segments).
//!
//! A file some peer compares with a copy at its destination (a rerun) is
//! hashed before the registration instead ([`LateFiles::hash_or_defer`]):
//! the tracker matches such copies against the source's hashes when every
//! rank has registered.
//!
//! The source is read once to hash it; serving reads each segment again,
//! usually soon after, from the page cache. A file that shrank since the
//! scan is an error; one that grew is hashed to its registered size.

use super::scan::{hash_batches, hash_open, ScannedFile};
use mpitorrent_core::content::segment_count;
use mpitorrent_core::escape::shown_path;
use mpitorrent_core::{Rank, SegmentIdx, HASH_TO_COME};
use mpitorrent_fs::{Error, Folder};
use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

/// The most segments one HASHES message carries.
pub const MOST_PER_BATCH: usize = 64;

/// The most bytes of source one HASHES message covers.
pub const MOST_BYTES_PER_BATCH: u64 = 64 << 20;

/// The files a seeder hashes after registering them.
#[derive(Debug)]
pub struct LateFiles {
    pub root: Arc<Folder>,
    pub rank: Rank,
    pub segment_size: u64,
    /// Each file's swarm name (its path below `root`) and registered size,
    /// in the order registered.
    pub files: Vec<(String, u64)>,
}

impl LateFiles {
    /// Hashes every file, handing each batch to `publish`; the first error
    /// (of reading, or of `publish`) stops it.
    pub fn hash(&self, publish: &mut crate::content::Publish<'_>) -> Result<(), String> {
        let rank = self.rank;
        let segment = self.segment_size.max(1);
        let most = (MOST_BYTES_PER_BATCH / segment).clamp(1, MOST_PER_BATCH as u64) as usize;
        for (name, size) in &self.files {
            let path = self.root.path().join(name);
            let cannot = |e: &dyn std::fmt::Display| {
                format!("rank {rank}: cannot read {}: {e}", shown_path(&path))
            };
            let file = self
                .root
                .open_file(Path::new(name))
                .map_err(|e| cannot(&e))?;
            let (mut pending, mut first, mut target) = (Vec::new(), 0 as SegmentIdx, 1);
            let mut failed = None;
            let mut send = |hashes: Vec<String>, first: &mut SegmentIdx| {
                let count = hashes.len() as SegmentIdx;
                let sent = publish(name, *first, hashes);
                *first += count;
                sent
            };
            let hashed = hash_batches(file.take(*size), segment, most, &mut |hashes| {
                pending.extend(hashes);
                if pending.len() < target {
                    return Ok(());
                }
                target = (target * 2).min(most);
                send(std::mem::take(&mut pending), &mut first).map_err(|e| {
                    failed = Some(e);
                    io::Error::other("stopped")
                })
            });
            if let Some(reason) = failed {
                return Err(reason);
            }
            let read = hashed.map_err(|e| cannot(&e))?;
            if read != *size {
                return Err(changed(rank, &path, read, *size));
            }
            if !pending.is_empty() {
                send(pending, &mut first)?;
            }
        }
        Ok(())
    }

    /// What a seeder registers for `file` of its source (under `folder`),
    /// which no manifest hashed: its hashes now, if some peer compares a
    /// copy with it (`compared`: the tracker matches copies at
    /// registration); otherwise every hash is to come, and the file is
    /// added to these, to be hashed while the swarm runs.
    pub fn hash_or_defer(
        &mut self,
        file: &mut ScannedFile,
        folder: &Folder,
        compared: &BTreeSet<&str>,
    ) -> Result<(), String> {
        let (size, segment_size, rank) = (file.meta.size, self.segment_size, self.rank);
        if !compared.contains(file.name.as_str()) {
            let segments = segment_count(size, segment_size) as usize;
            file.hashes = vec![HASH_TO_COME.to_string(); segments];
            self.files.push((file.name.clone(), size));
            return Ok(());
        }
        let path = folder.path().join(&file.name);
        let opened = folder
            .open_file(Path::new(&file.name))
            .map_err(|e| format!("rank {rank}: {e}"))?;
        let read = |e| format!("rank {rank}: {}", Error::io("read", &path, e));
        let (hashed, hashes) = hash_open(opened.take(size), segment_size).map_err(read)?;
        if hashed != size {
            return Err(changed(rank, &path, hashed, size));
        }
        file.hashes = hashes;
        Ok(())
    }
}

/// The message for a file of the source that has fewer bytes than it was
/// listed with.
fn changed(rank: Rank, path: &Path, read: u64, size: u64) -> String {
    format!(
        "rank {rank}: {} changed while it was shared: {read} bytes where {size} were listed",
        shown_path(path)
    )
}
