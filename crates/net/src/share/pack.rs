//! A pack of small files on one rank ([`mpitorrent_core::tree::pack`]):
//! hashed by a seeder from its members under `--from` (and, by a rank
//! that fetches it, from the copies of the source's size it already has,
//! so that those segments need not move); served by reading its members'
//! bytes where they are; and written out as its segments arrive: each
//! member is a new file beside its final name, beneath `--to` without
//! following links, with no name until it is complete where the file
//! system allows (a named temporary where not: [`NewFile`]); it takes the
//! bytes of every verified segment that holds some of it, and gets the
//! source's mode and time and its final name as soon as the last of them
//! is there. No pack is ever a file on disk: its bytes are its members',
//! so it needs no room of its own.

use super::storage::append_at;
use backlog::{Backlog, Pushed};
use mpitorrent_core::content::hash_segment;
use mpitorrent_core::escape::shown;
use mpitorrent_core::holdings::HeldFile;
use mpitorrent_core::tree::pack::PackLayout;
use mpitorrent_fs::meta::set_meta_below;
use mpitorrent_fs::{Error, Folder, NewFile};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The most bytes of pack segments a rank keeps in memory to serve
/// them again ([`SegmentCache`]).
pub const CACHE_BYTES: usize = 8 << 20;

/// The pack segments this rank hashed or received last, kept to serve
/// them: a segment of a pack is read from thousands of members, and
/// every rank that lacks it asks for it, so reading it again each time
/// would open every member once per rank served. First in, first out, at
/// most [`CACHE_BYTES`] in all.
#[derive(Debug, Default)]
pub struct SegmentCache {
    /// The segments, oldest first, and their bytes in all.
    segments: Mutex<(VecDeque<Cached>, usize)>,
    /// The bytes of the segments that wait to be written, in every pack
    /// ([`Backlog`]).
    waiting: Arc<AtomicUsize>,
}

/// A segment in the cache: its pack's index in the plan, its own, its
/// bytes.
type Cached = (u32, u64, Arc<[u8]>);

impl SegmentCache {
    fn put(&self, pack: u32, index: u64, bytes: &Arc<[u8]>) {
        if bytes.len() > CACHE_BYTES {
            return;
        }
        let mut guard = self.segments.lock().unwrap_or_else(PoisonError::into_inner);
        let (segments, total) = &mut *guard;
        if segments.iter().any(|(p, i, _)| (*p, *i) == (pack, index)) {
            return;
        }
        while *total + bytes.len() > CACHE_BYTES {
            let Some((_, _, old)) = segments.pop_front() else {
                break;
            };
            *total -= old.len();
        }
        *total += bytes.len();
        segments.push_back((pack, index, Arc::clone(bytes)));
    }

    fn get(&self, pack: u32, index: u64) -> Option<Arc<[u8]>> {
        let guard = self.segments.lock().unwrap_or_else(PoisonError::into_inner);
        let found = guard.0.iter().find(|(p, i, _)| (*p, *i) == (pack, index));
        found.map(|(_, _, bytes)| Arc::clone(bytes))
    }
}

/// Where a pack is on this rank and how its members are written.
#[derive(Clone, Debug)]
pub struct PackPlace {
    /// Its members' folder: `--from` on a seeder, `--to` on a rank that
    /// fetches it.
    pub root: Arc<Folder>,
    /// The rank that writes its members, and whether it flushes them to
    /// disk before renaming them (`--fsync`).
    pub owner: u32,
    pub fsync: bool,
    pub cache: Arc<SegmentCache>,
}

