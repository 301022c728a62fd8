//! One file's swarm as the tracker sees it: who holds which segments, how
//! to answer "who can serve this file?" (every holder, or a bounded random
//! sample of them), and the state from which a strategy's
//! `HintPolicy` chooses its hints: how rare
//! each segment is and who holds it.
//!
//! Every answer costs time independent of the swarm's size (apart from a
//! full, unsampled owner list): the members holding something and the seeds
//! are kept in lists as they change, so a sample is drawn from them
//! directly rather than by walking every member. At 10,000 peers that
//! refresh every 10 segments, a walk would be 10^10 steps.

use super::rarity::RarityOrder;
use super::segments::SegmentSet;
#[cfg(feature = "sim-speed")]
use crate::prefetch::{self, Depth};
use crate::strategy::{Ask, HintRequest, Pacing, TreePlan};
use crate::{Hint, Owner, Rank, SegmentIdx};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::ops::Range;

/// How one rank stands in a file's swarm.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub seed: bool,
    /// Which segments the rank reported holding (all of them for a seed).
    pub held: SegmentSet,
    held_count: u32,
    /// Its position in [`FileSwarm::holding`], once it holds a segment.
    holding_slot: Option<usize>,
}

impl Member {
    fn new(segments: usize, seed: bool) -> Self {
        Member {
            seed,
            held: SegmentSet::new(segments, seed),
            held_count: if seed { segments as u32 } else { 0 },
            holding_slot: None,
        }
    }
}

/// The members of a swarm, indexed by rank: ranks are small and dense,
/// and a lookup per owner named or segment reported must be cheap.
#[derive(Debug, Default)]
pub(crate) struct Members(Vec<Option<Member>>);

impl Members {
    pub fn get(&self, rank: Rank) -> Option<&Member> {
        self.0.get(rank.index())?.as_ref()
    }

    fn get_mut(&mut self, rank: Rank) -> Option<&mut Member> {
        self.0.get_mut(rank.index())?.as_mut()
    }

    fn insert(&mut self, rank: Rank, member: Member) {
        if self.0.len() <= rank.index() {
            self.0.resize_with(rank.index() + 1, || None);
        }
        self.0[rank.index()] = Some(member);
    }

    fn remove(&mut self, rank: Rank) -> Option<Member> {
        self.0.get_mut(rank.index())?.take()
    }
}

/// One file: its contents and its swarm.
#[derive(Debug)]
pub(crate) struct FileSwarm {
    pub name: String,
    pub hashes: Vec<String>,
    /// The ranks that owned the file at registration.
    pub initial_owners: Vec<Rank>,
    pub members: Members,
    /// Members holding at least one segment (the ones worth naming as
    /// owners), in no particular order.
    holding: Vec<Rank>,
    /// Members holding every segment.
    pub seeds: Vec<Rank>,
    /// For each segment, the ranks known to hold it (seeds included). Ranks
    /// that left stay listed until enough of a list is stale to be worth
    /// compacting; `stale` counts them and `departed` names them.
    pub holders: Vec<Vec<Rank>>,
    stale: Vec<u32>,
    pub departed: BTreeSet<Rank>,
    /// The segments by how many ranks hold them, or were hinted them.
    pub rarity: RarityOrder,
    /// The paced strategy's count of what each holder owes.
    pub pacing: Pacing,
    /// The tree strategy's plan.
    pub tree: TreePlan,
    /// Requests for hints that found none and wait (see `waiting.rs`).
    pub waiting: super::waiting::Waiting,
    /// Seeders that read only a stripe of the file, with their stripes
    /// (`share` with several seeders of one source); empty otherwise.
    pub stripes: Vec<(Rank, Range<SegmentIdx>)>,
}

