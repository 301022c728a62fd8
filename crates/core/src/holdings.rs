//! What a peer holds: for each file it knows, the segment hashes and which
//! segments it has. The download side writes it, the upload side reads it
//! to answer ACK or NACK; on a real peer they are two threads, so the
//! per-segment bits are atomics and the file table sits behind a lock that
//! is only written when a file is first added (or forgotten).
//!
//! The upload side asks [`Holdings::has`] once per segment request, of a
//! peer it has not seen for a while (in a large swarm the working set is
//! far bigger than the caches, and every memory access on that path is a
//! cache miss waiting on the one before). So the answer takes two reads:
//! the table, whose first entry sits inline beside the lock (a peer knows
//! one file or a few), and the segment bits it points to, shared with the
//! [`HeldFile`]. A hash map of `Arc<HeldFile>`s takes four or five.
//!
//! A process that runs many peers (the simulator, with the `sim-speed`
//! feature) can also have their holdings keep each file's segment hashes
//! once (`SharedHashes`): a million-segment swarm's worth of strings per
//! peer is most of what 10,000 simulated peers would otherwise hold.

#[cfg(feature = "sim-speed")]
use crate::prefetch::{self, Depth};
use crate::{FileId, SegmentIdx};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// One file on one peer: its hashes and which segments are held.
#[derive(Debug)]
pub struct HeldFile {
    pub id: FileId,
    pub name: String,
    /// Shared with other peers' entries of the same file when their
    /// holdings share a `SharedHashes` (the `sim-speed` feature).
    pub hashes: Arc<[String]>,
    bits: SegmentBits,
    held: AtomicU32,
    /// What is held will not grow: a seeder's stripe of a file several
    /// seeders read (`share`), the rest of which it never receives.
    pub fixed: bool,
}

/// Which segments of a file are held, a bit each. Bits past the file's
/// last segment are never set, so they read as not held.
type SegmentBits = Arc<[AtomicU64]>;

/// Lines of segment bits a prefetch loads (all of them for files of up to
/// ~1,500 segments).
#[cfg(feature = "sim-speed")]
const BITS_PREFETCHED: usize = 3;

/// Whether `bits` has segment `index` (false past the end).
fn bit_is_set(bits: &[AtomicU64], index: SegmentIdx) -> bool {
    let (word, bit) = (index as usize / 64, index % 64);
    bits.get(word)
        .is_some_and(|w| w.load(Ordering::Acquire) & (1 << bit) != 0)
}

