//! [`ShareContent`]: real bytes. A rank serves its own files from where they
//! are (under `--from`, or already intact under `--to`), writes each file
//! it fetches in place under `--to` as verified segments arrive (serving
//! them from there at once), and renames it to its final name when whole.

use super::direct::AlignedBuf;
use super::late::LateFiles;
use super::pack::PackedFile;
use super::storage::{PartialFile, WholeFile};
use crate::content::{Content, Publish};
use mpitorrent_core::content::relative_path_problem;
use mpitorrent_core::escape::shown;
use mpitorrent_core::holdings::HeldFile;
use mpitorrent_core::tree::{FileMeta, TreeEntry};
use mpitorrent_core::uploader::Serve;
use mpitorrent_core::{wire, FileId, Rank, SegmentIdx};
use mpitorrent_fs::meta::{set_meta, set_meta_below};
use mpitorrent_fs::Folder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// A file being received, and the length of its last segment once known.
#[derive(Debug)]
struct Partial {
    file: PartialFile,
    last_len: AtomicU64,
}

/// How received files are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Flush each received file to disk before renaming it (`--fsync`; see
    /// [`PartialFile::finish`]).
    pub fsync: bool,
    /// Write and read back received files around the page cache
    /// (`--direct`; see [`super::direct`]).
    pub direct: bool,
}

/// What a received tree gets last: each file's mode and time (set when
/// it is complete, before its rename), and each folder's (set when the
/// job ended well, since every file written into a folder moves its time).
#[derive(Clone, Debug, Default)]
pub struct Finishing {
    pub files: HashMap<String, FileMeta>,
    /// [`TreeEntry::Folder`]s, by name.
    pub folders: Vec<TreeEntry>,
    /// Where a copy of a file to fetch already is, below the destination
    /// (under its final name, or a killed run's temporary): the segments
    /// the holdings found intact in it are copied from there, not fetched.
    pub resume: HashMap<String, String>,
    /// This rank's temporaries the scan found below the destination
    /// before the plan (of killed runs; a resumed one included, once its
    /// segments are copied out): removed when the job ended well, if
    /// nobody holds them. Only these: a temporary made since is this
    /// run's, or a live process's.
    pub stale: Vec<String>,
}

/// A whole file on this rank: at its swarm name below `root`.
#[derive(Debug, Clone)]
struct Whole {
    root: Arc<Folder>,
    /// Written by this run with `O_DIRECT`, so read back the same way.
    direct: bool,
}

/// Real file contents for one rank.
#[derive(Debug)]
pub struct ShareContent {
    /// `--to`, where this rank writes.
    destination: Arc<Folder>,
    rank: Rank,
    segment_size: u64,
    options: WriteOptions,
    finishing: Finishing,
    /// Whole files on this rank, by swarm name.
    complete: RwLock<HashMap<String, Whole>>,
    /// Files being received, by id.
    partial: Mutex<HashMap<FileId, Arc<Partial>>>,
    /// The packs of small files this rank seeds or fetches, by swarm name
    /// (they are never written as files: see [`PackedFile`]).
    packs: HashMap<String, Arc<PackedFile>>,
    /// The files this rank seeds with hashes to come (see [`LateFiles`]).
    late: Option<LateFiles>,
    /// Bytes of its source this rank read to hash them (`LateFiles::read`).
    source_read: Arc<AtomicU64>,
    /// Aligned scratch for direct writes (the download thread's) and reads
    /// (the upload thread's): one each, reused, so neither thread waits
    /// for the other.
    write_scratch: Mutex<AlignedBuf>,
    read_scratch: Mutex<AlignedBuf>,
}

impl ShareContent {
    /// Contents that `rank` writes under `destination` as `options` say,
    /// knowing the whole files this rank already has (name → the folder
    /// they are under, at their swarm name) and the modes and times to give
    /// what it writes.
    pub fn new(
        destination: Arc<Folder>,
        rank: Rank,
        segment_size: u64,
        options: WriteOptions,
        complete: HashMap<String, Arc<Folder>>,
        finishing: Finishing,
    ) -> Self {
        let complete = complete
            .into_iter()
            .map(|(name, root)| {
                let whole = Whole {
                    root,
                    direct: false,
                };
                (name, whole)
            })
            .collect();
        ShareContent {
            destination,
            rank,
            segment_size,
            options,
            finishing,
            complete: RwLock::new(complete),
            partial: Mutex::new(HashMap::new()),
            packs: HashMap::new(),
            late: None,
            source_read: Arc::default(),
            write_scratch: Mutex::default(),
            read_scratch: Mutex::default(),
        }
    }

