//! One peer's part of a `share` job, in two steps around the tree plan
//! ([`super::plan`]): [`prepare`] scans what this rank offers (a folder,
//! if it is a seeder, hashed) and what its destination already holds (by
//! size and time only), for its [`TreeOffer`]; once rank 0 answered with
//! the [`TreePlan`], [`share_peer`] makes the empty folders and links,
//! hashes only the files the plan names, and builds the registration and
//! the [`ShareContent`] that stores and serves the bytes.

use super::content::{Finishing, ShareContent, WriteOptions};
use super::late::LateFiles;
use super::manifest::Manifest;
use super::pack::{PackPlace, PackedFile, SegmentCache};
use super::scan::{hash_open, scan_folder, ScanOptions, ScannedFile};
use mpitorrent_core::content::{relative_path_problem, segment_count};
use mpitorrent_core::escape::shown_path;
use mpitorrent_core::tree::pack::PackLayout;
use mpitorrent_core::tree::{PlanOptions, Present, TreeEntry, TreeOffer, TreePlan};
use mpitorrent_core::{Destination, FileListing, Rank, Registration};
use mpitorrent_fs::beneath::FolderId;
use mpitorrent_fs::meta::{available, create_link, set_meta_below};
use mpitorrent_fs::{Error, Folder};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What the user asked `share` for; folders may hold `{rank}`.
#[derive(Clone, Debug)]
pub struct ShareSpec {
    /// The folder of files to share, on the ranks that have it.
    pub from: String,
    /// Where each rank writes every shared file it lacks.
    pub to: String,
    /// The ranks that read `from` (default: every peer rank where it exists).
    pub seeders: Option<Vec<u32>>,
    pub segment_size: u64,
    /// How received files are written (`--fsync`, `--direct`).
    pub write: WriteOptions,
    /// Recreate symbolic links as links (`--links`); skipped otherwise.
    pub links: bool,
    /// Hash every file already at a destination (`--verify`) rather than
    /// take those of the source's size and time as complete.
    pub verify: bool,
    /// Check the free space of every destination before the job starts
    /// (off with `--no-space-check`).
    pub check_space: bool,
    /// The hashes of the source (`--manifest`), which a seeder registers
    /// instead of hashing its `--from`.
    pub manifest: Option<PathBuf>,
    /// Seeders of one copy read it in stripes (`tree::stripes`): for the
    /// strategies that fetch each segment from the holder the tracker
    /// names.
    pub stripes: bool,
}

impl ShareSpec {
    /// A spec with the options' defaults, for tests.
    #[cfg(test)]
    pub(crate) fn for_test(from: String, to: String, seeders: Option<Vec<u32>>) -> ShareSpec {
        ShareSpec {
            from,
            to,
            seeders,
            segment_size: 1 << 20,
            write: WriteOptions::default(),
            links: false,
            verify: false,
            check_space: true,
            manifest: None,
            stripes: true,
        }
    }

    /// How rank 0 plans the tree for this job.
    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            segment_size: self.segment_size,
            verify: self.verify,
            check_space: self.check_space,
            stripes: self.stripes,
        }
    }
}

/// `template` with `{rank}` replaced by the rank and `{node}` by this
/// machine's host name (the node the rank runs on).
pub fn expand(template: &str, rank: Rank) -> PathBuf {
    let mut path = template.replace("{rank}", &rank.to_string());
    if path.contains("{node}") {
        path = path.replace("{node}", &super::destination::host_name());
    }
    PathBuf::from(path)
}

/// A peer between its offer and its plan.
#[derive(Debug)]
pub struct Prepared {
    rank: Rank,
    spec: ShareSpec,
    to_folder: Arc<Folder>,
    /// Its `--from`, if it is a seeder, and the files it offers there.
    from_folder: Option<Arc<Folder>>,
    owned: Vec<ScannedFile>,
    /// The names of every entry it offers (files, folders, links).
    offered: BTreeSet<String>,
    /// Temporaries of its killed runs under `--to`: the file each was for,
    /// and where it is (the newest of each file's).
    parts: HashMap<String, String>,
    /// Every temporary of this rank the scan found under `--to`.
    stale: Vec<String>,
    destination: Destination,
}