/// One pack, as this rank seeds or fetches it.
#[derive(Debug)]
pub struct PackedFile {
    layout: PackLayout,
    /// Its index in the plan, which names it in the cache.
    id: u32,
    cache: Arc<SegmentCache>,
    /// Where its members are, at their names: `--from` on a seeder,
    /// `--to` on a rank that fetches it.
    root: Arc<Folder>,
    /// Per member: whether a copy of the source's size is at its name
    /// below `root` (every member on a seeder; on a rank that fetches the
    /// pack, those the plan said to hash).
    local: Vec<bool>,
    /// The rank that writes its members, and whether it flushes them to
    /// disk before renaming them (`--fsync`).
    owner: u32,
    fsync: bool,
    /// What is written, from the first segment stored (or the end).
    writing: Mutex<Option<Vec<Member>>>,
    /// Whether `writing` holds the members' states.
    set_up: AtomicBool,
    /// The segments stored but not yet written into the members.
    backlog: Backlog,
}

/// Where a member of a pack being written stands.
#[derive(Debug)]
enum Member {
    /// Nothing more to do: written, or its copy here matched.
    Done,
    /// Its copy here is whole: it takes the source's mode and time at the
    /// end.
    Kept,
    /// Waiting for `remaining` segments with bytes of it; its temporary
    /// once some arrived (an empty member waits for the end).
    Waiting {
        remaining: u64,
        temp: Option<Arc<NewFile>>,
    },
}

impl PackedFile {
    /// Pack `id` of the plan, with its members at `place`, of which this
    /// rank has copies of the source's size where `local` says.
    pub fn new(layout: PackLayout, id: u32, place: PackPlace, local: Vec<bool>) -> Self {
        let PackPlace {
            root,
            owner,
            fsync,
            cache,
        } = place;
        PackedFile {
            layout,
            id,
            root,
            local,
            owner,
            fsync,
            writing: Mutex::new(None),
            set_up: AtomicBool::new(false),
            backlog: Backlog::new(Arc::clone(&cache.waiting)),
            cache,
        }
    }

    pub fn layout(&self) -> &PackLayout {
        &self.layout
    }

    /// Whether this rank has a copy of any member (to hash, so that the
    /// segments that match need not move).
    pub fn has_copies(&self) -> bool {
        self.local.contains(&true)
    }

