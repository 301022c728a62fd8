//! Packs: the files of a tree smaller than a segment, swarmed together
//! as `tar` would carry them. Rank 0 groups them when it plans the tree
//! ([`form_packs`]); a pack is a virtual file of at most
//! [`PACK_SEGMENTS`] segments whose bytes are its members' bytes
//! concatenated in name order (no headers, no padding: a member may
//! straddle two segments), registered and swarmed like one file and
//! verified segment by segment, so a folder of 20,000 small files is a
//! few swarms instead of 20,000.
//!
//! Files are grouped by who has them and who needs them: the members of
//! one pack have the same seeders (each of which can hash and serve the
//! whole pack) and are wanted by the same ranks. So a rerun that lacks a
//! few files forms packs of just those, and a pack whose members a rank
//! all has is never fetched by it.

use super::{FileMeta, TreeEntry};
use crate::content::segment_count;
use crate::Rank;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The largest pack, in segments: big enough that a pack carries
/// thousands of small files at the default segment size, small enough
/// that its members are written soon after the first of them arrives
/// and that ranks can trade its segments while it moves.
pub const PACK_SEGMENTS: u64 = 4;

/// One pack of a tree plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pack {
    /// Its name in the swarm, `/pack N: FIRST and K more`: it begins with
    /// `/`, which no shared file's (relative) name can, and names its
    /// first member for the messages.
    pub name: String,
    /// Its members in pack order: indices into the plan's entries, each a
    /// [`TreeEntry::File`].
    pub members: Vec<u32>,
}

/// A member of a pack and where its bytes are in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub meta: FileMeta,
    pub offset: u64,
}

/// A pack as a rank uses it: its members with their offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackLayout {
    pub name: String,
    pub members: Vec<Member>,
    /// The sum of the members' sizes.
    pub size: u64,
    pub segment_size: u64,
}

impl PackLayout {
    /// The layout of `pack`, whose members are in `entries` (the plan's),
    /// or why the plan is not one rank 0 would make (bad remote input).
    pub fn new(pack: &Pack, entries: &[TreeEntry], segment_size: u64) -> Result<Self, String> {
        let mut members = Vec::with_capacity(pack.members.len());
        let mut offset = 0u64;
        for &index in &pack.members {
            let Some(TreeEntry::File { name, meta }) = entries.get(index as usize) else {
                return Err(format!(
                    "the plan's pack '{}' lists entry {index}, which is not a file",
                    crate::escape::shown(&pack.name)
                ));
            };
            members.push(Member {
                name: name.clone(),
                meta: *meta,
                offset,
            });
            offset = offset.saturating_add(meta.size);
        }
        if offset > PACK_SEGMENTS.saturating_mul(segment_size) {
            return Err(format!(
                "the plan's pack '{}' holds {offset} bytes, more than {PACK_SEGMENTS} segments",
                crate::escape::shown(&pack.name)
            ));
        }
        Ok(PackLayout {
            name: pack.name.clone(),
            members,
            size: offset,
            segment_size,
        })
    }

    pub fn segments(&self) -> u64 {
        segment_count(self.size, self.segment_size)
    }

    /// The bytes of segment `index` within the pack.
    pub fn segment_range(&self, index: u64) -> Range<u64> {
        let start = (index * self.segment_size).min(self.size);
        start..(start + self.segment_size).min(self.size)
    }

    /// The members with bytes in segment `index` (empty members have
    /// none), in pack order.
    pub fn overlapping(&self, index: u64) -> Range<usize> {
        let range = self.segment_range(index);
        // The first member that ends after the segment starts...
        let first = self
            .members
            .partition_point(|m| m.offset + m.meta.size <= range.start);
        // ... to the first that starts at or after its end.
        let end = self.members.partition_point(|m| m.offset < range.end);
        first..end.max(first)
    }

    /// The segments that hold bytes of member `index` (none if it is
    /// empty).
    pub fn segments_of(&self, index: usize) -> Range<u64> {
        let member = &self.members[index];
        if member.meta.size == 0 {
            return 0..0;
        }
        let first = member.offset / self.segment_size;
        let last = (member.offset + member.meta.size - 1) / self.segment_size;
        first..last + 1
    }

    /// Which segments a rank can hash from copies of its own: those whose
    /// every member is `local` (a copy of the source's size it has).
    pub fn hashable(&self, local: &dyn Fn(usize) -> bool) -> Vec<bool> {
        (0..self.segments())
            .map(|index| self.overlapping(index).all(local))
            .collect()
    }
}

/// A small file of the tree, for [`form_packs`]: its index in the
/// plan's entries, its size, the ranks that seed it, that want it, and
/// (of those) that have a copy of its size to hash.
pub(crate) struct SmallFile<'a> {
    pub index: u32,
    pub name: &'a str,
    pub size: u64,
    pub seeders: Vec<Rank>,
    pub wanters: Vec<Rank>,
    pub hashers: Vec<Rank>,
}

