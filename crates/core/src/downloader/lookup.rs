//! The small tables an active download looks things up in on every
//! segment: its requests in flight (at most a window of them) and its
//! owner list.
//!
//! Both are plain vectors. A download touches them once or more per
//! segment, and in a large swarm (or the simulator at 10,000 peers) they
//! have dropped out of the caches since the last time: a short linear or
//! binary search of one contiguous block costs fewer cache misses, and no
//! hashing, next to a hash map's control bytes and buckets.

use crate::{Owner, Rank, SegmentIdx};

/// A map from segment to `V` for a handful of entries (a window of
/// requests), kept in no order.
#[derive(Clone, Debug)]
pub(super) struct SegmentMap<V> {
    entries: Vec<(SegmentIdx, V)>,
}

impl<V> Default for SegmentMap<V> {
    fn default() -> Self {
        SegmentMap {
            entries: Vec::new(),
        }
    }
}

impl<V> SegmentMap<V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn position(&self, index: SegmentIdx) -> Option<usize> {
        self.entries.iter().position(|&(i, _)| i == index)
    }

    pub fn contains_key(&self, index: SegmentIdx) -> bool {
        self.position(index).is_some()
    }

    pub fn get(&self, index: SegmentIdx) -> Option<&V> {
        self.position(index).map(|at| &self.entries[at].1)
    }

    pub fn get_mut(&mut self, index: SegmentIdx) -> Option<&mut V> {
        self.position(index).map(|at| &mut self.entries[at].1)
    }

    /// Sets the value of `index`, replacing any there was.
    pub fn insert(&mut self, index: SegmentIdx, value: V) {
        match self.get_mut(index) {
            Some(old) => *old = value,
            None => self.entries.push((index, value)),
        }
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) the entries.
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self) {
        crate::prefetch::lines(&self.entries[..], 2);
    }

    pub fn remove(&mut self, index: SegmentIdx) -> Option<V> {
        let at = self.position(index)?;
        Some(self.entries.swap_remove(at).1)
    }
}

/// The owners a download may ask, as the tracker named them (without the
/// downloader itself), with their ranks apart when they are sorted, as the
/// tracker sends them: then a rank is found by binary search over 4 bytes
/// an owner rather than 16 (a few cache lines, which the simulator's
/// prefetch can load, rather than a dozen).
#[derive(Clone, Debug, Default)]
pub(crate) struct OwnerList {
    list: Vec<Owner>,
    /// The ranks of `list`, if they strictly increase; empty otherwise.
    sorted_ranks: Vec<Rank>,
}

impl OwnerList {
    /// Everyone in `owners` but `me`.
    pub fn new(owners: Vec<Owner>, me: Rank) -> Self {
        let list: Vec<Owner> = owners.into_iter().filter(|o| o.rank != me).collect();
        let sorted = list.windows(2).all(|w| w[0].rank < w[1].rank);
        let sorted_ranks = match sorted {
            true => list.iter().map(|o| o.rank).collect(),
            false => Vec::new(),
        };
        OwnerList { list, sorted_ranks }
    }

    /// The first position of `rank` in the list.
    pub fn position_of(&self, rank: Rank) -> Option<usize> {
        if self.sorted_ranks.len() == self.list.len() {
            self.sorted_ranks.binary_search(&rank).ok()
        } else {
            self.list.iter().position(|o| o.rank == rank)
        }
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) what
    /// [`OwnerList::position_of`] reads (up to a few lines of it).
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self) {
        crate::prefetch::lines(&self.sorted_ranks[..], 4);
    }
}

impl std::ops::Deref for OwnerList {
    type Target = [Owner];

    fn deref(&self) -> &[Owner] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(rank: u32) -> Owner {
        Owner {
            rank: Rank(rank),
            seed: false,
            held: 1,
            load: 0,
        }
    }

    #[test]
    fn a_segment_map_inserts_replaces_and_removes() {
        let mut map = SegmentMap::default();
        map.insert(7, 'a');
        map.insert(3, 'b');
        map.insert(7, 'c');
        assert_eq!(
            (map.len(), map.get(7), map.get(3)),
            (2, Some(&'c'), Some(&'b'))
        );
        assert_eq!(map.remove(7), Some('c'));
        assert_eq!(map.remove(7), None);
        assert!(!map.contains_key(7) && map.contains_key(3));
    }

    #[test]
    fn owners_are_found_in_sorted_and_unsorted_lists() {
        let sorted = OwnerList::new(vec![owner(2), owner(5), owner(9), owner(12)], Rank(9));
        assert_eq!(sorted.len(), 3);
        assert_eq!(sorted.position_of(Rank(12)), Some(2));
        assert_eq!(sorted.position_of(Rank(9)), None);
        let mixed = OwnerList::new(vec![owner(5), owner(2), owner(5)], Rank(1));
        assert_eq!(mixed.position_of(Rank(5)), Some(0), "the first one");
        assert_eq!(mixed.position_of(Rank(2)), Some(1));
        assert_eq!(mixed.position_of(Rank(3)), None);
    }
}