impl FileSwarm {
    pub fn new(name: String, hashes: Vec<String>, owners: Vec<Rank>) -> Self {
        let segments = hashes.len();
        let mut swarm = FileSwarm {
            name,
            holders: vec![owners.clone(); segments],
            stale: vec![0; segments],
            rarity: RarityOrder::new(segments, 0),
            pacing: Pacing::new(segments),
            tree: TreePlan::default(),
            waiting: Default::default(),
            stripes: Vec::new(),
            hashes,
            initial_owners: owners.clone(),
            members: Members::default(),
            holding: Vec::new(),
            seeds: Vec::new(),
            departed: BTreeSet::new(),
        };
        for rank in owners {
            if swarm.members.get(rank).is_some() {
                continue;
            }
            swarm.members.insert(rank, Member::new(segments, true));
            swarm.seeds.push(rank);
            for index in 0..segments as SegmentIdx {
                swarm.rarity.add_holder(index);
            }
            if segments > 0 {
                swarm.list_holding(rank);
            }
        }
        swarm
    }

    pub fn segments(&self) -> usize {
        self.hashes.len()
    }

    /// The seeder that reads segment `index`, if the file is read in
    /// stripes (each segment by one seeder).
    pub fn reader(&self, index: SegmentIdx) -> Option<Rank> {
        let mut stripes = self.stripes.iter();
        stripes
            .find(|(_, s)| s.contains(&index))
            .map(|&(rank, _)| rank)
    }

    /// Whether `rank` reads only a stripe of the file.
    pub fn reads_stripe(&self, rank: Rank) -> bool {
        self.stripes.iter().any(|&(r, _)| r == rank)
    }

    /// Adds a rank that is fetching the file (a peer of the swarm); false
    /// if the rank left this swarm before (it cannot come back).
    pub fn join(&mut self, rank: Rank) -> bool {
        if self.departed.contains(&rank) {
            return false;
        }
        if self.members.get(rank).is_none() {
            let segments = self.segments();
            self.members.insert(rank, Member::new(segments, false));
        }
        true
    }

    /// Lists `rank` among the members holding something.
    fn list_holding(&mut self, rank: Rank) {
        let slot = self.holding.len();
        if let Some(member) = self.members.get_mut(rank) {
            if member.holding_slot.is_none() {
                member.holding_slot = Some(slot);
                self.holding.push(rank);
                self.pacing.may_owe(rank);
            }
        }
    }

    /// Records that `rank` now holds `index`; false if the index is out of
    /// range or the rank left the swarm (a protocol error).
    pub fn record(&mut self, rank: Rank, index: SegmentIdx) -> bool {
        if index as usize >= self.segments() || !self.join(rank) {
            return false;
        }
        let member = self.members.get_mut(rank).expect("joined above");
        if !member.held.insert(index) {
            return true;
        }
        member.held_count += 1;
        let first = member.held_count == 1;
        self.holders[index as usize].push(rank);
        self.pacing.holder_got(rank, index);
        // A hinted segment counts as held from the hint on.
        if !self.pacing.reported(rank, index) {
            self.rarity.add_holder(index);
        }
        if first {
            self.list_holding(rank);
        }
        true
    }

    /// Makes `rank` a seed: it holds every segment. False if it left.
    pub fn complete(&mut self, rank: Rank) -> bool {
        for index in 0..self.segments() as SegmentIdx {
            if !self.record(rank, index) {
                return false;
            }
        }
        if !self.join(rank) {
            return false;
        }
        // Recording every segment settled every hint it was given.
        let member = self.members.get_mut(rank).expect("joined above");
        if !member.seed {
            member.seed = true;
            self.seeds.push(rank);
        }
        true
    }

