//! A source that several seeders share (one folder on a shared filesystem
//! seen from several nodes, `--seeders all`): each file is read once in
//! all, as mpifileutils' `dbcast` reads disjoint stripes in parallel.
//!
//! When every seeder that offers a file lists it with the same size and
//! modification time, the plan takes them for one copy and deals the
//! file's segments into contiguous stripes, one per seeder in rank order
//! (segments `n * j / K .. n * (j + 1) / K` for the `j`-th of `K`), so
//! that each reads its stripe sequentially. A seeder hashes and serves
//! its stripe only, and the tracker counts it as holding only that (see
//! the tracker's `late.rs`); the rest comes from the other seeders and
//! the swarm. A seeder dealt no segment (a file of fewer segments than
//! seeders) does not register the file at all.
//!
//! What it relies on: size and time equal means the same bytes. Seeders
//! that read different copies of a file of one size and time (copies on
//! local disks, touched alike) are no longer compared with each other,
//! since none reads another's stripe; each segment is still verified
//! against the hash its reader computed. A file whose seeders differ in
//! size or time is not striped: every seeder reads all of it and the
//! tracker compares their hashes, as with one seeder per copy.
//!
//! Not striped either: files smaller than a segment (they travel in
//! packs, which each of their seeders hashes whole), files some rank
//! compares with a copy at its destination (their seeders hash them
//! before registering, so the tracker can match the copies), and
//! `--manifest` jobs (nothing is hashed; under `tree` the feeder fetches
//! each segment once, from one seeder, anyway).

use super::{TreeEntry, TreeOffer};
use crate::content::segment_count;
use crate::{Rank, SegmentIdx, Stripe};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeSet;

/// A listing's size and time, `None` where the name is not a regular file
/// (or its hashes come from a manifest): listings are one copy when these
/// are equal.
type Listed = Option<(u64, super::Mtime)>;

/// One seeder's share of the shared files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeederStripes {
    /// The stripe it reads of each file it shares with other seeders.
    pub stripes: Vec<Stripe>,
    /// Segments of its source it no longer hashes (the other seeders'
    /// stripes), out of those its offer counted.
    pub unread: u64,
}

/// The stripes of every offer (in the order of `offers`): of each file of
/// at least a segment that several seeders list with one size and time,
/// but not of the files in `whole` (files some rank compares, read whole
/// by each seeder, and files nobody fetches, not read at all).
pub fn deal(
    offers: &[(Rank, TreeOffer)],
    whole: &BTreeSet<String>,
    segment_size: u64,
) -> Vec<SeederStripes> {
    // Each name's listings: the offer and the file's size and time.
    // Only a file of a segment or more is read in stripes: the names no
    // offer lists as one (most of a tree of small files) are left out.
    let large: HashSet<&str> = (offers.iter().flat_map(|(_, offer)| &offer.entries))
        .filter(|entry| matches!(entry, TreeEntry::File { meta, .. } if meta.size >= segment_size))
        .map(TreeEntry::name)
        .collect();
    let mut by_name: HashMap<&str, Vec<(usize, Listed)>> = HashMap::default();
    for (at, (_, offer)) in offers.iter().enumerate() {
        for entry in offer.entries.iter().filter(|e| large.contains(e.name())) {
            let meta = match entry {
                TreeEntry::File { meta, .. } if !offer.manifest => Some((meta.size, meta.mtime)),
                _ => None,
            };
            by_name.entry(entry.name()).or_default().push((at, meta));
        }
    }
    // Only names several seeders list can be shared, dealt in name order.
    let mut shared: Vec<_> = by_name.into_iter().filter(|(_, l)| l.len() >= 2).collect();
    shared.sort_unstable_by_key(|&(name, _)| name);
    let mut dealt = vec![SeederStripes::default(); offers.len()];
    for (name, listings) in shared {
        let Some((size, _)) = listings[0].1 else {
            continue;
        };
        let one_copy = listings.iter().all(|l| l.1 == listings[0].1);
        if listings.len() < 2 || !one_copy || size < segment_size || whole.contains(name) {
            continue;
        }
        let segments = segment_count(size, segment_size);
        let seeders = listings.len() as u64;
        for (j, &(at, _)) in listings.iter().enumerate() {
            let j = j as u64;
            let (first, end) = (segments * j / seeders, segments * (j + 1) / seeders);
            dealt[at].unread += segments - (end - first);
            dealt[at].stripes.push(Stripe {
                name: name.to_string(),
                first: first as SegmentIdx,
                end: end as SegmentIdx,
            });
        }
    }
    dealt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{FileMeta, Mtime};

    fn seeder(files: &[(&str, u64, i64)]) -> TreeOffer {
        let entries = files
            .iter()
            .map(|&(name, size, secs)| TreeEntry::File {
                name: name.into(),
                meta: FileMeta {
                    size,
                    mode: 0o644,
                    mtime: Mtime { secs, nanos: 0 },
                },
            })
            .collect();
        TreeOffer {
            entries,
            ..TreeOffer::default()
        }
    }

    fn ranges(dealt: &SeederStripes) -> Vec<(&str, u32, u32)> {
        let stripes = dealt.stripes.iter();
        stripes.map(|s| (s.name.as_str(), s.first, s.end)).collect()
    }

    #[test]
    fn seeders_of_one_copy_read_contiguous_stripes_that_cover_it_once() {
        let files = [("big", 40, 1), ("odd", 10, 1), ("small", 3, 1)];
        let offers: Vec<(Rank, TreeOffer)> = (1..=3).map(|r| (Rank(r), seeder(&files))).collect();
        let dealt = deal(&offers, &BTreeSet::new(), 4);
        assert_eq!(ranges(&dealt[0]), [("big", 0, 3), ("odd", 0, 1)]);
        assert_eq!(ranges(&dealt[1]), [("big", 3, 6), ("odd", 1, 2)]);
        assert_eq!(ranges(&dealt[2]), [("big", 6, 10), ("odd", 2, 3)]);
        assert_eq!(dealt[0].unread, 7 + 2);
        assert_eq!(dealt[2].unread, 6 + 2);
        // A file of fewer segments than seeders: the first gets nothing.
        let wide = deal(&offers, &BTreeSet::new(), 8);
        assert_eq!(ranges(&wide[0]), [("big", 0, 1), ("odd", 0, 0)]);
        assert_eq!(ranges(&wide[1]), [("big", 1, 3), ("odd", 0, 1)]);
        assert_eq!(ranges(&wide[2]), [("big", 3, 5), ("odd", 1, 2)]);
    }

    #[test]
    fn copies_that_differ_compared_files_and_manifests_are_not_striped() {
        let offers = vec![
            (Rank(1), seeder(&[("a", 40, 1), ("b", 40, 1), ("c", 40, 1)])),
            (Rank(2), seeder(&[("a", 40, 2), ("b", 44, 1), ("c", 40, 1)])),
            (Rank(3), seeder(&[("d", 40, 1)])),
        ];
        let compared = BTreeSet::from(["c".to_string()]);
        let dealt = deal(&offers, &compared, 4);
        assert!(dealt.iter().all(|d| d.stripes.is_empty()), "{dealt:?}");
        let mut manifest = offers[1].clone();
        manifest.1.manifest = true;
        let dealt = deal(&[offers[0].clone(), manifest], &BTreeSet::new(), 4);
        assert!(dealt.iter().all(|d| d.stripes.is_empty()), "{dealt:?}");
    }
}