    /// The hash of every segment, read from the members this rank has
    /// (`local`); a segment with bytes of a member it lacks gets an empty
    /// hash, which matches nothing. `expected` gives a member's hashes
    /// from a manifest, if any: a member whose bytes do not match is an
    /// error naming it. `kept` gives a member's bytes if the scan kept
    /// them (a seeder's), so that it is not opened again.
    pub fn hash<'e>(
        &self,
        expected: &dyn Fn(&str) -> Option<&'e [String]>,
        kept: &dyn Fn(&str) -> Option<&'e [u8]>,
    ) -> Result<Vec<String>, String> {
        let segment_size = self.layout.segment_size as usize;
        let mut hashes = Vec::new();
        let mut segment: Vec<u8> = Vec::with_capacity(segment_size);
        let mut whole = true;
        let mut member_bytes = Vec::new();
        let mut folders = Folders::new(&self.root);
        for (index, member) in self.layout.members.iter().enumerate() {
            let size = member.meta.size as usize;
            member_bytes.clear();
            if self.local[index] {
                let path = self.root.path().join(&member.name);
                if let Some(bytes) = kept(&member.name) {
                    member_bytes.extend_from_slice(bytes);
                } else {
                    let file = folders.open_file(&member.name).map_err(|e| e.to_string())?;
                    file.take(member.meta.size)
                        .read_to_end(&mut member_bytes)
                        .map_err(|e| Error::io("read", &path, e).to_string())?;
                }
                if member_bytes.len() != size {
                    return Err(format!(
                        "{} changed while it was shared: {} bytes, where {size} were listed",
                        shown(&path.to_string_lossy()),
                        member_bytes.len()
                    ));
                }
                let listed = expected(&member.name).and_then(|hashes| hashes.first());
                if listed.is_some_and(|hash| *hash != hash_segment(&member_bytes)) {
                    return Err(format!(
                        "segment 1 of {} does not match its hash in the manifest: the file \
                         changed since the manifest was made",
                        shown(&member.name)
                    ));
                }
            } else {
                member_bytes.resize(size, 0);
            }
            let mut rest = member_bytes.as_slice();
            while !rest.is_empty() {
                let take = rest.len().min(segment_size - segment.len());
                segment.extend_from_slice(&rest[..take]);
                whole &= self.local[index];
                rest = &rest[take..];
                if segment.len() == segment_size {
                    hashes.push(self.hash_segment(hashes.len(), &segment, whole));
                    (whole, segment) = (true, Vec::with_capacity(segment_size));
                }
            }
        }
        if !segment.is_empty() {
            hashes.push(self.hash_segment(hashes.len(), &segment, whole));
        }
        Ok(hashes)
    }

    /// The hash of segment `index` (empty if it is not `whole`: some
    /// member is not here); a seeder's, whose every segment is whole, is
    /// kept to serve.
    fn hash_segment(&self, index: usize, bytes: &[u8], whole: bool) -> String {
        if !whole {
            return String::new();
        }
        if !self.local.contains(&false) {
            self.cache.put(self.id, index as u64, &Arc::from(bytes));
        }
        hash_segment(bytes)
    }

    /// Appends segment `index` to `out`, read from its members: from a
    /// member's temporary while it is being written, from its final name
    /// otherwise.
    pub fn append_segment(&self, index: u64, out: &mut Vec<u8>) -> Result<(), String> {
        let waiting = || self.backlog.find(index);
        if let Some(bytes) = self.cache.get(self.id, index).or_else(waiting) {
            out.extend_from_slice(&bytes);
            return Ok(());
        }
        let range = self.layout.segment_range(index);
        let members = self.layout.overlapping(index);
        let temps: Vec<Option<Arc<NewFile>>> = {
            let writing = self.lock();
            members
                .clone()
                .map(|m| match writing.as_ref().map(|w| &w[m]) {
                    Some(Member::Waiting { temp, .. }) => temp.clone(),
                    _ => None,
                })
                .collect()
        };
        let mut folders = Folders::new(&self.root);
        for (m, temp) in members.zip(temps) {
            let member = &self.layout.members[m];
            let start = range.start.max(member.offset);
            let end = range.end.min(member.offset + member.meta.size);
            let (at, len) = (start - member.offset, (end - start) as usize);
            let read = |file: &File, out: &mut Vec<u8>| {
                append_at(file, at, len, out).map_err(|e| {
                    let path = self.root.path().join(&member.name);
                    Error::io("read", path, e).to_string()
                })
            };
            match temp {
                Some(temp) => read(temp.file(), out)?,
                None => read(
                    &folders.open_file(&member.name).map_err(|e| e.to_string())?,
                    out,
                )?,
            }
        }
        Ok(())
    }

    /// Stores the verified segment `index` of the pack (`file`, as the
    /// holdings see it): it is written into its members (and those it
    /// completes get their final names) by a thread of their own
    /// ([`backlog`]), or here if too many bytes wait already. An error
    /// of an earlier segment's writing comes back here or at
    /// [`Self::complete`], so the job fails before the tracker hears the
    /// pack is complete.
    pub fn store(
        self: &Arc<Self>,
        file: &HeldFile,
        index: u64,
        bytes: &[u8],
    ) -> Result<(), String> {
        let bytes: Arc<[u8]> = Arc::from(bytes);
        self.cache.put(self.id, index, &bytes);
        // The members' states come from the holdings, which only this
        // thread sees. Once they are set up this thread never waits for
        // the lock, which the writer holds while it writes a segment.
        if !self.set_up.load(Ordering::Acquire) {
            self.writing(&mut self.lock(), file)?;
            self.set_up.store(true, Ordering::Release);
        }
        match self.backlog.push(index, Arc::clone(&bytes))? {
            Pushed::Full => self.write_segment(index, &bytes),
            Pushed::Queued { start: false } => Ok(()),
            Pushed::Queued { start: true } => {
                let pack = Arc::clone(self);
                let spawned = std::thread::Builder::new()
                    .name("pack writer".into())
                    .spawn(move || pack.write_backlog());
                if spawned.is_err() {
                    // No thread to be had: this one writes.
                    self.write_backlog();
                }
                Ok(())
            }
        }
    }

    /// The writer: writes what waits until nothing does.
    fn write_backlog(&self) {
        while let Some((index, bytes)) = self.backlog.next() {
            self.backlog.written(self.write_segment(index, &bytes));
        }
    }

    /// Writes segment `index` into its members, and gives those it
    /// completes their final names.
    fn write_segment(&self, index: u64, bytes: &[u8]) -> Result<(), String> {
        let mut writing = self.lock();
        let Some(members) = writing.as_mut() else {
            return Err(format!(
                "'{}' was written before it was set up",
                shown(&self.layout.name)
            ));
        };
        let start = self.layout.segment_range(index).start;
        let mut folders = Folders::new(&self.root);
        for m in self.layout.overlapping(index) {
            let Member::Waiting { remaining, temp } = &mut members[m] else {
                continue;
            };
            let member = &self.layout.members[m];
            let temp = match temp {
                Some(temp) => temp,
                None => temp.insert(Arc::new(folders.temp(&member.name, self.owner)?)),
            };
            let from = start.max(member.offset);
            let to = (start + bytes.len() as u64).min(member.offset + member.meta.size);
            let part = &bytes[(from - start) as usize..(to - start) as usize];
            temp.file()
                .write_all_at(part, from - member.offset)
                .map_err(|e| format!("cannot write '{}': {e}", shown(&member.name)))?;
            *remaining = remaining.saturating_sub(1);
            let finished = *remaining == 0;
            if finished {
                self.finish(m, temp)?;
                members[m] = Member::Done;
            }
        }
        Ok(())
    }

    /// Every segment is here: the members whose copies matched take the
    /// source's mode and time, and the empty ones are made.
    pub fn complete(&self, file: &HeldFile) -> Result<(), String> {
        self.backlog.wait()?;
        let mut writing = self.lock();
        let members = self.writing(&mut writing, file)?;
        let mut folders = Folders::new(&self.root);
        for (m, state) in members.iter_mut().enumerate() {
            let member = &self.layout.members[m];
            match state {
                Member::Done => {}
                Member::Kept => set_meta_below(
                    &self.root,
                    Path::new(&member.name),
                    member.meta.mode,
                    member.meta.mtime,
                )
                .map_err(|e| e.to_string())?,
                Member::Waiting { remaining: 0, temp } if self.local[m] && temp.is_none() => {
                    set_meta_below(
                        &self.root,
                        Path::new(&member.name),
                        member.meta.mode,
                        member.meta.mtime,
                    )
                    .map_err(|e| e.to_string())?
                }
                Member::Waiting { remaining: 0, temp } => {
                    let temp = match temp {
                        Some(temp) => temp,
                        None => temp.insert(Arc::new(folders.temp(&member.name, self.owner)?)),
                    };
                    self.finish(m, temp)?;
                }
                Member::Waiting { .. } => {
                    return Err(format!(
                        "'{}' of '{}' is complete without all of its bytes",
                        shown(&member.name),
                        shown(&self.layout.name)
                    ))
                }
            }
            *state = Member::Done;
        }
        Ok(())
    }

    /// The job failed: removes the members' temporaries (members already
    /// renamed into place stay, as whole files do).
    pub fn abandon(&self) {
        self.backlog.stop();
        if let Some(members) = self.lock().as_mut() {
            for member in members.iter_mut() {
                if let Member::Waiting {
                    temp: Some(temp), ..
                } = member
                {
                    temp.discard();
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Vec<Member>>> {
        self.writing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The members' states, made at the first call: a member counts the
    /// segments with bytes of it that it still needs; one whose segments
    /// the holdings already found intact here (its copy matched) is kept,
    /// and one with only some of them takes those bytes from its copy.
    fn writing<'a>(
        &self,
        writing: &'a mut Option<Vec<Member>>,
        file: &HeldFile,
    ) -> Result<&'a mut Vec<Member>, String> {
        if let Some(members) = writing {
            return Ok(members);
        }
        let mut members = Vec::with_capacity(self.layout.members.len());
        let mut folders = Folders::new(&self.root);
        for (m, member) in self.layout.members.iter().enumerate() {
            let segments = self.layout.segments_of(m);
            let held: Vec<u64> = segments.clone().filter(|&i| file.has(i as u32)).collect();
            let remaining = segments.end - segments.start - held.len() as u64;
            if held.is_empty() || member.meta.size == 0 {
                members.push(Member::Waiting {
                    remaining,
                    temp: None,
                });
                continue;
            }
            let cannot = |e: String| format!("cannot resume '{}': {e}", shown(&member.name));
            if !self.local[m] {
                return Err(cannot("no copy of it is here".into()));
            }
            if remaining == 0 {
                members.push(Member::Kept);
                continue;
            }
            // Its bytes in the held segments are those of its copy here.
            let temp = Arc::new(folders.temp(&member.name, self.owner)?);
            let copy = folders
                .open_file(&member.name)
                .map_err(|e| cannot(e.to_string()))?;
            let mut bytes = Vec::new();
            for index in held {
                let range = self.layout.segment_range(index);
                let start = range.start.max(member.offset) - member.offset;
                let end = range.end.min(member.offset + member.meta.size) - member.offset;
                bytes.clear();
                append_at(&copy, start, (end - start) as usize, &mut bytes)
                    .and_then(|()| temp.file().write_all_at(&bytes, start))
                    .map_err(|e| cannot(e.to_string()))?;
            }
            members.push(Member::Waiting {
                remaining,
                temp: Some(temp),
            });
        }
        Ok(writing.insert(members))
    }

    /// Member `m` has all its bytes: it gets the source's mode and time
    /// through its descriptor (flushed if `--fsync`) and its final name.
    fn finish(&self, m: usize, temp: &NewFile) -> Result<(), String> {
        let meta = &self.layout.members[m].meta;
        temp.finish(meta.mode, meta.mtime, self.fsync)
            .map_err(|e| e.to_string())
    }
}

/// The folders of consecutive members, opened beneath a root without
/// following links: members come in name order, so most share the folder
/// of the one before, which is opened once.
struct Folders<'a> {
    root: &'a Arc<Folder>,
    last: Option<(&'a str, Arc<Folder>)>,
}

impl<'a> Folders<'a> {
    fn new(root: &'a Arc<Folder>) -> Self {
        Folders { root, last: None }
    }

    /// The folder of `name` (a `/`-separated path below the root) and its
    /// last component; the folders were made with the tree.
    fn folder_of(&mut self, name: &'a str) -> Result<(Arc<Folder>, &'a str), Error> {
        let Some((parent, base)) = name.rsplit_once('/') else {
            return Ok((Arc::clone(self.root), name));
        };
        if let Some((last, folder)) = &self.last {
            if *last == parent {
                return Ok((Arc::clone(folder), base));
            }
        }
        let folder = Arc::new(self.root.open_folder(Path::new(parent))?);
        self.last = Some((parent, Arc::clone(&folder)));
        Ok((folder, base))
    }

    fn open_file(&mut self, name: &'a str) -> Result<File, Error> {
        let (folder, base) = self.folder_of(name)?;
        folder.open_file(Path::new(base))
    }

    /// A new file for the member `name`, written by `owner`: unnamed
    /// until it is complete where the file system allows (see
    /// [`mpitorrent_fs::unnamed`]), a killed run's members are fetched
    /// again, never resumed, so they need no temporary to find.
    fn temp(&mut self, name: &'a str, owner: u32) -> Result<NewFile, String> {
        let (folder, base) = self.folder_of(name).map_err(|e| e.to_string())?;
        NewFile::create(folder, base.as_ref(), owner).map_err(|e| e.to_string())
    }
}

mod backlog;
#[cfg(test)]
mod tests;