/// What a seeder offers from its `--from`, scanned (read only: it may
/// run before MPI starts, see [`super::early`]).
#[derive(Debug)]
pub struct Source {
    folder: Arc<Folder>,
    /// Its files, and its folders and links (the plan's entries).
    files: Vec<ScannedFile>,
    others: Vec<TreeEntry>,
    /// Segments the seeder hashes (none with a manifest).
    segments_hashed: u64,
}

/// Scans `--from` if this rank (of a job of `size` ranks) is a seeder;
/// `None` if it is not. Skipped files go to `warn`.
pub fn scan_source(
    rank: Rank,
    size: u32,
    spec: &ShareSpec,
    warn: &mut dyn FnMut(String),
) -> Result<Option<Source>, String> {
    let in_rank = |e: Error| format!("rank {rank}: {e}");
    let from = expand(&spec.from, rank);
    let seeder = match &spec.seeders {
        Some(seeders) => seeders.contains(&rank.0),
        None => from.is_dir(),
    };
    if !seeder {
        return Ok(None);
    }
    if !from.is_dir() {
        return Err(format!(
            "rank {rank}: --from {} is not a folder, but this rank is a seeder",
            shown_path(&from)
        ));
    }
    // Hashed once the plan says which first, the rest while serving; the
    // small files in their packs, once the plan has made them, from the
    // bytes this scan keeps.
    let options = ScanOptions {
        links: spec.links,
        keep_small: true,
        ..ScanOptions::listing(spec.segment_size)
    };
    let folder = Arc::new(Folder::open(&from).map_err(in_rank)?);
    let skip = destinations(spec, size);
    let mut found = scan_folder(&folder, options, &skip, warn).map_err(in_rank)?;
    let segments_hashed = match &spec.manifest {
        Some(path) => Manifest::read(path)
            .and_then(|m| m.apply(&mut found.files, &folder, spec.segment_size))
            .map_err(|e| format!("rank {rank}: {e}"))?,
        // The packs' segments are counted by the plan.
        None => found
            .files
            .iter()
            .filter(|f| f.meta.size >= spec.segment_size)
            .map(|f| segment_count(f.meta.size, spec.segment_size))
            .sum(),
    };
    Ok(Some(Source {
        folder,
        files: found.files,
        others: found.others,
        segments_hashed,
    }))
}

