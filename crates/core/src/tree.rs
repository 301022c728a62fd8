//! A `share` job's tree, agreed before any byte moves: every peer sends
//! rank 0 a [`TreeOffer`] (what its `--from` holds, with modes and
//! times, empty folders and links; what its `--to` already holds, by size
//! and time only; the free space there), and rank 0 answers each with a
//! [`TreePlan`] made by [`plan_tree`]: the whole tree, which files at its
//! destination are taken as complete (size and modification time equal to
//! the source's, as `rsync` decides by default) and which it must hash to
//! know. The same step refuses a job whose destinations lack the room
//! for what they must write (the pre-flight), so that nothing is
//! transferred or written. The plan also packs the files smaller than a
//! segment into a few virtual files ([`pack`]).

pub mod pack;
mod preflight;
pub mod stripes;

use crate::content::segment_count;
use crate::{Destination, Rank, Stripe};
use pack::{form_packs, Pack, PackLayout, SmallFile};
use preflight::preflight;
use serde::{Deserialize, Serialize};
// The sets of names are hashed with Fx, not std's SipHash (which took
// half the time of planning 20,000 files): the names are the job's own
// ranks' files, so a flood of colliding names could only slow the plan.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::{BTreeMap, BTreeSet};

/// A modification time: seconds and nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mtime {
    pub secs: i64,
    pub nanos: u32,
}

/// What is kept of a regular file: its size, permission bits and time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub size: u64,
    /// Permission bits only (`0o777`): set-user-ID, set-group-ID and
    /// sticky bits are not kept, as `cp -p` run by another user would not.
    pub mode: u32,
    pub mtime: Mtime,
}

/// One entry of a shared tree, by its `/`-separated path below the root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TreeEntry {
    File {
        name: String,
        meta: FileMeta,
    },
    /// Every folder is listed, so empty ones are made too.
    Folder {
        name: String,
        mode: u32,
        mtime: Mtime,
    },
    /// A symbolic link, recreated as a link (`--links`), never followed.
    Link {
        name: String,
        target: String,
    },
}

impl TreeEntry {
    pub fn name(&self) -> &str {
        match self {
            TreeEntry::File { name, .. }
            | TreeEntry::Folder { name, .. }
            | TreeEntry::Link { name, .. } => name,
        }
    }
}

/// A regular file already at a peer's destination: size and time only
/// (nothing is hashed before the plan says so).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Present {
    pub name: String,
    pub size: u64,
    pub mtime: Mtime,
}

/// What a peer tells rank 0 before it registers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeOffer {
    /// Its `--from` tree, if it is a seeder (files, folders, links).
    pub entries: Vec<TreeEntry>,
    /// The regular files already under its `--to`.
    pub present: Vec<Present>,
    /// The temporaries this rank left under its `--to` in a run that was
    /// killed, by the name of the file each was for (its size is the
    /// temporary's).
    pub parts: Vec<Present>,
    pub destination: Destination,
    /// Bytes free for an unprivileged writer at `--to` (`statvfs`).
    pub available: u64,
    /// Segments of its `--from` it hashed: every one, or with
    /// `--manifest` at most one (the check of the segment size).
    pub source_segments_hashed: u64,
    /// Its hashes come from `--manifest`: it hashes nothing late, so it
    /// reads no stripe ([`stripes`]).
    pub manifest: bool,
}

impl TreeOffer {
    /// Whether its `--from` lists a file (not only folders or links).
    pub fn offers_a_file(&self) -> bool {
        (self.entries.iter()).any(|e| matches!(e, TreeEntry::File { .. }))
    }
}

