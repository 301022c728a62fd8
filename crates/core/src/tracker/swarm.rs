//! One file's swarm as the tracker sees it: who holds which segments, how
//! to answer "who can serve this file?" (every holder, or a bounded random
//! sample of them) and, for the rarest-first strategy, which segments are
//! rarest and who holds them.

use crate::{Hint, Owner, Rank, SegmentIdx};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BinaryHeap};

/// The most segments one rarest-first hint search looks at.
pub(super) const HINT_SCAN_LIMIT: usize = 4096;

/// How one rank stands in a file's swarm.
#[derive(Clone, Debug)]
struct Member {
    seed: bool,
    /// Which segments the rank reported holding (all set for a seed).
    held: Vec<bool>,
    held_count: u32,
}

impl Member {
    fn new(segments: usize, seed: bool) -> Self {
        Member {
            seed,
            held: vec![seed; segments],
            held_count: if seed { segments as u32 } else { 0 },
        }
    }
}

/// One file: its contents and its swarm.
#[derive(Debug)]
pub(super) struct FileSwarm {
    pub name: String,
    pub hashes: Vec<String>,
    /// The ranks that owned the file at registration.
    pub initial_owners: Vec<Rank>,
    members: BTreeMap<Rank, Member>,
    /// For each segment, every rank known to hold it (seeds included).
    holders: Vec<Vec<Rank>>,
}

impl FileSwarm {
    pub fn new(name: String, hashes: Vec<String>, owners: Vec<Rank>) -> Self {
        let segments = hashes.len();
        let members = owners
            .iter()
            .map(|&rank| (rank, Member::new(segments, true)))
            .collect();
        FileSwarm {
            name,
            holders: vec![owners.clone(); segments],
            hashes,
            initial_owners: owners,
            members,
        }
    }

    fn segments(&self) -> usize {
        self.hashes.len()
    }

    /// Adds a rank that is fetching the file (a peer of the swarm).
    pub fn join(&mut self, rank: Rank) {
        let segments = self.segments();
        self.members
            .entry(rank)
            .or_insert_with(|| Member::new(segments, false));
    }

    /// Records that `rank` now holds `index`; false if the index is out of
    /// range (a protocol error).
    pub fn record(&mut self, rank: Rank, index: SegmentIdx) -> bool {
        let segments = self.segments();
        let Some(slot) = self.holders.get_mut(index as usize) else {
            return false;
        };
        let member = self
            .members
            .entry(rank)
            .or_insert_with(|| Member::new(segments, false));
        if !member.held[index as usize] {
            member.held[index as usize] = true;
            member.held_count += 1;
            slot.push(rank);
        }
        true
    }

    /// Makes `rank` a seed: it holds every segment.
    pub fn complete(&mut self, rank: Rank) {
        for index in 0..self.segments() as SegmentIdx {
            self.record(rank, index);
        }
        if let Some(member) = self.members.get_mut(&rank) {
            member.seed = true;
        }
    }

    /// Segments `rank` reported holding.
    pub fn held_by(&self, rank: Rank) -> u32 {
        self.members.get(&rank).map_or(0, |m| m.held_count)
    }

    /// The owners `requester` may ask: every member but itself holding at
    /// least one segment, or with `sample` set and more of them than that,
    /// a random sample that always includes a seed (so every segment stays
    /// reachable). Peers holding nothing are left out: they could only NACK.
    pub fn owners_for(
        &self,
        requester: Rank,
        load: &[u32],
        sample: Option<usize>,
        rng: &mut ChaCha8Rng,
    ) -> Vec<Owner> {
        let owner = |(&rank, member): (&Rank, &Member)| Owner {
            rank,
            seed: member.seed,
            held: member.held_count,
            load: load.get(rank.index()).copied().unwrap_or(0),
        };
        let mut owners: Vec<Owner> = self
            .members
            .iter()
            .filter(|(&rank, member)| rank != requester && member.held_count > 0)
            .map(owner)
            .collect();
        let Some(sample) = sample.filter(|&s| owners.len() > s.max(1)) else {
            return owners;
        };
        owners.shuffle(rng);
        owners.truncate(sample.max(1));
        if !owners.iter().any(|o| o.seed) {
            let seeds: Vec<Owner> = self
                .members
                .iter()
                .filter(|(&rank, member)| rank != requester && member.seed)
                .map(owner)
                .collect();
            if let Some(&seed) = seeds.choose(rng) {
                owners[0] = seed;
            }
        }
        owners.sort_by_key(|o| o.rank);
        owners
    }