/// What this rank offers and already has, for its offer: `source` is
/// what [`scan_source`] found (`None`: not a seeder), and its destination
/// is scanned here. Problems come back as the one line the user reads.
pub fn prepare(
    rank: Rank,
    spec: &ShareSpec,
    source: Option<Source>,
) -> Result<(Prepared, TreeOffer), String> {
    let in_rank = |e: Error| format!("rank {rank}: {e}");
    // The destination itself is the user's path, created as given (links
    // included); everything below it is opened through its descriptor.
    let to = expand(&spec.to, rank);
    std::fs::create_dir_all(&to)
        .map_err(|e| format!("rank {rank}: cannot create --to {}: {e}", shown_path(&to)))?;
    let to_folder = Arc::new(Folder::open(&to).map_err(in_rank)?);
    let (mut from_folder, mut owned, mut entries) = (None, Vec::new(), Vec::new());
    let mut source_segments_hashed = 0;
    if let Some(source) = source {
        source_segments_hashed = source.segments_hashed;
        entries = source.others;
        entries.extend(source.files.iter().map(|file| TreeEntry::File {
            name: file.name.clone(),
            meta: file.meta,
        }));
        (from_folder, owned) = (Some(source.folder), source.files);
    }
    let destination = super::destination::destination_of(&to)
        .map_err(|e| format!("rank {rank}: cannot read --to {}: {e}", shown_path(&to)))?;
    // What is already at the destination, by size and time: the plan
    // says which of it to hash.
    let options = ScanOptions::listing(spec.segment_size);
    let found = scan_folder(&to_folder, options, &[], &mut |_| {}).map_err(in_rank)?;
    let (mut present, mut parts, mut stale) = (Vec::new(), HashMap::new(), Vec::new());
    for file in found.files {
        let listed = Present {
            name: file.name.clone(),
            size: file.meta.size,
            mtime: file.meta.mtime,
        };
        match temporary_of(&file.name) {
            None => present.push(listed),
            // Of a killed run of this rank (the newest, if several).
            Some((name, owner)) if owner == rank.0 => {
                stale.push(file.name.clone());
                let newer = |(_, old): &(String, Present)| old.mtime < listed.mtime;
                if parts.get(&name).is_none_or(newer) {
                    let listed = Present {
                        name: name.clone(),
                        ..listed
                    };
                    parts.insert(name, (file.name, listed));
                }
            }
            Some(_) => {}
        }
    }
    let offer = TreeOffer {
        entries,
        present,
        parts: parts.values().map(|(_, part)| part.clone()).collect(),
        destination: destination.clone(),
        available: available(&to_folder).map_err(in_rank)?,
        source_segments_hashed,
        manifest: spec.manifest.is_some(),
    };
    let prepared = Prepared {
        rank,
        spec: spec.clone(),
        to_folder,
        from_folder,
        owned,
        offered: offer.entries.iter().map(|e| e.name().to_string()).collect(),
        parts: parts
            .into_iter()
            .map(|(name, (path, _))| (name, path))
            .collect(),
        stale,
        destination,
    };
    Ok((prepared, offer))
}

