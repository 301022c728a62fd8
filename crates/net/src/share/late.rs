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
//! usually soon after, from the page cache. A seeder given a stripe of a
//! file (several seeders read one source: `tree::stripes`) reads, hashes
//! and publishes that stripe only, from its start. A file that shrank
//! since the scan is an error; one that grew is hashed to its registered
//! size.

use super::scan::{hash_batches, hash_open, ScannedFile};
use mpitorrent_core::content::segment_count;
use mpitorrent_core::escape::shown_path;
use mpitorrent_core::tree::TreePlan;
use mpitorrent_core::{Rank, SegmentIdx, Stripe, HASH_TO_COME};
use mpitorrent_fs::{Error, Folder};
use std::collections::BTreeSet;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// In the order registered.
    pub files: Vec<LateFile>,
    /// Bytes of the source read to hash it, before the registration
    /// (files compared with copies, packs) and since: the report's
    /// `source_bytes_read`.
    pub read: Arc<AtomicU64>,
}

/// One file a seeder hashes after registering it.
#[derive(Debug)]
pub struct LateFile {
    /// Its swarm name (its path below the root).
    pub name: String,
    /// Its registered size.
    pub size: u64,
    /// The segments this seeder reads: the whole file, or its stripe of a
    /// file several seeders read (`tree::stripes`).
    pub part: Range<SegmentIdx>,
}

impl LateFiles {
    /// None yet, for `rank` hashing files below `root`.
    pub fn new(root: Arc<Folder>, rank: Rank, segment_size: u64) -> Self {
        LateFiles {
            root,
            rank,
            segment_size,
            files: Vec::new(),
            read: Arc::default(),
        }
    }

    /// Hashes every file, handing each batch to `publish`; the first error
    /// (of reading, or of `publish`) stops it.
    pub fn hash(&self, publish: &mut crate::content::Publish<'_>) -> Result<(), String> {
        let rank = self.rank;
        let segment = self.segment_size.max(1);
        let most = (MOST_BYTES_PER_BATCH / segment).clamp(1, MOST_PER_BATCH as u64) as usize;
        for LateFile { name, size, part } in &self.files {
            let path = self.root.path().join(name);
            let cannot = |e: &dyn std::fmt::Display| {
                format!("rank {rank}: cannot read {}: {e}", shown_path(&path))
            };
            let mut file = self
                .root
                .open_file(Path::new(name))
                .map_err(|e| cannot(&e))?;
            // Its part's bytes, read in order from the part's start.
            let start = (u64::from(part.start) * segment).min(*size);
            let end = (u64::from(part.end) * segment).min(*size);
            file.seek(SeekFrom::Start(start)).map_err(|e| cannot(&e))?;
            let (mut pending, mut first, mut target) = (Vec::new(), part.start, 1);
            let mut failed = None;
            let mut send = |hashes: Vec<String>, first: &mut SegmentIdx| {
                let count = hashes.len() as SegmentIdx;
                let sent = publish(name, *first, hashes);
                *first += count;
                sent
            };
            let mut counted = start;
            let hashed = hash_batches(file.take(end - start), segment, most, &mut |hashes| {
                let upto = (counted + hashes.len() as u64 * segment).min(end);
                self.read.fetch_add(upto - counted, Ordering::Relaxed);
                counted = upto;
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
            if read != end - start {
                return Err(changed(rank, &path, start + read, *size));
            }
            if !pending.is_empty() {
                send(pending, &mut first)?;
            }
        }
        Ok(())
    }

    /// What a seeder registers for its `files` of at least a segment that
    /// no manifest hashed (below `folder`): each one's hashes now, or to
    /// come ([`Self::hash_or_defer`]), of its stripe if the `plan` gave
    /// this seeder one; a file of which the plan gave it no segment is
    /// dropped (the other seeders register it), and so is a file nobody
    /// fetches (`plan.unwanted`). The stripes to register
    /// come back.
    pub fn hash_or_defer_all(
        &mut self,
        files: &mut Vec<ScannedFile>,
        folder: &Folder,
        plan: &TreePlan,
    ) -> Result<Vec<Stripe>, String> {
        let compared: BTreeSet<&str> = plan.compared.iter().map(String::as_str).collect();
        let stripe_of = |name: &str| plan.stripes.iter().find(|s| s.name == name);
        let unwanted: BTreeSet<&str> = plan.unwanted.iter().map(String::as_str).collect();
        // Nobody fetches it (every other peer has it unchanged): nothing
        // to register, nothing to read.
        files.retain(|f| !unwanted.contains(f.name.as_str()));
        files
            .retain(|f| !f.hashes.is_empty() || stripe_of(&f.name).is_none_or(|s| s.first < s.end));
        let mut stripes = Vec::new();
        for file in files.iter_mut().filter(|file| file.hashes.is_empty()) {
            let stripe = stripe_of(&file.name).filter(|_| !compared.contains(file.name.as_str()));
            self.hash_or_defer(file, folder, &compared, stripe.map(Stripe::segments))?;
            stripes.extend(stripe.cloned());
        }
        Ok(stripes)
    }

    /// What a seeder registers for `file` of its source (under `folder`),
    /// which no manifest hashed: its hashes now, if some peer compares a
    /// copy with it (`compared`: the tracker matches copies at
    /// registration); otherwise every hash is to come, and the file is
    /// added to these, to be hashed while the swarm runs (its `stripe`
    /// only, if the plan gave this seeder one).
    pub fn hash_or_defer(
        &mut self,
        file: &mut ScannedFile,
        folder: &Folder,
        compared: &BTreeSet<&str>,
        stripe: Option<Range<SegmentIdx>>,
    ) -> Result<(), String> {
        let (size, segment_size, rank) = (file.meta.size, self.segment_size, self.rank);
        if !compared.contains(file.name.as_str()) {
            let segments = segment_count(size, segment_size) as usize;
            file.hashes = vec![HASH_TO_COME.to_string(); segments];
            self.files.push(LateFile {
                name: file.name.clone(),
                size,
                part: stripe.unwrap_or(0..segments as SegmentIdx),
            });
            return Ok(());
        }
        let path = folder.path().join(&file.name);
        let opened = folder
            .open_file(Path::new(&file.name))
            .map_err(|e| format!("rank {rank}: {e}"))?;
        let read = |e| format!("rank {rank}: {}", Error::io("read", &path, e));
        let (hashed, hashes) = hash_open(opened.take(size), segment_size).map_err(read)?;
        self.read.fetch_add(hashed, Ordering::Relaxed);
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