/// Rank 0's answer to one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreePlan {
    /// The whole tree, every seeder's entries (the first seeder's, by
    /// rank, where two list one name).
    pub entries: Vec<TreeEntry>,
    /// Files at this peer's destination taken as complete, by size and
    /// time: neither hashed nor fetched.
    pub unchanged: Vec<String>,
    /// Files at its destination of the source's size but another time:
    /// hashed: kept if every segment matches, resumed if some do.
    pub rehash: Vec<String>,
    /// Files this peer has no copy of but a temporary of a killed run:
    /// hashed, and resumed from the segments that match (never a packed
    /// file: its members are renamed into place one by one, so a killed
    /// run leaves whole members, which a rerun takes as complete).
    pub resume: Vec<String>,
    /// Every pack of the tree (the same for every peer): the files smaller
    /// than a segment, which are swarmed in packs and never alone.
    pub packs: Vec<Pack>,
    /// The packs (indices into `packs`) this peer seeds: it has every
    /// member, of the size the plan lists, and registers the pack.
    pub seeds: Vec<u32>,
    /// The packs this peer fetches: it lacks at least one member whole
    /// (members it has of the source's size are in `rehash`).
    pub fetches: Vec<u32>,
    /// Files (not packed) that some peer hashes at its destination
    /// (`rehash` or `resume` in its plan), the same for every peer: the
    /// tracker compares those copies with the source at registration, so
    /// their seeders hash them first. Every other file a seeder registers
    /// with its size alone and hashes while it serves.
    pub compared: Vec<String>,
    /// The files this seeder offers with other seeders, of the same size
    /// and time, and the segments of each it reads ([`stripes`]); a
    /// stripe of no segments: it does not register the file.
    pub stripes: Vec<Stripe>,
    /// Files (not packed) that no peer fetches: every peer that lacks
    /// them in its source has them unchanged at its destination (a rerun
    /// over complete copies). The same for every peer: their seeders
    /// neither register nor read them.
    pub unwanted: Vec<String>,
}

/// What the plan saves on a rerun, for the run report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerunCounts {
    /// Files taken as complete by size and time, and their segments.
    pub files_reused: u64,
    pub segments_reused: u64,
    /// Segments of files already at a destination that are hashed.
    pub segments_hashed: u64,
    /// Segments the seeders hashed of their `--from` (few with
    /// `--manifest`).
    #[serde(default)]
    pub source_segments_hashed: u64,
}

/// How a tree is planned.
#[derive(Clone, Copy, Debug)]
pub struct PlanOptions {
    pub segment_size: u64,
    /// Take nothing as complete by size and time: hash every file of the
    /// source's size already at a destination (`--verify`).
    pub verify: bool,
    /// Refuse a job whose destinations lack the room (the pre-flight; off
    /// with `--no-space-check`, where free space is misreported).
    pub check_space: bool,
    /// Deal the files several seeders list alike into [`stripes`].
    pub stripes: bool,
}