/// This peer's registration and contents, once the plan is known: the
/// folders and links of the tree it lacks are made, and of the files at
/// its destination only those the plan names are hashed (a file taken as
/// complete is neither hashed nor fetched).
pub fn share_peer(
    prepared: Prepared,
    plan: TreePlan,
) -> Result<(Registration, ShareContent), String> {
    let Prepared {
        rank,
        spec,
        to_folder,
        from_folder,
        owned,
        offered,
        mut parts,
        stale,
        destination,
    } = prepared;
    let in_rank = |e: Error| format!("rank {rank}: {e}");
    // A seeder's own entries stay where they are: it writes what it lacks.
    let mine: BTreeSet<&str> = offered.iter().map(String::as_str).collect();
    let kept: BTreeSet<&str> = plan.unchanged.iter().map(String::as_str).collect();
    let layouts = plan
        .packs
        .iter()
        .map(|pack| PackLayout::new(pack, &plan.entries, spec.segment_size))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("rank {rank}: {e}"))?;
    let packed: HashSet<&str> = layouts
        .iter()
        .flat_map(|layout| layout.members.iter().map(|m| m.name.as_str()))
        .collect();
    let mut finishing = Finishing {
        stale,
        ..Finishing::default()
    };
    let mut wanted = Vec::new();
    for entry in &plan.entries {
        // The names came from other ranks: they must stay under --to.
        if let Some(problem) = relative_path_problem(entry.name()) {
            return Err(format!(
                "rank {rank}: refusing to write a file named {problem}"
            ));
        }
        match entry {
            _ if mine.contains(entry.name()) => {}
            TreeEntry::File { name, meta } => {
                finishing.files.insert(name.clone(), *meta);
                if kept.contains(name.as_str()) {
                    // Of the source's size and time, maybe not its mode.
                    set_meta_below(&to_folder, Path::new(name), meta.mode, meta.mtime)
                        .map_err(in_rank)?;
                } else if !packed.contains(name.as_str()) {
                    wanted.push(name.clone());
                }
            }
            TreeEntry::Folder { name, .. } => {
                to_folder.create_folders(Path::new(name)).map_err(in_rank)?;
                finishing.folders.push(entry.clone());
            }
            TreeEntry::Link { name, target } => {
                create_link(&to_folder, Path::new(name), OsStr::new(target), rank.0)
                    .map_err(in_rank)?;
            }
        }
    }
    let mut complete = HashMap::new();
    // A file smaller than a segment is only ever swarmed in its pack.
    let (big, small): (Vec<ScannedFile>, Vec<ScannedFile>) = owned
        .into_iter()
        .partition(|file| file.meta.size >= spec.segment_size);
    // (A rank without --from has no late files.)
    let root = from_folder.as_ref().unwrap_or(&to_folder);
    let mut late = LateFiles::new(Arc::clone(root), rank, spec.segment_size);
    let mut stripes = Vec::new();
    let mut owned = match &from_folder {
        Some(folder) => {
            let mut big = big;
            stripes = late.hash_or_defer_all(&mut big, folder, &plan)?;
            listings(big, folder, &mut complete)
        }
        None => Vec::new(),
    };
    let rehash: BTreeSet<&str> = plan.rehash.iter().map(String::as_str).collect();
    let packs = Packs {
        layouts: &layouts,
        rank,
        fsync: spec.write.fsync,
        cache: Arc::default(),
    };
    let mut content_packs = HashMap::new();
    let listed: HashMap<&str, &[String]> = small
        .iter()
        .map(|file| (file.name.as_str(), file.hashes.as_slice()))
        .collect();
    let kept: HashMap<&str, &[u8]> = small
        .iter()
        .filter_map(|file| Some((file.name.as_str(), file.bytes.as_deref()?)))
        .collect();
    // The scan read these, whether a pack needs them or not; a pack's
    // hashing reads the rest of its members.
    let kept_len = |name: &str| kept.get(name).map_or(0, |bytes| bytes.len() as u64);
    late.read.fetch_add(
        kept.values().map(|b| b.len() as u64).sum(),
        Ordering::Relaxed,
    );
    for &index in &plan.seeds {
        let Some(folder) = &from_folder else {
            return Err(format!(
                "rank {rank}: the plan has it seed a pack, but it has no --from"
            ));
        };
        let pack = packs.get(index, folder, |_| true)?;
        let hashes = pack
            .hash(&|name| listed.get(name).copied(), &|name| {
                kept.get(name).copied()
            })
            .map_err(|e| format!("rank {rank}: {e}"))?;
        let members = pack.layout().members.iter();
        let unkept: u64 = members.map(|m| m.meta.size - kept_len(&m.name)).sum();
        late.read.fetch_add(unkept, Ordering::Relaxed);
        owned.push(FileListing {
            name: pack.layout().name.clone(),
            hashes,
        });
        content_packs.insert(pack.layout().name.clone(), pack);
    }
    let mut candidates = Vec::new();
    for &index in &plan.fetches {
        let pack = packs.get(index, &to_folder, |name| rehash.contains(name))?;
        let name = pack.layout().name.clone();
        if pack.has_copies() {
            // Its segments that match need not move (see resume, below).
            let hashes = pack
                .hash(&|_| None, &|_| None)
                .map_err(|e| format!("rank {rank}: {e}"))?;
            candidates.push(FileListing {
                name: name.clone(),
                hashes,
            });
        }
        wanted.push(name.clone());
        content_packs.insert(name, pack);
    }
    // Copies to hash, each under its final name or as a killed run's
    // temporary: the download resumes from the segments that match.
    let copies = plan
        .rehash
        .iter()
        .filter(|name| !packed.contains(name.as_str()))
        .map(|name| (name, name.clone()));
    let temporaries = plan
        .resume
        .iter()
        .filter_map(|n| Some((n, parts.remove(n)?)));
    for (name, path) in copies.chain(temporaries) {
        let size = finishing.files.get(name).map_or(0, |meta| meta.size);
        let file = to_folder.open_file(Path::new(&path)).map_err(in_rank)?;
        let (_, hashes) = hash_open(file.take(size), spec.segment_size)
            .map_err(|e| in_rank(Error::io("read", to_folder.path().join(&path), e)))?;
        // A copy under the final name is whole if every hash matches.
        if path == *name {
            complete.insert(name.clone(), Arc::clone(&to_folder));
        }
        finishing.resume.insert(name.clone(), path);
        candidates.push(FileListing {
            name: name.clone(),
            hashes,
        });
    }
    let registration = Registration {
        owned,
        wanted,
        want_all: false,
        candidates,
        destination: Some(destination),
        stripes,
    };
    let content = ShareContent::new(
        to_folder,
        rank,
        spec.segment_size,
        spec.write,
        complete,
        finishing,
    )
    .with_packs(content_packs)
    .with_late(late);
    Ok((registration, content))
}