    /// These contents with the packs this rank seeds or fetches.
    pub fn with_packs(self, packs: HashMap<String, Arc<PackedFile>>) -> Self {
        ShareContent { packs, ..self }
    }

    /// These contents with the files this rank hashes while it serves.
    pub fn with_late(self, late: LateFiles) -> Self {
        let source_read = Arc::clone(&late.read);
        let late = (!late.files.is_empty()).then_some(late);
        ShareContent {
            late,
            source_read,
            ..self
        }
    }

    fn partial(&self, file: &HeldFile) -> Result<Arc<Partial>, String> {
        let mut partial = self.partial.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = partial.get(&file.id) {
            return Ok(Arc::clone(existing));
        }
        // The name came from another rank: it must stay under --to.
        if let Some(problem) = relative_path_problem(&file.name) {
            return Err(format!("refusing to write a file named {problem}"));
        }
        let created = PartialFile::create(
            &self.destination,
            &file.name,
            self.rank.0,
            file.segment_count() as u64,
            self.segment_size,
            self.options.direct,
        )
        .map_err(|e| e.to_string())?;
        let created = Arc::new(Partial {
            file: created,
            last_len: AtomicU64::new(0),
        });
        self.resume(file, &created)
            .map_err(|e| format!("cannot resume '{}': {e}", shown(&file.name)))?;
        partial.insert(file.id, Arc::clone(&created));
        Ok(created)
    }

    /// Copies into a new partial file the segments of `file` held from
    /// the start (found intact in a copy here: see [`Finishing::resume`]).
    fn resume(&self, file: &HeldFile, partial: &Partial) -> std::io::Result<()> {
        let Some(path) = self.finishing.resume.get(&file.name) else {
            return Ok(());
        };
        let held: Vec<SegmentIdx> = (0..file.segment_count()).filter(|&i| file.has(i)).collect();
        if held.is_empty() {
            return Ok(());
        }
        let copy = WholeFile::open(&self.destination, Path::new(path), self.segment_size, false)
            .map_err(std::io::Error::other)?;
        let mut scratch = self
            .write_scratch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut bytes = Vec::new();
        for index in held {
            bytes.clear();
            copy.append_segment(index as u64, &mut bytes, &mut scratch)?;
            if index + 1 == file.segment_count() {
                // A temporary is longer than the file: its last segment is
                // as long as the source's.
                let size = self.finishing.files.get(&file.name).map_or(0, |m| m.size);
                let last = size - (index as u64) * self.segment_size;
                bytes.truncate(last as usize);
                partial.last_len.store(last, Ordering::Release);
            }
            partial
                .file
                .write_segment(index as u64, &bytes, &mut scratch)?;
        }
        Ok(())
    }

    fn whole_file(&self, name: &str) -> Option<Whole> {
        let complete = self.complete.read().unwrap_or_else(PoisonError::into_inner);
        complete.get(name).cloned()
    }
}

impl Content for ShareContent {
    fn carries_bytes(&self) -> bool {
        true
    }

    fn hash_late(&self, publish: &mut Publish<'_>) -> Result<(), String> {
        self.late.as_ref().map_or(Ok(()), |late| late.hash(publish))
    }

    fn source_bytes_read(&self) -> u64 {
        self.source_read.load(Ordering::Relaxed)
    }

    fn store(&self, file: &HeldFile, index: SegmentIdx, bytes: &[u8]) -> Result<(), String> {
        let last = index + 1 == file.segment_count();
        if bytes.len() as u64 > self.segment_size
            || (!last && bytes.len() as u64 != self.segment_size)
        {
            return Err(format!(
                "segment {index} of '{}' has {} bytes, but segments here are {} bytes \
                 (do all ranks use the same --segment-size?)",
                shown(&file.name),
                bytes.len(),
                self.segment_size
            ));
        }
        if let Some(pack) = self.packs.get(&file.name) {
            return pack.store(file, index as u64, bytes);
        }
        let partial = self.partial(file)?;
        let mut scratch = self
            .write_scratch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        partial
            .file
            .write_segment(index as u64, bytes, &mut scratch)
            .map_err(|e| format!("cannot write '{}': {e}", shown(&file.name)))?;
        if last {
            partial
                .last_len
                .store(bytes.len() as u64, Ordering::Release);
        }
        Ok(())
    }

