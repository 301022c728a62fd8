//! What a peer holds: for each file it knows, the segment hashes and which
//! segments it has. The download side writes it, the upload side reads it
//! to answer ACK or NACK; on a real peer they are two threads, so the
//! per-segment bits are atomics and the file table sits behind a lock that
//! is only written when a file is first added.

use crate::{FileId, SegmentIdx};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// One file on one peer: its hashes and which segments are held.
#[derive(Debug)]
pub struct HeldFile {
    pub id: FileId,
    pub name: String,
    pub hashes: Vec<String>,
    bits: Vec<AtomicU64>,
    held: AtomicU32,
}

impl HeldFile {
    fn new(id: FileId, name: String, hashes: Vec<String>, complete: bool) -> Self {
        let words = hashes.len().div_ceil(64);
        let bits = (0..words).map(|_| AtomicU64::new(0)).collect();
        let file = HeldFile {
            id,
            name,
            hashes,
            bits,
            held: AtomicU32::new(0),
        };
        if complete {
            for index in 0..file.segment_count() {
                file.insert(index);
            }
        }
        file
    }

    /// How many segments the file has.
    pub fn segment_count(&self) -> u32 {
        self.hashes.len() as u32
    }

    /// How many segments this peer holds.
    pub fn held_count(&self) -> u32 {
        self.held.load(Ordering::Acquire)
    }

    /// True once every segment is held.
    pub fn is_complete(&self) -> bool {
        self.held_count() == self.segment_count()
    }

    /// Whether segment `index` is held (false for an index past the end).
    pub fn has(&self, index: SegmentIdx) -> bool {
        if index >= self.segment_count() {
            return false;
        }
        let (word, bit) = (index as usize / 64, index % 64);
        self.bits
            .get(word)
            .is_some_and(|w| w.load(Ordering::Acquire) & (1 << bit) != 0)
    }

    /// Marks segment `index` held; returns false if it already was (or is
    /// past the end).
    pub fn insert(&self, index: SegmentIdx) -> bool {
        if index >= self.segment_count() {
            return false;
        }
        let (word, bit) = (index as usize / 64, index % 64);
        let Some(w) = self.bits.get(word) else {
            return false;
        };
        let newly = w.fetch_or(1 << bit, Ordering::AcqRel) & (1 << bit) == 0;
        if newly {
            self.held.fetch_add(1, Ordering::AcqRel);
        }
        newly
    }
}

/// Two entries are the same file when they have the same id.
impl PartialEq for HeldFile {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for HeldFile {}

/// Every file a peer knows, by id. Shared by its download and upload sides.
#[derive(Debug, Default)]
pub struct Holdings {
    files: RwLock<HashMap<FileId, Arc<HeldFile>>>,
}

impl Holdings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file this peer holds in full (owned from the start).
    pub fn add_complete(&self, id: FileId, name: String, hashes: Vec<String>) -> Arc<HeldFile> {
        self.add(HeldFile::new(id, name, hashes, true))
    }

    /// Adds a file this peer is about to download (nothing held yet), or
    /// returns the entry already there.
    pub fn add_empty(&self, id: FileId, name: String, hashes: Vec<String>) -> Arc<HeldFile> {
        if let Some(file) = self.get(id) {
            return file;
        }
        self.add(HeldFile::new(id, name, hashes, false))
    }

    fn add(&self, file: HeldFile) -> Arc<HeldFile> {
        let file = Arc::new(file);
        self.write().insert(file.id, Arc::clone(&file));
        file
    }

    /// Forgets file `id`: the peer left its swarm and its segments went with
    /// it, so the upload side answers NACK for them from now on.
    pub fn remove(&self, id: FileId) -> Option<Arc<HeldFile>> {
        self.write().remove(&id)
    }

    /// The file with this id, if the peer knows it.
    pub fn get(&self, id: FileId) -> Option<Arc<HeldFile>> {
        self.read().get(&id).cloned()
    }

    /// The file with this name, if the peer knows it.
    pub fn find_by_name(&self, name: &str) -> Option<Arc<HeldFile>> {
        self.read().values().find(|f| f.name == name).cloned()
    }

    /// Whether the peer holds segment `index` of file `id` (the upload
    /// side's ACK/NACK question).
    pub fn has(&self, id: FileId, index: SegmentIdx) -> bool {
        self.read().get(&id).is_some_and(|f| f.has(index))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<FileId, Arc<HeldFile>>> {
        // A poisoned lock means another thread panicked mid-insert of an
        // Arc; the map itself is still consistent, so keep going.
        self.files.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<FileId, Arc<HeldFile>>> {
        self.files.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("h{i}")).collect()
    }

    #[test]
    fn complete_files_hold_everything() {
        let holdings = Holdings::new();
        let file = holdings.add_complete(FileId(1), "f".into(), hashes(130));
        assert!(file.is_complete());
        assert!(holdings.has(FileId(1), 129));
        assert!(!holdings.has(FileId(1), 130));
        assert!(!holdings.has(FileId(2), 0));
    }

    #[test]
    fn inserting_counts_each_segment_once() {
        let holdings = Holdings::new();
        let file = holdings.add_empty(FileId(0), "g".into(), hashes(3));
        assert!(file.insert(2));
        assert!(!file.insert(2));
        assert!(!file.insert(3));
        assert_eq!(file.held_count(), 1);
        assert!(holdings.has(FileId(0), 2));
        assert!(!holdings.has(FileId(0), 1));
        file.insert(0);
        file.insert(1);
        assert!(file.is_complete());
        assert_eq!(holdings.find_by_name("g").unwrap().id, FileId(0));
        assert!(holdings.remove(FileId(0)).is_some());
        assert!(!holdings.has(FileId(0), 2), "gone with the file");
    }

    #[test]
    fn empty_files_are_complete() {
        let holdings = Holdings::new();
        assert!(holdings
            .add_empty(FileId(0), "e".into(), vec![])
            .is_complete());
    }
}