impl HeldFile {
    fn new(id: FileId, name: String, hashes: Arc<[String]>, complete: bool) -> Self {
        let words = hashes.len().div_ceil(64);
        let bits = (0..words).map(|_| AtomicU64::new(0)).collect();
        let file = HeldFile {
            id,
            name,
            hashes,
            bits,
            held: AtomicU32::new(0),
            fixed: false,
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
        index < self.segment_count() && bit_is_set(&self.bits, index)
    }

    /// Starts loading into the cache (see [`crate::prefetch`]): `Fields`
    /// this entry, `Pointees` its segment bits (up to a few lines of them).
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self, depth: Depth) {
        match depth {
            Depth::Fields => prefetch::lines(self, 2),
            Depth::Pointees => prefetch::lines(&self.bits[..], BITS_PREFETCHED),
            Depth::Beyond => {}
        }
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

/// A file in the table: its id and segment bits beside it, so that
/// [`Holdings::has`] reads neither the [`HeldFile`] nor any other entry.
#[derive(Debug)]
struct Entry {
    id: FileId,
    bits: SegmentBits,
    file: Arc<HeldFile>,
}

impl Entry {
    fn new(file: Arc<HeldFile>) -> Self {
        Entry {
            id: file.id,
            bits: Arc::clone(&file.bits),
            file,
        }
    }
}

/// Every file a peer knows, by id: the lowest id inline, the others in a
/// vector sorted by id. `first` is `None` only when `rest` is empty.
#[derive(Debug, Default)]
struct Entries {
    first: Option<Entry>,
    rest: Vec<Entry>,
}

impl Entries {
    fn get(&self, id: FileId) -> Option<&Entry> {
        match &self.first {
            Some(first) if first.id == id => Some(first),
            _ => {
                let at = self.rest.binary_search_by_key(&id, |e| e.id).ok()?;
                Some(&self.rest[at])
            }
        }
    }

    /// Adds `entry`, replacing any with its id.
    fn insert(&mut self, entry: Entry) {
        let first = match self.first.take() {
            None => entry,
            Some(first) if entry.id <= first.id => {
                if entry.id < first.id {
                    self.rest.insert(0, first);
                }
                entry
            }
            Some(first) => {
                match self.rest.binary_search_by_key(&entry.id, |e| e.id) {
                    Ok(at) => self.rest[at] = entry,
                    Err(at) => self.rest.insert(at, entry),
                }
                first
            }
        };
        self.first = Some(first);
    }

    fn remove(&mut self, id: FileId) -> Option<Entry> {
        if self.first.as_ref().is_some_and(|first| first.id == id) {
            let next = (!self.rest.is_empty()).then(|| self.rest.remove(0));
            return std::mem::replace(&mut self.first, next);
        }
        let at = self.rest.binary_search_by_key(&id, |e| e.id).ok()?;
        Some(self.rest.remove(at))
    }

    fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.first.iter().chain(&self.rest)
    }
}

/// Segment hashes kept once for many [`Holdings`] in one process (the
/// simulator's 10,000 peers of one file would otherwise keep 10,000 copies
/// of the same list: 10^7 strings, most of its memory). A list is shared
/// only with an equal one, so what each peer holds is exactly what it was
/// told either way.
#[cfg(feature = "sim-speed")]
#[derive(Debug, Default)]
pub struct SharedHashes {
    files: Mutex<HashMap<FileId, Arc<[String]>>>,
}

#[cfg(feature = "sim-speed")]
impl SharedHashes {
    /// The shared list of file `id`, if it equals `hashes`; else `hashes`
    /// (kept as the shared one if it is the first list of `id`).
    fn share(&self, id: FileId, hashes: Vec<String>) -> Arc<[String]> {
        use std::collections::hash_map::Entry;
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        match files.entry(id) {
            Entry::Occupied(known) if known.get()[..] == hashes[..] => Arc::clone(known.get()),
            Entry::Occupied(_) => hashes.into(),
            Entry::Vacant(slot) => Arc::clone(slot.insert(hashes.into())),
        }
    }
}

/// Every file a peer knows, by id. Shared by its download and upload sides.
/// (`repr(C)`: the table, which every segment request reads, stays first;
/// see the layout test.)
#[derive(Debug, Default)]
#[repr(C)]
pub struct Holdings {
    files: RwLock<Entries>,
    #[cfg(feature = "sim-speed")]
    shared: Option<Arc<SharedHashes>>,
    /// Files partly at hand before their download (a `share` rerun): the
    /// hash of each segment as found here, by name.
    found: Mutex<HashMap<String, Vec<String>>>,
    /// Files removed ([`Holdings::remove`]): their swarms were left.
    left: Mutex<Vec<FileId>>,
}

impl Holdings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Holdings that keep each file's hashes in `shared`, once for every
    /// holdings sharing it (when the lists are equal).
    #[cfg(feature = "sim-speed")]
    pub fn sharing(shared: Arc<SharedHashes>) -> Self {
        Holdings {
            shared: Some(shared),
            ..Self::default()
        }
    }

    /// Adds a file this peer holds in full (owned from the start).
    pub fn add_complete(&self, id: FileId, name: String, hashes: Vec<String>) -> Arc<HeldFile> {
        let hashes = self.keep(id, hashes);
        self.add(HeldFile::new(id, name, hashes, true))
    }

    /// Adds a file of which this peer holds, and will ever hold, segments
    /// `part` only (a seeder's stripe of a source several seeders read).
    pub fn add_part(
        &self,
        id: FileId,
        name: String,
        hashes: Vec<String>,
        part: std::ops::Range<SegmentIdx>,
    ) -> Arc<HeldFile> {
        let hashes = self.keep(id, hashes);
        let mut file = HeldFile::new(id, name, hashes, false);
        file.fixed = true;
        part.for_each(|index| {
            file.insert(index);
        });
        self.add(file)
    }