    /// Removes `rank` from the swarm: it holds nothing any more and is never
    /// named again. Returns false if it would take the last seed with it
    /// (the file could no longer be completed); then nothing changes.
    pub fn leave(&mut self, rank: Rank) -> bool {
        let Some(member) = self.members.get(rank) else {
            self.departed.insert(rank);
            return true;
        };
        if member.seed && self.seeds.len() == 1 && self.segments() > 0 {
            return false;
        }
        let member = self.members.remove(rank).expect("checked above");
        self.departed.insert(rank);
        for (index, _) in self.pacing.left(rank) {
            self.rarity.remove_holder(index);
        }
        if member.seed {
            self.seeds.retain(|&r| r != rank);
        }
        if let Some(slot) = member.holding_slot {
            self.holding.swap_remove(slot);
            if let Some(&moved) = self.holding.get(slot) {
                let moved = self
                    .members
                    .get_mut(moved)
                    .expect("holding ranks are members");
                moved.holding_slot = Some(slot);
            }
        }
        for index in member.held.iter() {
            self.rarity.remove_holder(index);
            let index = index as usize;
            self.stale[index] += 1;
            let list = &mut self.holders[index];
            if 2 * self.stale[index] as usize > list.len() {
                let departed = &self.departed;
                list.retain(|r| !departed.contains(r));
                self.stale[index] = 0;
            }
        }
        true
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) what an
    /// update from `rank` reads: its member entry, then the segments it
    /// holds and the hints it was given.
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self, rank: Rank, depth: Depth) {
        match depth {
            Depth::Fields => {
                if let Some(slot) = self.members.0.get(rank.index()) {
                    prefetch::lines(slot, 2);
                }
                self.pacing.prefetch(rank, false);
            }
            Depth::Pointees => {
                if let Some(member) = self.members.get(rank) {
                    member.held.prefetch();
                }
                self.pacing.prefetch(rank, true);
            }
            Depth::Beyond => {}
        }
    }

    /// Segments `rank` reported holding.
    pub fn held_by(&self, rank: Rank) -> u32 {
        self.members.get(rank).map_or(0, |m| m.held_count)
    }

    fn owner(&self, rank: Rank, load: &[u32]) -> Owner {
        let member = self.members.get(rank).expect("owners are members");
        Owner {
            rank,
            seed: member.seed,
            held: member.held_count,
            load: load.get(rank.index()).copied().unwrap_or(0),
        }
    }

    /// The owners `requester` may ask: every member but itself holding at
    /// least one segment, or with `sample` set and more of them than that,
    /// a random sample that always includes a seed (so every segment stays
    /// reachable). Peers holding nothing are left out: they could only NACK.
    /// Sorted by rank. A sample costs O(sample), whatever the swarm's size.
    pub fn owners_for(
        &self,
        requester: Rank,
        load: &[u32],
        sample: Option<usize>,
        rng: &mut ChaCha8Rng,
    ) -> Vec<Owner> {
        let requester_holds = self
            .members
            .get(requester)
            .is_some_and(|m| m.holding_slot.is_some());
        let eligible = self.holding.len() - usize::from(requester_holds);
        let mut ranks: Vec<Rank> = match sample.filter(|&s| eligible > s.max(1)) {
            None => self
                .holding
                .iter()
                .copied()
                .filter(|&r| r != requester)
                .collect(),
            Some(sample) => {
                let size = sample.max(1);
                // One more than needed, in case the requester is drawn.
                let draw = (size + 1).min(self.holding.len());
                let mut ranks: Vec<Rank> = rand::seq::index::sample(rng, self.holding.len(), draw)
                    .into_iter()
                    .map(|i| self.holding[i])
                    .filter(|&r| r != requester)
                    .collect();
                ranks.truncate(size);
                // A seed that stays: a rank that owned the file from the
                // start never leaves its swarm, where one that completed it
                // may (then a list of such ranks alone would leave the
                // requester nobody to ask).
                let stays = |r: Rank| self.is_seed(r) && self.initial_owners.contains(&r);
                if !ranks.iter().any(|&r| stays(r)) {
                    let staying: Vec<Rank> =
                        self.seeds.iter().copied().filter(|&r| stays(r)).collect();
                    let pool = if staying.is_empty() {
                        &self.seeds
                    } else {
                        &staying
                    };
                    // A random one; the requester is at most one of them.
                    let seed = (0..2)
                        .filter_map(|_| pool.choose(rng).copied())
                        .chain(pool.iter().copied())
                        .find(|&r| r != requester);
                    if let Some(seed) = seed {
                        ranks[0] = seed;
                    }
                }
                ranks
            }
        };
        ranks.sort_unstable();
        ranks.into_iter().map(|r| self.owner(r, load)).collect()
    }

    fn is_seed(&self, rank: Rank) -> bool {
        self.members.get(rank).is_some_and(|m| m.seed)
    }

    /// The hints that answer `request`, chosen by the policy it names.
    pub fn hints(
        &mut self,
        requester: Rank,
        request: HintRequest,
        load: &[u32],
        mates: &[Rank],
        rng: &mut ChaCha8Rng,
    ) -> Vec<Hint> {
        let ask = Ask {
            requester,
            count: request.count as usize,
            load,
            mates,
        };
        request.kind.policy().hints(self, ask, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::HintKind;
    use rand::SeedableRng;

    fn swarm(segments: usize, seeds: &[u32]) -> FileSwarm {
        let hashes = (0..segments).map(|i| format!("h{i}")).collect();
        FileSwarm::new("f".into(), hashes, seeds.iter().map(|&r| Rank(r)).collect())
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(1)
    }

    fn ranks(owners: &[Owner]) -> Vec<u32> {
        owners.iter().map(|o| o.rank.0).collect()
    }

    #[test]
    fn owners_leave_out_the_requester_and_empty_members() {
        let mut s = swarm(4, &[1]);
        s.join(Rank(2));
        s.join(Rank(3));
        s.record(Rank(3), 2);
        let load = vec![0, 7, 0, 1];
        let owners = s.owners_for(Rank(2), &load, None, &mut rng());
        assert_eq!(ranks(&owners), vec![1, 3]);
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
            let mut distinct = ranks(&owners);
            distinct.dedup();
            assert_eq!(distinct.len(), 5, "sorted and distinct: {owners:?}");
            // A member asking is never in its own sample.
            let owners = s.owners_for(Rank(7), &[], Some(5), &mut rng);
            assert_eq!(owners.len(), 5);
            assert!(owners.iter().all(|o| o.rank != Rank(7)), "{owners:?}");
        }
        assert_eq!(s.owners_for(Rank(50), &[], Some(100), &mut rng()).len(), 39);
        // 39 members holding something, the requester among them: 38 fit in 38.
        assert_eq!(s.owners_for(Rank(2), &[], Some(38), &mut rng()).len(), 38);
    }

    #[test]
    fn completion_makes_a_seed() {
        let mut s = swarm(3, &[1]);
        s.join(Rank(2));
        s.record(Rank(2), 1);
        assert!(s.complete(Rank(2)));
        assert_eq!(s.held_by(Rank(2)), 3);
        let owners = s.owners_for(Rank(3), &[], None, &mut rng());
        assert!(owners.iter().all(|o| o.seed));
        assert!(!s.record(Rank(2), 3), "out of range");
        // A sample of one from two seeds is still a seed.
        let owners = s.owners_for(Rank(3), &[], Some(1), &mut rng());
        assert!(owners.len() == 1 && owners[0].seed, "{owners:?}");
    }

    #[test]
    fn a_rank_that_leaves_is_never_named_again() {
        let mut s = swarm(4, &[1]);
        for rank in 2..=5 {
            s.complete(Rank(rank));
        }
        s.record(Rank(6), 0);
        assert!(s.leave(Rank(3)));
        assert!(s.leave(Rank(6)));
        assert_eq!(s.held_by(Rank(3)), 0);
        assert_eq!(
            ranks(&s.owners_for(Rank(9), &[], None, &mut rng())),
            [1, 2, 4, 5]
        );
        for seed in 0..50 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let owners = s.owners_for(Rank(9), &[], Some(2), &mut rng);
            assert!(owners.iter().all(|o| o.rank != Rank(3)), "{owners:?}");
            let rarest = HintRequest {
                kind: HintKind::Rarest,
                count: 4,
            };
            for (_, holder) in s.hints(Rank(9), rarest, &[], &[], &mut rng) {
                assert_ne!(holder, Rank(3));
            }
        }
        // Rarity counts only the ranks still there: 4 seeds.
        assert!((0..4).all(|i| s.rarity.count(i) == 4));
        assert!(!s.record(Rank(3), 0), "a rank that left cannot come back");
        assert!(!s.join(Rank(3)));
    }

    #[test]
    fn the_last_seed_cannot_leave() {
        let mut s = swarm(2, &[1]);
        s.complete(Rank(2));
        assert!(s.leave(Rank(1)), "rank 2 is a seed too");
        assert!(!s.leave(Rank(2)), "the last seed");
        assert_eq!(ranks(&s.owners_for(Rank(3), &[], None, &mut rng())), [2]);
    }
}
