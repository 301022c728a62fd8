//! The tracker's side of the paced strategy: which holder each hint names,
//! so that no holder is asked for more than it can send.
//!
//! A paced peer uses every hint it gets, so each hint is an upload its
//! holder owes until the requester reports the segment (or the whole file,
//! or leaves). A holder owing as many uploads as the largest window a
//! paced peer declared (its first request asks for a full window) has
//! enough queued to stay busy, and is not named again until it catches up:
//! then thousands of peers asking at once do not all queue at the seed.
//!
//! A request is answered holder first. While some segments are held by
//! the seeds alone, a seed with room gives those (the rarest), a couple
//! per request, so that it spends its uplink only on segments nobody else
//! can give. Then random holders with room each give the rarest segment
//! they hold that the requester lacks. A hinted segment counts as held by
//! the requester from the hint on, so the next requester is sent for
//! another one.

use super::FileSwarm;
use crate::{Hint, Rank, SegmentIdx};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The most hints one answer names the same holder in: a requester's
/// window is spread over several uplinks, and one busy holder cannot
/// starve it.
const PER_HOLDER: usize = 2;

/// Holders drawn per hint wanted before an answer gives up (and is
/// answered with fewer hints; the requester asks again later).
const DRAWS_PER_HINT: usize = 2;

/// Seeds tried for segments only they hold: the first few (the initial
/// owners; peers that completed the file are seeds only once every segment
/// left them anyway).
const SEEDS_TRIED: usize = 4;

/// The most candidate segments looked at for one holder.
const CANDIDATES: usize = 64;

/// What the tracker counts for pacing, per rank of one file's swarm.
#[derive(Debug, Default)]
pub(super) struct Pacing {
    /// Hints naming each rank, not reported back yet.
    owed: Vec<u32>,
    /// The holders that may be named (members holding something, owing
    /// fewer than `cap`), in no order; `slot[rank]` is where each is.
    free: Vec<Rank>,
    slot: Vec<Option<usize>>,
    /// Whether each rank may hold owed uploads at all (it holds something
    /// and did not leave).
    eligible: Vec<bool>,
    /// The most a holder may owe: the largest window a paced peer declared.
    cap: u32,
}

impl Pacing {
    fn owes(&self, rank: Rank) -> u32 {
        self.owed.get(rank.index()).copied().unwrap_or(0)
    }

    fn grow(&mut self, rank: Rank) {
        let len = rank.index() + 1;
        if self.owed.len() < len {
            self.owed.resize(len, 0);
            self.slot.resize(len, None);
            self.eligible.resize(len, false);
        }
    }

    /// Puts `rank` in the free list if it is eligible and has room, takes
    /// it out otherwise.
    fn refresh(&mut self, rank: Rank) {
        let free = self.eligible[rank.index()] && self.owed[rank.index()] < self.cap;
        match (free, self.slot[rank.index()]) {
            (true, None) => {
                self.slot[rank.index()] = Some(self.free.len());
                self.free.push(rank);
            }
            (false, Some(at)) => {
                self.free.swap_remove(at);
                self.slot[rank.index()] = None;
                if let Some(&moved) = self.free.get(at) {
                    self.slot[moved.index()] = Some(at);
                }
            }
            _ => {}
        }
    }

    /// `rank` holds something now: it may be named.
    pub fn may_owe(&mut self, rank: Rank) {
        self.grow(rank);
        self.eligible[rank.index()] = true;
        self.refresh(rank);
    }

    /// `rank` left: it is never named again.
    pub fn never_owe(&mut self, rank: Rank) {
        self.grow(rank);
        self.eligible[rank.index()] = false;
        self.refresh(rank);
    }

    fn owe(&mut self, rank: Rank) {
        self.grow(rank);
        self.owed[rank.index()] += 1;
        self.refresh(rank);
    }

    /// A hint naming `holder` was reported back (or dropped).
    pub fn settle(&mut self, holder: Rank) {
        if let Some(owed) = self.owed.get_mut(holder.index()) {
            *owed = owed.saturating_sub(1);
            self.refresh(holder);
        }
    }

    /// A paced peer declared a window of `window`: holders may owe that
    /// many if none may owe more.
    fn allow(&mut self, window: u32) {
        if window > self.cap {
            self.cap = window;
            for index in 0..self.owed.len() {
                self.refresh(Rank(index as u32));
            }
        }
    }
}

impl FileSwarm {
    /// Up to `count` hints for a paced requester, each naming a holder with
    /// room (see the module's documentation). Each is counted as owed by
    /// its holder, and as held by the requester, until reported back.
    pub(super) fn paced_hints(
        &mut self,
        requester: Rank,
        count: usize,
        rng: &mut ChaCha8Rng,
    ) -> Vec<Hint> {
        let Some(member) = self.members.get_mut(requester) else {
            return Vec::new();
        };
        if member.window == 0 {
            member.window = count as u32;
        }
        let window = member.window;
        self.pacing.allow(window);
        let mut hints: Vec<Hint> = Vec::new();
        let seeds = self.seeds.len() as u32;
        // Segments only seeds hold: the seeds give those, and only those.
        let fresh_left = |swarm: &FileSwarm| {
            swarm
                .rarity
                .held_by_at_least(0)
                .first()
                .is_some_and(|&i| swarm.rarity.count(i) <= seeds)
        };
        for at in 0..self.seeds.len().min(SEEDS_TRIED) {
            let seed = self.seeds[at];
            while hints.len() < count
                && seed != requester
                && self.pacing.owes(seed) < self.pacing.cap
                && hints.iter().filter(|h| h.1 == seed).count() < PER_HOLDER
                && fresh_left(self)
            {
                let index = self.rarity.held_by_at_least(0)[0];
                self.hint(requester, index, seed, &mut hints);
            }
        }
        // Until those are all out, the seeds give nothing else.
        let fresh_remain = fresh_left(self);
        let mut draws = DRAWS_PER_HINT * count;
        while hints.len() < count && draws > 0 && !self.pacing.free.is_empty() {
            draws -= 1;
            let holder = self.pacing.free[rng.gen_range(0..self.pacing.free.len())];
            let is_seed = self.members.get(holder).is_some_and(|m| m.seed);
            if holder == requester
                || (is_seed && fresh_remain)
                || hints.iter().filter(|h| h.1 == holder).count() >= PER_HOLDER
            {
                continue;
            }
            let start = rng.gen_range(0..self.segments().max(1));
            if let Some(index) = self.rarest_from(holder, requester, start) {
                self.hint(requester, index, holder, &mut hints);
            }
        }
        hints
    }

    /// The rarest of (the first few) segments `holder` holds and
    /// `requester` neither holds nor was hinted, looking from `start` on.
    fn rarest_from(&self, holder: Rank, requester: Rank, start: usize) -> Option<SegmentIdx> {
        let (Some(has), Some(wants)) = (self.members.get(holder), self.members.get(requester))
        else {
            return None;
        };
        has.held
            .difference(&wants.held, start)
            .filter(|&i| !wants.hinted.iter().any(|h| h.0 == i))
            .take(CANDIDATES)
            .min_by_key(|&i| self.rarity.count(i))
    }

    /// Gives `requester` segment `index` from `holder`.
    fn hint(&mut self, requester: Rank, index: SegmentIdx, holder: Rank, hints: &mut Vec<Hint>) {
        let member = self
            .members
            .get_mut(requester)
            .expect("the requester is a member");
        member.hinted.push((index, holder));
        self.pacing.owe(holder);
        self.rarity.add_holder(index);
        hints.push((index, holder));
    }
}