    /// Adds a file this peer is about to download, or returns the entry
    /// already there. It holds nothing yet, but the segments of a copy
    /// [`Self::found_partly`] whose hashes are the file's.
    pub fn add_empty(&self, id: FileId, name: String, hashes: Vec<String>) -> Arc<HeldFile> {
        if let Some(file) = self.get(id) {
            return file;
        }
        let found = self
            .found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&name);
        // Of another length, it is another file (as the tracker sees it).
        let found = found.filter(|found| found.len() == hashes.len());
        let hashes = self.keep(id, hashes);
        let file = HeldFile::new(id, name, hashes, false);
        for (index, hash) in found.iter().flatten().enumerate() {
            if file.hashes.get(index) == Some(hash) {
                file.insert(index as SegmentIdx);
            }
        }
        self.add(file)
    }

    /// A copy of file `name` is at hand, its segments hashing to `hashes`:
    /// when the file is added to download, the segments that match its
    /// hashes are held already (and only the others are fetched).
    pub fn found_partly(&self, name: String, hashes: Vec<String>) {
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        found.insert(name, hashes);
    }

    /// The hashes of file `id` as this peer keeps them: shared if they can.
    fn keep(&self, id: FileId, hashes: Vec<String>) -> Arc<[String]> {
        #[cfg(feature = "sim-speed")]
        if let Some(shared) = &self.shared {
            return shared.share(id, hashes);
        }
        let _ = id; // (it only picks a shared list)
        hashes.into()
    }

    /// Adds `file`, replacing any entry with its id.
    fn add(&self, file: HeldFile) -> Arc<HeldFile> {
        let file = Arc::new(file);
        self.write().insert(Entry::new(Arc::clone(&file)));
        file
    }

    /// Forgets file `id`: the peer left its swarm and its segments went with
    /// it, so the upload side answers NACK for them from now on.
    pub fn remove(&self, id: FileId) -> Option<Arc<HeldFile>> {
        let removed = self.write().remove(id).map(|entry| entry.file);
        self.left.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        removed
    }

    /// Whether file `id` was removed: a file this peer does not know is
    /// either one it left or one it has not been told of yet.
    pub fn has_left(&self, id: FileId) -> bool {
        let left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        left.contains(&id)
    }

    /// The file with this id, if the peer knows it.
    pub fn get(&self, id: FileId) -> Option<Arc<HeldFile>> {
        self.read().get(id).map(|entry| Arc::clone(&entry.file))
    }

    /// The file with this name, if the peer knows it.
    pub fn find_by_name(&self, name: &str) -> Option<Arc<HeldFile>> {
        let files = self.read();
        let entry = files.iter().find(|entry| entry.file.name == name)?;
        Some(Arc::clone(&entry.file))
    }

    /// Whether the peer holds segment `index` of file `id` (the upload
    /// side's ACK/NACK question).
    pub fn has(&self, id: FileId, index: SegmentIdx) -> bool {
        self.read()
            .get(id)
            .is_some_and(|entry| bit_is_set(&entry.bits, index))
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) what
    /// [`Holdings::has`] reads: `Fields` the lock and the inline table
    /// entry, `Pointees` the segment bits of that entry (up to a few lines
    /// of them: which segment is asked for is not known yet).
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self, depth: Depth) {
        match depth {
            Depth::Fields => prefetch::lines(self, 2),
            Depth::Pointees => {
                // Uncontended in a driver of many machines in one thread;
                // a prefetch never waits for a lock.
                if let Ok(files) = self.files.try_read() {
                    if let Some(first) = &files.first {
                        prefetch::lines(&first.bits[..], BITS_PREFETCHED);
                    }
                }
            }
            Depth::Beyond => {}
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        // A poisoned lock means another thread panicked mid-insert of an
        // Arc; the table itself is still consistent, so keep going.
        self.files.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
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
    fn a_copy_found_partly_holds_the_segments_that_match() {
        let holdings = Holdings::new();
        let mut found = hashes(4);
        found[1] = "stale".into();
        holdings.found_partly("f".into(), found);
        let file = holdings.add_empty(FileId(0), "f".into(), hashes(4));
        let held: Vec<bool> = (0..4).map(|i| file.has(i)).collect();
        assert_eq!(held, [true, false, true, true]);
        assert_eq!(file.held_count(), 3);
        holdings.found_partly("g".into(), hashes(1));
        let other = holdings.add_empty(FileId(1), "g".into(), hashes(2));
        assert_eq!(
            other.held_count(),
            0,
            "a copy of another length holds nothing"
        );
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
    fn a_part_holds_its_segments_only_and_is_fixed() {
        let holdings = Holdings::new();
        let file = holdings.add_part(FileId(0), "f".into(), hashes(5), 1..3);
        assert!(file.fixed);
        let held: Vec<bool> = (0..5).map(|i| holdings.has(FileId(0), i)).collect();
        assert_eq!(held, [false, true, true, false, false]);
        assert!(!holdings.add_empty(FileId(1), "g".into(), hashes(1)).fixed);
    }

    #[test]
    fn empty_files_are_complete() {
        let holdings = Holdings::new();
        assert!(holdings
            .add_empty(FileId(0), "e".into(), vec![])
            .is_complete());
    }

    #[test]
    fn the_table_keeps_any_number_of_files_in_any_order() {
        let holdings = Holdings::new();
        for id in [5, 2, 9, 2, 7, 1] {
            let file = holdings.add_complete(FileId(id), format!("f{id}"), hashes(id as usize + 1));
            assert_eq!(file.id, FileId(id));
        }
        let ids = |h: &Holdings| -> Vec<u32> { h.read().iter().map(|e| e.id.0).collect() };
        assert_eq!(ids(&holdings), [1, 2, 5, 7, 9]);
        for id in [1, 2, 5, 7, 9] {
            assert!(holdings.has(FileId(id), id), "the last segment of {id}");
            assert!(!holdings.has(FileId(id), id + 1), "past the end of {id}");
            assert!(
                !holdings.has(FileId(id), 64 * 9),
                "far past the end of {id}"
            );
        }
        assert!(!holdings.has(FileId(3), 0));
        assert_eq!(holdings.remove(FileId(1)).map(|f| f.id), Some(FileId(1)));
        assert_eq!(holdings.remove(FileId(7)).map(|f| f.id), Some(FileId(7)));
        assert!(holdings.remove(FileId(7)).is_none());
        assert_eq!(ids(&holdings), [2, 5, 9]);
        assert_eq!(holdings.find_by_name("f9").map(|f| f.id), Some(FileId(9)));
        for id in [2, 5, 9] {
            holdings.remove(FileId(id));
        }
        assert!(ids(&holdings).is_empty());
        holdings.add_empty(FileId(4), "g".into(), hashes(2));
        assert_eq!(ids(&holdings), [4]);
    }

    /// [`Holdings::has`] reads the lock and the table's inline first entry,
    /// then the bits; the simulator's prefetch of a holdings or a file
    /// loads two cache lines from where it starts (in an `Arc`, at a 16-byte
    /// boundary: at least 80 bytes of it). A field placed before the lock,
    /// a bigger lock or entry would quietly cost the simulator a cache miss
    /// on every segment request.
    #[test]
    fn what_has_reads_first_fits_the_two_lines_a_prefetch_loads() {
        use std::mem::{offset_of, size_of};
        let in_two_lines = 2 * 64 - 48;
        let table_end = offset_of!(Holdings, files) + size_of::<RwLock<Entries>>();
        assert!(
            table_end <= in_two_lines,
            "the table ends at byte {table_end}"
        );
        let file = size_of::<HeldFile>();
        assert!(file <= in_two_lines, "a file takes {file} bytes");
    }

    #[cfg(feature = "sim-speed")]
    #[test]
    fn equal_hashes_are_kept_once_for_sharing_holdings() {
        let shared = Arc::new(SharedHashes::default());
        let (a, b) = (
            Holdings::sharing(Arc::clone(&shared)),
            Holdings::sharing(Arc::clone(&shared)),
        );
        let first = a.add_complete(FileId(0), "f".into(), hashes(3));
        let same = b.add_empty(FileId(0), "f".into(), hashes(3));
        assert!(Arc::ptr_eq(&first.hashes, &same.hashes));
        let mut other = hashes(3);
        other[1] = "x".into();
        let different = b.add_empty(FileId(1), "g".into(), other.clone());
        let lied = a.add_empty(FileId(1), "g".into(), hashes(3));
        assert_eq!(
            &different.hashes[..],
            &other[..],
            "each keeps what it was told"
        );
        assert_eq!(&lied.hashes[..], &hashes(3)[..]);
        let unshared = Holdings::new().add_empty(FileId(0), "f".into(), hashes(3));
        assert!(!Arc::ptr_eq(&first.hashes, &unshared.hashes));
    }
}