    fn encode_ack(&self, serve: &Serve) -> Result<Vec<u8>, String> {
        let (file, index) = (&serve.file, serve.index);
        if let Some(pack) = self.packs.get(&file.name) {
            let segment = index as u64;
            let range = pack.layout().segment_range(segment);
            let len = (range.end - range.start) as usize;
            return wire::encode_segment_ack(file.id, index, len, |out| {
                pack.append_segment(segment, out)
                    .map_err(std::io::Error::other)
            })
            .map_err(|e| {
                format!(
                    "cannot read segment {index} of '{}': {e}",
                    shown(&file.name)
                )
            });
        }
        // A file being received is read from its partial copy (a stale
        // file of the same name may still sit under its final name).
        let partial = {
            let partial = self.partial.lock().unwrap_or_else(PoisonError::into_inner);
            partial.get(&file.id).cloned()
        };
        // Segments found intact in a killed run's temporary are served
        // from the file they are copied into.
        let resumed =
            self.whole_file(&file.name).is_none() && self.finishing.resume.contains_key(&file.name);
        let partial = match partial {
            None if resumed => Some(self.partial(file)?),
            partial => partial,
        };
        let cannot_read = |e: &dyn std::fmt::Display| {
            format!(
                "cannot read segment {index} of '{}': {e}",
                shown(&file.name)
            )
        };
        let segment = index as u64;
        let mut scratch = self
            .read_scratch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let encoded = match (partial, self.whole_file(&file.name)) {
            (Some(partial), _) => {
                let last = index + 1 == file.segment_count();
                let len = if last {
                    partial.last_len.load(Ordering::Acquire)
                } else {
                    self.segment_size
                };
                wire::encode_segment_ack(file.id, index, len as usize, |out| {
                    partial
                        .file
                        .append_segment(segment, len as usize, out, &mut scratch)
                })
            }
            (None, Some(whole)) => {
                let relative = Path::new(&file.name);
                let whole = WholeFile::open(&whole.root, relative, self.segment_size, whole.direct)
                    .map_err(|e| cannot_read(&e))?;
                let len = whole.segment_len(segment);
                wire::encode_segment_ack(file.id, index, len, |out| {
                    whole.append_segment(segment, out, &mut scratch)
                })
            }
            (None, None) => return Err(format!("has no copy of '{}' to read", shown(&file.name))),
        };
        encoded.map_err(|e| cannot_read(&e))
    }

    fn abandon(&self) {
        let partial = self.partial.lock().unwrap_or_else(PoisonError::into_inner);
        for file in partial.values() {
            file.file.discard();
        }
        for pack in self.packs.values() {
            pack.abandon();
        }
    }

    /// This rank's stale temporaries anywhere in the `--to` tree (whatever
    /// file they were for: a rerun may share other files), as the scan
    /// before the plan found them; then the folders' modes and times,
    /// deepest first, once nothing more is written into them.
    fn tidy(&self) -> Result<Vec<PathBuf>, mpitorrent_fs::Error> {
        let mut removed = Vec::new();
        for name in &self.finishing.stale {
            let at = mpitorrent_fs::stale::remove_stale_at(
                &self.destination,
                Path::new(name),
                self.rank.0,
            )?;
            removed.extend(at);
        }
        for entry in self.finishing.folders.iter().rev() {
            if let TreeEntry::Folder { name, mode, mtime } = entry {
                let folder = self.destination.open_folder(Path::new(name))?;
                set_meta(&folder, *mode, *mtime).map_err(|e| {
                    mpitorrent_fs::Error::io("set the mode and time of", folder.path(), e)
                })?;
            }
        }
        Ok(removed)
    }