    /// Up to `count` of the rarest segments `requester` has not reported,
    /// each with a holder to fetch it from (the least loaded of a few
    /// candidates). The scan starts at a random segment so that peers
    /// asking at the same time get different segments of equal rarity, and
    /// looks at no more than [`HINT_SCAN_LIMIT`] segments, so that a refresh
    /// of a 100,000-segment file costs no more than one of a small file
    /// (the rarest of a random stretch, rather than of the whole file).
    pub fn rarest_hints(
        &self,
        requester: Rank,
        count: usize,
        load: &[u32],
        rng: &mut ChaCha8Rng,
    ) -> Vec<Hint> {
        let segments = self.segments();
        if count == 0 || segments == 0 {
            return Vec::new();
        }
        let held = self.members.get(&requester).map(|m| &m.held);
        let start = rng.gen_range(0..segments);
        let scan = segments.min(HINT_SCAN_LIMIT);
        // A max-heap of (rarity, scan position) keeps the `count` rarest.
        let mut rarest: BinaryHeap<(usize, usize, SegmentIdx)> = BinaryHeap::new();
        for step in 0..scan {
            let index = (start + step) % segments;
            if held.is_some_and(|h| h[index]) {
                continue;
            }
            let entry = (self.holders[index].len(), step, index as SegmentIdx);
            if rarest.len() < count {
                rarest.push(entry);
            } else if rarest.peek().is_some_and(|top| entry < *top) {
                rarest.pop();
                rarest.push(entry);
            }
        }
        let mut hints: Vec<(usize, usize, SegmentIdx)> = rarest.into_vec();
        hints.sort_unstable();
        hints
            .into_iter()
            .filter_map(|(_, _, index)| {
                let holder = self.pick_holder(index, requester, load, rng)?;
                Some((index, holder))
            })
            .collect()
    }

    /// The least loaded of up to four random holders of `index`.
    fn pick_holder(
        &self,
        index: SegmentIdx,
        requester: Rank,
        load: &[u32],
        rng: &mut ChaCha8Rng,
    ) -> Option<Rank> {
        let holders = &self.holders[index as usize];
        let load_of = |rank: Rank| load.get(rank.index()).copied().unwrap_or(0);
        (0..4)
            .filter_map(|_| holders.choose(rng).copied())
            .filter(|&rank| rank != requester)
            .min_by_key(|&rank| load_of(rank))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn swarm(segments: usize, seeds: &[u32]) -> FileSwarm {
        let hashes = (0..segments).map(|i| format!("h{i}")).collect();
        FileSwarm::new("f".into(), hashes, seeds.iter().map(|&r| Rank(r)).collect())
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(1)
    }

    #[test]
    fn owners_leave_out_the_requester_and_empty_members() {
        let mut s = swarm(4, &[1]);
        s.join(Rank(2));
        s.join(Rank(3));
        s.record(Rank(3), 2);
        let load = vec![0, 7, 0, 1];
        let owners = s.owners_for(Rank(2), &load, None, &mut rng());
        let ranks: Vec<u32> = owners.iter().map(|o| o.rank.0).collect();
        assert_eq!(ranks, vec![1, 3]);
        assert_eq!(owners[0].load, 7);
        assert!(owners[0].seed && !owners[1].seed);
        assert_eq!(owners[1].held, 1);
    }

    #[test]
    fn a_sample_is_bounded_and_keeps_a_seed() {
        let mut s = swarm(2, &[1]);
        for rank in 2..40 {
            s.record(Rank(rank), 0);
        }
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let owners = s.owners_for(Rank(50), &[], Some(5), &mut rng);
            assert_eq!(owners.len(), 5);
            assert!(owners.iter().any(|o| o.seed), "seed {seed}: {owners:?}");
        }
        assert_eq!(s.owners_for(Rank(50), &[], Some(100), &mut rng()).len(), 39);
    }

    #[test]
    fn hints_name_the_rarest_segments_and_a_holder() {
        let mut s = swarm(6, &[1]);
        for index in [0, 1, 2, 4] {
            s.record(Rank(2), index);
        }
        s.record(Rank(3), 0);
        // Rank 4 has nothing: segments 3 and 5 (only the seed) are rarest.
        let hints = s.rarest_hints(Rank(4), 2, &[], &mut rng());
        let mut indices: Vec<u32> = hints.iter().map(|h| h.0).collect();
        indices.sort();
        assert_eq!(indices, vec![3, 5]);
        assert!(hints.iter().all(|h| h.1 == Rank(1)));
        // Rank 2 is never hinted what it already reported.
        let hints = s.rarest_hints(Rank(2), 10, &[], &mut rng());
        assert!(
            hints.iter().all(|h| ![0, 1, 2, 4].contains(&h.0)),
            "{hints:?}"
        );
    }

    #[test]
    fn completion_makes_a_seed() {
        let mut s = swarm(3, &[1]);
        s.join(Rank(2));
        s.record(Rank(2), 1);
        s.complete(Rank(2));
        assert_eq!(s.held_by(Rank(2)), 3);
        let owners = s.owners_for(Rank(3), &[], None, &mut rng());
        assert!(owners.iter().all(|o| o.seed));
        assert!(!s.record(Rank(2), 3), "out of range");
    }
}