/// The packs of a plan, as this rank makes them.
struct Packs<'a> {
    layouts: &'a [PackLayout],
    rank: Rank,
    fsync: bool,
    cache: Arc<SegmentCache>,
}

impl Packs<'_> {
    /// Pack `index` of the plan with its members below `root`, of which
    /// this rank has those `local` says.
    fn get(
        &self,
        index: u32,
        root: &Arc<Folder>,
        local: impl Fn(&str) -> bool,
    ) -> Result<Arc<PackedFile>, String> {
        let Some(layout) = self.layouts.get(index as usize) else {
            return Err(format!(
                "rank {}: the plan names pack {index} of {}",
                self.rank,
                self.layouts.len()
            ));
        };
        let local = layout.members.iter().map(|m| local(&m.name)).collect();
        let place = PackPlace {
            root: Arc::clone(root),
            owner: self.rank.0,
            fsync: self.fsync,
            cache: Arc::clone(&self.cache),
        };
        Ok(Arc::new(PackedFile::new(
            layout.clone(),
            index,
            place,
            local,
        )))
    }
}

/// The folders every peer rank of the job writes to (`--to` for ranks
/// 1..`size`) that exist here, by identity: a seeder whose `--from`
/// holds one of them skips it, so a rerun never offers (and copies) the
/// output into itself. Compared by device and inode, which no spelling of
/// a path (links, `..`, bind mounts) can hide.
fn destinations(spec: &ShareSpec, size: u32) -> Vec<FolderId> {
    let mut paths: Vec<PathBuf> = (1..size).map(|r| expand(&spec.to, Rank(r))).collect();
    paths.dedup();
    let mut ids: Vec<FolderId> = paths
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .filter(|meta| meta.is_dir())
        .map(|meta| (meta.dev(), meta.ino()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Listings for the tracker; remembers which folder each file is under.
fn listings(
    files: Vec<ScannedFile>,
    root: &Arc<Folder>,
    roots: &mut HashMap<String, Arc<Folder>>,
) -> Vec<FileListing> {
    files
        .into_iter()
        .map(|file| {
            roots.insert(file.name.clone(), Arc::clone(root));
            FileListing {
                name: file.name,
                hashes: file.hashes,
            }
        })
        .collect()
}

/// If `name` (a `/`-separated path) is a temporary file of a run, this
/// one's or an interrupted one's ([`mpitorrent_fs::temp`]'s pattern),
/// the path of the file it was for and the rank that wrote it.
fn temporary_of(name: &str) -> Option<(String, u32)> {
    let (folder, base) = match name.rsplit_once('/') {
        Some((folder, base)) => (Some(folder), base),
        None => (None, name),
    };
    let temp = mpitorrent_fs::temp::parse(base.as_ref())?;
    let base = String::from_utf8_lossy(temp.final_part);
    let final_name = match folder {
        Some(folder) => format!("{folder}/{base}"),
        None => base.into_owned(),
    };
    Some((final_name, temp.owner))
}

#[cfg(test)]
mod tests;