    fn complete(&self, rank: Rank, file: &HeldFile) -> Result<(), String> {
        if let Some(pack) = self.packs.get(&file.name) {
            return pack.complete(file).map_err(|e| format!("rank {rank}: {e}"));
        }
        let partial = self
            .partial
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&file.id)
            .cloned();
        let meta = self.finishing.files.get(&file.name).copied();
        let partial = match (partial, self.whole_file(&file.name)) {
            (Some(partial), _) => partial,
            // Already whole here (the same bytes under another time): it
            // only takes the source's mode and time.
            (None, Some(whole)) => {
                let Some(meta) = meta else { return Ok(()) };
                let relative = Path::new(&file.name);
                return set_meta_below(&whole.root, relative, meta.mode, meta.mtime)
                    .map_err(|e| format!("rank {rank}: {e}"));
            }
            // An empty file never had a segment to store: create it now.
            (None, None) => self
                .partial(file)
                .map_err(|e| format!("rank {rank}: {e}"))?,
        };
        partial
            .file
            .finish(
                partial.last_len.load(Ordering::Acquire),
                self.options.fsync,
                meta,
            )
            .map_err(|e| format!("rank {rank}: {e}"))?;
        let whole = Whole {
            root: Arc::clone(&self.destination),
            direct: partial.file.is_direct(),
        };
        self.complete
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(file.name.clone(), whole);
        self.partial
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&file.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::content::hash_segment;
    use mpitorrent_core::holdings::Holdings;
    use mpitorrent_core::Message;
    use std::fs;

    fn held(holdings: &Holdings, id: u32, name: &str, segments: &[&[u8]]) -> Arc<HeldFile> {
        let hashes = segments.iter().map(|s| hash_segment(s)).collect();
        holdings.add_empty(FileId(id), name.into(), hashes)
    }

    /// A content writing into a fresh folder (4-byte segments, no fsync),
    /// and the holdings its files are added to.
    fn fixture() -> (tempfile::TempDir, ShareContent, Holdings) {
        let dir = tempfile::tempdir().unwrap();
        let options = WriteOptions::default();
        let root = Arc::new(Folder::open(dir.path()).unwrap());
        let content = ShareContent::new(
            root,
            Rank(1),
            4,
            options,
            HashMap::new(),
            Finishing::default(),
        );
        (dir, content, Holdings::new())
    }

    /// The payload of the ACK this content sends for a segment.
    fn served(content: &ShareContent, file: &Arc<HeldFile>, index: SegmentIdx) -> Vec<u8> {
        let serve = Serve {
            to: Rank(2),
            file: Arc::clone(file),
            index,
        };
        match wire::decode_owned(content.encode_ack(&serve).unwrap()).unwrap() {
            Message::SegmentAck { payload, .. } => payload.into_vec(),
            other => panic!("expected an ACK, got {other:?}"),
        }
    }

    #[test]
    fn receives_serves_and_finishes_a_file() {
        let (dir, content, holdings) = fixture();
        let file = held(&holdings, 0, "sub/f", &[b"abcd", b"ef"]);
        content.store(&file, 1, b"ef").unwrap();
        assert_eq!(served(&content, &file, 1), b"ef");
        content.store(&file, 0, b"abcd").unwrap();
        content.complete(Rank(1), &file).unwrap();
        assert_eq!(fs::read(dir.path().join("sub/f")).unwrap(), b"abcdef");
        assert_eq!(
            served(&content, &file, 0),
            b"abcd",
            "served from the final file"
        );
    }

    #[test]
    fn refuses_names_that_leave_the_destination_and_wrong_sizes() {
        let (_dir, content, holdings) = fixture();
        let escape = held(&holdings, 0, "../evil", &[b"abcd"]);
        assert!(content
            .store(&escape, 0, b"abcd")
            .unwrap_err()
            .contains("refusing"));
        let file = held(&holdings, 1, "f", &[b"abcd", b"ef"]);
        assert!(content
            .store(&file, 0, b"abc")
            .unwrap_err()
            .contains("--segment-size"));
    }

    #[test]
    fn abandoning_removes_half_written_files_only() {
        let (dir, content, holdings) = fixture();
        let done = held(&holdings, 0, "done", &[b"abcd"]);
        content.store(&done, 0, b"abcd").unwrap();
        content.complete(Rank(1), &done).unwrap();
        let half = held(&holdings, 1, "sub/half", &[b"abcd", b"ef"]);
        content.store(&half, 0, b"abcd").unwrap();
        content.abandon();
        assert_eq!(fs::read(dir.path().join("done")).unwrap(), b"abcd");
        let left: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn empty_files_are_created_on_completion() {
        let (dir, content, holdings) = fixture();
        let empty = held(&holdings, 0, "empty", &[]);
        content.complete(Rank(2), &empty).unwrap();
        assert_eq!(fs::read(dir.path().join("empty")).unwrap(), b"");
    }
}