/// A pack being formed, and who seeds and wants it.
pub(crate) struct Formed {
    pub pack: Pack,
    pub seeders: Vec<Rank>,
    pub wanters: Vec<Rank>,
}

/// Groups `files` (in name order) into packs: files with the same
/// seeders, wanters and hashers go into one pack, in order (so a rank
/// whose copies match its pack's hashes fetches none of it), until the
/// next would take it past [`PACK_SEGMENTS`] segments. Deterministic: the
/// packs are numbered in the order their first members come.
pub(crate) fn form_packs(files: Vec<SmallFile>, segment_size: u64) -> Vec<Formed> {
    let limit = PACK_SEGMENTS * segment_size;
    let mut formed: Vec<(Formed, u64, String)> = Vec::new();
    // The pack still open for each group.
    type Group = (Vec<Rank>, Vec<Rank>, Vec<Rank>);
    // (Only looked up, never walked: a hashed map keeps it deterministic.)
    let mut open: FxHashMap<Group, usize> = FxHashMap::default();
    for file in files {
        let key = (file.seeders, file.wanters, file.hashers);
        let current = open
            .get(&key)
            .copied()
            .filter(|&at| formed[at].1 + file.size <= limit);
        let at = match current {
            Some(at) => at,
            None => {
                let pack = Formed {
                    pack: Pack {
                        name: String::new(),
                        members: Vec::new(),
                    },
                    seeders: key.0.clone(),
                    wanters: key.1.clone(),
                };
                formed.push((pack, 0, file.name.to_string()));
                open.insert(key, formed.len() - 1);
                formed.len() - 1
            }
        };
        formed[at].0.pack.members.push(file.index);
        formed[at].1 += file.size;
    }
    formed
        .into_iter()
        .enumerate()
        .map(|(number, (mut formed, _, first))| {
            formed.pack.name = match formed.pack.members.len() {
                1 => format!("/pack {}: {first}", number + 1),
                n => format!("/pack {}: {first} and {} more", number + 1, n - 1),
            };
            formed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Mtime;

    fn file(name: &str, size: u64) -> TreeEntry {
        TreeEntry::File {
            name: name.into(),
            meta: FileMeta {
                size,
                mode: 0o644,
                mtime: Mtime::default(),
            },
        }
    }

    #[test]
    fn members_straddle_segments_and_empty_ones_hold_none() {
        let entries = [file("a", 3), file("e", 0), file("b", 4), file("c", 2)];
        let pack = Pack {
            name: "/pack 1: a and 3 more".into(),
            members: vec![0, 1, 2, 3],
        };
        let layout = PackLayout::new(&pack, &entries, 4).unwrap();
        assert_eq!((layout.size, layout.segments()), (9, 3));
        // a: 0..3, e: 3..3, b: 3..7, c: 7..9.
        assert_eq!(layout.overlapping(0), 0..3, "a, e and b (e has no bytes)");
        assert_eq!(layout.segments_of(1), 0..0);
        assert_eq!(layout.overlapping(1), 2..4);
        assert_eq!(layout.overlapping(2), 3..4);
        assert_eq!(layout.segments_of(2), 0..2);
        assert_eq!(layout.segment_range(2), 8..9);
        let local = |m: usize| m != 3;
        assert_eq!(layout.hashable(&local), [true, false, false]);
        let bad = Pack {
            name: "p".into(),
            members: vec![9],
        };
        assert!(PackLayout::new(&bad, &entries, 4).is_err());
        assert!(
            PackLayout::new(&pack, &entries, 2).is_err(),
            "over 4 segments"
        );
    }

    #[test]
    fn packs_group_by_seeders_and_wanters_up_to_their_size() {
        let small = |index: u32, name: &'static str, size, wanters: &[u32]| SmallFile {
            index,
            name,
            size,
            seeders: vec![Rank(1)],
            wanters: wanters.iter().map(|&r| Rank(r)).collect(),
            hashers: Vec::new(),
        };
        let files = vec![
            small(0, "a", 10, &[2, 3]),
            small(1, "b", 10, &[2]),
            small(2, "c", 10, &[2, 3]),
            small(3, "d", 10, &[2, 3]),
        ];
        let packs = form_packs(files, 8);
        let names: Vec<(&str, &[u32])> = packs
            .iter()
            .map(|f| (f.pack.name.as_str(), f.pack.members.as_slice()))
            .collect();
        assert_eq!(
            names,
            [
                ("/pack 1: a and 2 more", &[0, 2, 3][..]),
                ("/pack 2: b", &[1][..])
            ]
        );
        assert_eq!(packs[1].wanters, [Rank(2)]);
        let full = (0..5).map(|i| small(i, "f", 8, &[2])).collect();
        let sizes: Vec<usize> = form_packs(full, 8)
            .iter()
            .map(|f| f.pack.members.len())
            .collect();
        assert_eq!(sizes, [4, 1], "at most 4 segments of bytes in one pack");
    }
}