/// The plan of every peer (in the order of `offers`) and what it saves,
/// or the one line saying why the job cannot start: a filesystem lacks
/// the room for what its ranks must write.
pub fn plan_tree(
    offers: &[(Rank, TreeOffer)],
    options: PlanOptions,
) -> Result<(Vec<TreePlan>, RerunCounts), String> {
    let PlanOptions {
        segment_size,
        verify,
        check_space,
        stripes: striped,
    } = options;
    let mut by_name: BTreeMap<&str, &TreeEntry> = BTreeMap::new();
    for (_, offer) in offers {
        for entry in &offer.entries {
            by_name.entry(entry.name()).or_insert(entry);
        }
    }
    // The files in name order, and by name. (Every set of names below is
    // hashed: a tree of 20,000 files took 80 ms to plan with ordered sets,
    // most of it comparing paths that share their first characters.)
    let files: Vec<(&str, FileMeta)> = by_name
        .iter()
        .filter_map(|(name, entry)| match entry {
            TreeEntry::File { meta, .. } => Some((*name, *meta)),
            _ => None,
        })
        .collect();
    let sizes: HashMap<&str, FileMeta> = files.iter().copied().collect();
    let entries: Vec<TreeEntry> = by_name.values().map(|e| (*e).clone()).collect();
    let small = |name: &str| sizes.get(name).is_some_and(|m| m.size < segment_size);
    let mut counts = RerunCounts::default();
    let mut plans = Vec::new();
    let mut needs = Vec::new();
    let mut owners = Vec::new();
    let mut wanted: HashSet<&str> = HashSet::default();
    for (rank, offer) in offers {
        counts.source_segments_hashed += offer.source_segments_hashed;
        let mut plan = TreePlan::default();
        // A seeder's own files are not written to its destination.
        let owned: HashSet<&str> = offer.entries.iter().map(TreeEntry::name).collect();
        for present in &offer.present {
            let name = present.name.as_str();
            let Some(source) = sizes.get(name).filter(|_| !owned.contains(name)) else {
                continue;
            };
            let segments = segment_count(source.size, segment_size);
            if source.size != present.size {
                continue;
            }
            if !verify && source.mtime == present.mtime {
                counts.files_reused += 1;
                counts.segments_reused += segments;
                plan.unchanged.push(present.name.clone());
            } else {
                // A packed file is hashed as part of its pack's segments.
                if !small(name) {
                    counts.segments_hashed += segments;
                }
                plan.rehash.push(present.name.clone());
            }
        }
        for part in &offer.parts {
            let name = part.name.as_str();
            // A copy under the final name of the source's size comes first.
            let copy = plan.rehash.contains(&part.name) || plan.unchanged.contains(&part.name);
            let usable = !copy && !owned.contains(name) && !small(name);
            let Some(source) = sizes.get(name).filter(|_| usable) else {
                continue;
            };
            if !plan.resume.iter().any(|r| r == name) {
                counts.segments_hashed += segment_count(source.size, segment_size);
                plan.resume.push(part.name.clone());
            }
        }
        let unchanged: HashSet<&str> = plan.unchanged.iter().map(String::as_str).collect();
        let lacks = |name: &&str| !owned.contains(*name) && !unchanged.contains(*name);
        wanted.extend(sizes.keys().copied().filter(lacks));
        // What it lacks: a file it may keep after hashing still counts, as
        // its replacement would need the room beside it.
        let need: u64 = sizes
            .iter()
            .filter(|(name, _)| !owned.contains(*name) && !unchanged.contains(*name))
            .map(|(_, meta)| meta.size)
            .sum();
        needs.push((*rank, offer, need));
        owners.push(owned);
        plans.push(plan);
    }
    if check_space {
        preflight(&needs)?;
    }
    let packs = plan_packs(offers, &entries, &owners, &mut plans, segment_size)?;
    let compared: BTreeSet<String> = plans
        .iter()
        .flat_map(|plan| plan.rehash.iter().chain(&plan.resume))
        .filter(|name| !small(name))
        .cloned()
        .collect();
    let unwanted: Vec<String> = (files.iter().map(|(name, _)| name))
        .filter(|name| !small(name) && !wanted.contains(*name))
        .map(|name| name.to_string())
        .collect();
    for plan in &mut plans {
        plan.compared = compared.iter().cloned().collect();
        plan.unwanted.clone_from(&unwanted);
        let rehash: HashSet<&str> = plan.rehash.iter().map(String::as_str).collect();
        for &index in &plan.fetches {
            let layout = &packs[index as usize];
            let local = |m: usize| rehash.contains(layout.members[m].name.as_str());
            let hashable = layout.hashable(&local);
            counts.segments_hashed += hashable.iter().filter(|&&h| h).count() as u64;
        }
        counts.source_segments_hashed += plan
            .seeds
            .iter()
            .map(|&index| packs[index as usize].segments())
            .sum::<u64>();
        plan.entries = entries.clone();
    }
    // A seeder counted every large file it offers as hashed; it reads no
    // unwanted one.
    let unwanted_set: HashSet<&str> = unwanted.iter().map(String::as_str).collect();
    for (_, offer) in offers.iter().filter(|(_, offer)| !offer.manifest) {
        for entry in &offer.entries {
            if let TreeEntry::File { name, meta, .. } = entry {
                if unwanted_set.contains(name.as_str()) {
                    let segments = segment_count(meta.size, segment_size);
                    // (Saturating: the count is the peer's word, not checked.)
                    counts.source_segments_hashed =
                        counts.source_segments_hashed.saturating_sub(segments);
                }
            }
        }
    }
    // Neither compared nor unwanted files are read in stripes.
    let whole: BTreeSet<String> = compared.iter().chain(&unwanted).cloned().collect();
    let shared = stripes::deal(offers, &whole, segment_size);
    for (plan, stripes) in plans.iter_mut().zip(shared).filter(|_| striped) {
        counts.source_segments_hashed =
            counts.source_segments_hashed.saturating_sub(stripes.unread);
        plan.stripes = stripes.stripes;
    }
    Ok((plans, counts))
}

/// Packs the files of `entries` smaller than a segment ([`pack`]), gives
/// every plan the packs and says which each peer seeds and fetches; the
/// layouts come back, by index, for counting what is hashed. A file's
/// seeders are the peers that offer it with the size the tree lists; its
/// wanters, those that neither offer it nor have it unchanged; its
/// hashers, the wanters with a copy of its size.
fn plan_packs(
    offers: &[(Rank, TreeOffer)],
    entries: &[TreeEntry],
    owners: &[HashSet<&str>],
    plans: &mut [TreePlan],
    segment_size: u64,
) -> Result<Vec<PackLayout>, String> {
    let sizes: Vec<HashMap<&str, u64>> = offers
        .iter()
        .map(|(_, offer)| {
            offer
                .entries
                .iter()
                .filter_map(|entry| match entry {
                    TreeEntry::File { name, meta } => Some((name.as_str(), meta.size)),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let names = |list: fn(&TreePlan) -> &Vec<String>| -> Vec<HashSet<String>> {
        plans
            .iter()
            .map(|plan| list(plan).iter().cloned().collect())
            .collect()
    };
    let unchanged = names(|plan| &plan.unchanged);
    let rehash = names(|plan| &plan.rehash);
    let mut small = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let TreeEntry::File { name, meta } = entry else {
            continue;
        };
        if meta.size >= segment_size {
            continue;
        }
        let name = name.as_str();
        let ranks = |keep: &dyn Fn(usize) -> bool| -> Vec<Rank> {
            (0..offers.len())
                .filter(|&i| keep(i))
                .map(|i| offers[i].0)
                .collect()
        };
        let wants = |i: usize| !owners[i].contains(name) && !unchanged[i].contains(name);
        small.push(SmallFile {
            index: index as u32,
            name,
            size: meta.size,
            seeders: ranks(&|i| sizes[i].get(name) == Some(&meta.size)),
            wanters: ranks(&wants),
            hashers: ranks(&|i| wants(i) && rehash[i].contains(name)),
        });
    }
    let formed = form_packs(small, segment_size);
    let packs: Vec<Pack> = formed.iter().map(|f| f.pack.clone()).collect();
    for ((rank, _), plan) in offers.iter().zip(plans.iter_mut()) {
        for (index, pack) in formed.iter().enumerate() {
            if pack.seeders.contains(rank) {
                plan.seeds.push(index as u32);
            }
            if pack.wanters.contains(rank) {
                plan.fetches.push(index as u32);
            }
        }
        plan.packs.clone_from(&packs);
    }
    packs
        .iter()
        .map(|pack| PackLayout::new(pack, entries, segment_size))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(verify: bool) -> PlanOptions {
        PlanOptions {
            segment_size: 4,
            verify,
            check_space: true,
            stripes: true,
        }
    }

    fn file(name: &str, size: u64, secs: i64) -> TreeEntry {
        let mtime = Mtime { secs, nanos: 5 };
        TreeEntry::File {
            name: name.into(),
            meta: FileMeta {
                size,
                mode: 0o755,
                mtime,
            },
        }
    }

    fn offer(inode: u64, available: u64) -> TreeOffer {
        TreeOffer {
            destination: Destination {
                host: "h".into(),
                device: 1,
                inode,
                path: format!("out/{inode}"),
            },
            available,
            ..TreeOffer::default()
        }
    }

    fn present(name: &str, size: u64, secs: i64) -> Present {
        Present {
            name: name.into(),
            size,
            mtime: Mtime { secs, nanos: 5 },
        }
    }

    #[test]
    fn a_file_of_the_same_size_and_time_is_reused_and_others_are_hashed() {
        let mut seeder = offer(1, 1 << 30);
        seeder.entries = vec![file("a", 10, 1), file("b", 10, 2), file("c", 10, 3)];
        let mut rerun = offer(2, 1 << 30);
        rerun.present = vec![present("a", 10, 1), present("b", 10, 9), present("c", 4, 3)];
        let offers = [(Rank(1), seeder), (Rank(2), rerun)];
        let (plans, counts) = plan_tree(&offers, options(false)).unwrap();
        assert_eq!(plans[1].unchanged, ["a"]);
        assert_eq!(plans[1].rehash, ["b"]);
        assert_eq!(plans[1].entries.len(), 3);
        let expected = RerunCounts {
            files_reused: 1,
            segments_reused: 3,
            segments_hashed: 3,
            source_segments_hashed: 0,
        };
        assert_eq!(counts, expected);
        let (plans, counts) = plan_tree(&offers, options(true)).unwrap();
        assert!(plans[1].unchanged.is_empty());
        assert!(plans[1].resume.is_empty());
        assert_eq!(plans[1].rehash, ["a", "b"]);
        assert_eq!(counts.segments_hashed, 6);
    }

    #[test]
    fn a_temporary_of_a_killed_run_is_resumed_unless_a_copy_comes_first() {
        let mut seeder = offer(1, 1 << 30);
        seeder.entries = vec![file("a", 10, 1), file("b", 10, 2), file("gone", 1, 1)];
        let mut rerun = offer(2, 1 << 30);
        rerun.present = vec![present("b", 10, 9)];
        rerun.parts = vec![
            present("a", 12, 0),
            present("a", 12, 0),
            present("b", 12, 0),
            present("old", 4, 0),
        ];
        let offers = [(Rank(1), seeder), (Rank(2), rerun)];
        let (plans, counts) = plan_tree(&offers, options(false)).unwrap();
        assert_eq!(plans[1].resume, ["a"]);
        assert_eq!(plans[1].rehash, ["b"]);
        assert_eq!(counts.segments_hashed, 6);
    }

    #[test]
    fn folders_on_one_filesystem_share_its_room() {
        let mut seeder = offer(1, 1000);
        seeder.entries = vec![file("a", 600, 1)];
        let offers = [(Rank(1), seeder.clone()), (Rank(2), offer(2, 1000))];
        assert!(plan_tree(&offers, options(false)).is_ok());
        let three = [
            (Rank(1), seeder.clone()),
            (Rank(2), offer(2, 1000)),
            (Rank(3), offer(3, 1000)),
        ];
        let err = plan_tree(&three, options(false)).unwrap_err();
        assert_eq!(
            err,
            "ranks 2, 3 (node h): not enough room in out/2, out/3: 1200 bytes (0.0 MiB) \
             to write, 1000 bytes (0.0 MiB) available (nothing was transferred)"
        );
        // One folder written by two ranks holds one copy.
        let shared = [
            (Rank(1), seeder),
            (Rank(2), offer(2, 1000)),
            (Rank(3), offer(2, 1000)),
        ];
        assert!(plan_tree(&shared, options(false)).is_ok());
    }

    #[test]
    fn small_files_are_packed_by_who_lacks_them_and_hashed_in_their_packs() {
        let mut seeder = offer(1, 1 << 30);
        // With 4-byte segments: "big" is not packed, the others are.
        seeder.entries = vec![
            file("a", 3, 1),
            file("b", 3, 1),
            file("big", 9, 1),
            file("c", 0, 1),
            file("d", 3, 1),
        ];
        seeder.source_segments_hashed = 3;
        let mut fresh = offer(2, 1 << 30);
        fresh.present = vec![present("a", 3, 9)];
        let mut rerun = offer(3, 1 << 30);
        rerun.present = vec![present("a", 3, 1), present("b", 3, 1), present("c", 0, 1)];
        let offers = [(Rank(1), seeder), (Rank(2), fresh), (Rank(3), rerun)];
        let (plans, counts) = plan_tree(&offers, options(false)).unwrap();
        let packs: Vec<(&str, &[u32])> = plans[0]
            .packs
            .iter()
            .map(|p| (p.name.as_str(), p.members.as_slice()))
            .collect();
        // Entries by name: a, b, big, c, d. Rank 3 lacks only d; rank 2
        // has a copy of a to hash, so a goes alone.
        assert_eq!(
            packs,
            [
                ("/pack 1: a", &[0][..]),
                ("/pack 2: b and 1 more", &[1, 3][..]),
                ("/pack 3: d", &[4][..])
            ]
        );
        assert!(plans.iter().all(|plan| plan.packs.len() == 3));
        assert_eq!(plans[0].seeds, [0, 1, 2]);
        assert!(plans[0].fetches.is_empty());
        assert_eq!(plans[1].fetches, [0, 1, 2]);
        assert_eq!(
            plans[2].fetches,
            [2],
            "the packs of what it has are not fetched"
        );
        assert_eq!(plans[1].rehash, ["a"]);
        // Hashed: the source's 3 segments of big and one per pack; rank 2
        // hashes its copy of a, the one segment of pack 1.
        let expected = RerunCounts {
            files_reused: 3,
            segments_reused: 2,
            segments_hashed: 1,
            source_segments_hashed: 6,
        };
        assert_eq!(counts, expected);
    }

    #[test]
    fn what_is_already_there_needs_no_room() {
        let mut seeder = offer(1, 0);
        seeder.entries = vec![file("a", 600, 1)];
        let mut rerun = offer(2, 0);
        rerun.present = vec![present("a", 600, 1)];
        let offers = [(Rank(1), seeder), (Rank(2), rerun)];
        assert!(plan_tree(&offers, options(false)).is_ok());
        let err = plan_tree(&offers, options(true)).unwrap_err();
        assert!(
            err.starts_with("rank 2 (node h): not enough room in out/2: 600"),
            "{err}"
        );
        let unchecked = PlanOptions {
            check_space: false,
            ..options(true)
        };
        assert!(plan_tree(&offers, unchecked).is_ok());
    }
}
