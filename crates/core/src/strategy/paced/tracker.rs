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
//!
//! Ranks on the requester's own node come before any other holder (after
//! the seeds' fresh segments): what they give crosses no network link, so
//! they may give a whole answer and a seed among them gives anything.
//!
//! What a holder owes is counted per file: a rank serving several files
//! may be named up to a window in each (one download at a time per peer
//! keeps that rare, and it only lengthens a queue).

use crate::strategy::{Ask, HintPolicy};
use crate::tracker::FileSwarm;
use crate::{Hint, Rank, SegmentIdx};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The most hints one answer names the same holder in: a requester's
/// window is spread over several uplinks, and one busy holder cannot
/// starve it.
const PER_HOLDER: usize = 2;

/// A relay answer spreads its hints over at least this many holders
/// (if it has room for more than [`PER_HOLDER`] each): what one holder
/// gives travels as one SEGMENT_BATCH, so fewer, larger batches are fewer
/// messages, and under `mpirun` the message is what costs.
const RELAY_SPREAD: usize = 4;

/// Holders drawn per hint wanted before an answer gives up (and is
/// answered with fewer hints; the requester asks again later).
const DRAWS_PER_HINT: usize = 2;

/// Seeds tried for segments only they hold: the first few (the initial
/// owners; peers that completed the file are seeds only once every segment
/// left them anyway).
const SEEDS_TRIED: usize = 4;

/// The most candidate segments looked at for one holder.
const CANDIDATES: usize = 64;

/// The tracker's paced hints. With `relay`, a holder may also be named
/// for a segment it was hinted and is still receiving: it serves it on
/// arrival (the `relay` strategy's SEGMENT_BATCH waits for it), so a
/// segment is passed on without waiting for its holder to report it.
#[derive(Debug)]
pub(crate) struct PacedHints {
    pub relay: bool,
}

impl HintPolicy for PacedHints {
    /// Up to `count` hints for a paced requester, each naming a holder with
    /// room (see the module's documentation). Each is counted as owed by
    /// its holder, and as held by the requester, until reported back.
    fn hints(&self, swarm: &mut FileSwarm, ask: Ask<'_>, rng: &mut ChaCha8Rng) -> Vec<Hint> {
        let Ask {
            requester,
            count,
            mates,
            ..
        } = ask;
        if swarm.members.get(requester).is_none() {
            return Vec::new();
        }
        let window = swarm.pacing.window_of(requester, count as u32);
        // A seed may owe a whole window of fresh segments at once.
        let seed_cap = window.max(swarm.pacing.cap);
        swarm.pacing.allow(window);
        let mut hints: Vec<Hint> = Vec::new();
        let seeds = swarm.seeds.len() as u32;
        // Segments only seeds hold: the seeds give those, and only those.
        let fresh_left = |swarm: &FileSwarm| {
            swarm
                .rarity
                .held_by_at_least(0)
                .first()
                .is_some_and(|&i| swarm.rarity.count(i) <= seeds)
        };
        // (A seed of another node gives none that the requester's node
        // already has or is about to have: that copy comes from a mate.)
        for at in 0..swarm.seeds.len().min(SEEDS_TRIED) {
            let seed = swarm.seeds[at];
            while hints.len() < count
                && seed != requester
                && swarm.pacing.owes(seed) < seed_cap
                && swarm.pacing.named_in_answer(seed) < PER_HOLDER
                && fresh_left(swarm)
                && (mates.contains(&seed)
                    || !near(swarm, mates, swarm.rarity.held_by_at_least(0)[0]))
            {
                let index = swarm.rarity.held_by_at_least(0)[0];
                self.hint(swarm, requester, index, seed, &mut hints);
            }
        }
        // Then the requester's node-mates, as much as they have room for,
        // from a random one on (so that no mate is always asked first).
        let first = if mates.is_empty() {
            0
        } else {
            rng.gen_range(0..mates.len())
        };
        for &mate in mates[first..].iter().chain(&mates[..first]) {
            while hints.len() < count && swarm.pacing.owes(mate) < swarm.pacing.cap {
                let start = rng.gen_range(0..swarm.segments().max(1));
                let Some(index) = self.rarest_from(swarm, mate, requester, &[], start) else {
                    break;
                };
                self.hint(swarm, requester, index, mate, &mut hints);
            }
        }
        // A relay request's hints from one holder travel as one message:
        // larger answers name each holder for more of them.
        let per_holder = match self.relay {
            true => PER_HOLDER.max(count / RELAY_SPREAD),
            false => PER_HOLDER,
        };
        // Until those are all out, the seeds give nothing else.
        let fresh_remain = fresh_left(swarm);
        let mut draws = DRAWS_PER_HINT * count;
        while hints.len() < count && draws > 0 && !swarm.pacing.free.is_empty() {
            draws -= 1;
            let holder = swarm.pacing.free[rng.gen_range(0..swarm.pacing.free.len())];
            let is_seed = || swarm.members.get(holder).is_some_and(|m| m.seed);
            if holder == requester
                || (fresh_remain && is_seed())
                || swarm.pacing.named_in_answer(holder) >= per_holder
            {
                continue;
            }
            let start = rng.gen_range(0..swarm.segments().max(1));
            if let Some(index) = self.rarest_from(swarm, holder, requester, mates, start) {
                self.hint(swarm, requester, index, holder, &mut hints);
            }
        }
        swarm.pacing.end_answer(&hints);
        hints
    }

    /// A paced peer fetches what the hints say; it keeps the owners of its
    /// swarm reply only to retry after a NACK, so its many refreshes carry
    /// none.
    fn refresh_names_owners(&self) -> bool {
        false
    }

    /// A relay request waits for hints: at thousands of peers, the empty
    /// answers while a swarm starts would be most of the tracker's work.
    fn waits(&self) -> bool {
        self.relay
    }
}

impl PacedHints {
    /// The rarest of (the first few) segments `holder` holds (or, with
    /// `relay`, is receiving) and `requester` neither holds nor was hinted,
    /// looking from `start` on; nor any of `mates` either, if given: a
    /// segment that one rank of a node has or is about to have enters that
    /// node over its link once, and its mates get it from there.
    fn rarest_from(
        &self,
        swarm: &FileSwarm,
        holder: Rank,
        requester: Rank,
        mates: &[Rank],
        start: usize,
    ) -> Option<SegmentIdx> {
        let (Some(has), Some(wants)) = (swarm.members.get(holder), swarm.members.get(requester))
        else {
            return None;
        };
        // What the requester holds or was hinted goes a word at a time (a
        // requester never hinted anything has its held set taken twice).
        let hinted = swarm.pacing.hinted_set(requester).unwrap_or(&wants.held);
        let taken = [&wants.held, hinted];
        // What it is receiving is the freshest it has: looked at first. Most
        // holders drawn are receiving nothing the requester lacks, and their
        // bits say so without a look at each hint.
        let receiving = match (self.relay, swarm.pacing.hinted_set(holder)) {
            (true, Some(set)) if set.difference(&taken, 0).next().is_some() => {
                swarm.pacing.hinted_to(holder)
            }
            _ => &[],
        };
        // Only a segment whose source holds it: its arrival is one queue
        // away. (Asked last: the source's bits are the likeliest cache miss.)
        let sent = |at: usize, i: SegmentIdx, source: Rank| {
            swarm
                .pacing
                .hint_held(holder, at, || holds(swarm, source, i))
        };
        let wanted = |i: SegmentIdx| {
            !wants.held.contains(i)
                && !swarm.pacing.was_hinted(requester, i)
                && !near(swarm, mates, i)
        };
        receiving
            .iter()
            .enumerate()
            .filter(|&(at, &(i, source))| wanted(i) && sent(at, i, source))
            .map(|(_, h)| h.0)
            .chain(
                has.held
                    .difference(&taken, start)
                    .filter(|&i| !near(swarm, mates, i)),
            )
            .take(CANDIDATES)
            .min_by_key(|&i| swarm.rarity.count(i))
    }

    /// Gives `requester` segment `index` from `holder`.
    fn hint(
        &self,
        swarm: &mut FileSwarm,
        requester: Rank,
        index: SegmentIdx,
        holder: Rank,
        hints: &mut Vec<Hint>,
    ) {
        let held = holds(swarm, holder, index);
        swarm.pacing.give(requester, index, holder, held);
        swarm.rarity.add_holder(index);
        if self.relay {
            // It may relay the segment from now on.
            swarm.pacing.may_owe(requester);
        }
        hints.push((index, holder));
    }
}

/// Whether `rank` holds segment `index`.
fn holds(swarm: &FileSwarm, rank: Rank, index: SegmentIdx) -> bool {
    swarm
        .members
        .get(rank)
        .is_some_and(|m| m.held.contains(index))
}

/// Whether one of `mates` holds segment `index` or was hinted it.
fn near(swarm: &FileSwarm, mates: &[Rank], index: SegmentIdx) -> bool {
    mates
        .iter()
        .any(|&mate| holds(swarm, mate, index) || swarm.pacing.was_hinted(mate, index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn swarm(segments: usize) -> FileSwarm {
        let hashes = (0..segments).map(|i| format!("h{i}")).collect();
        let mut swarm = FileSwarm::new("f".into(), hashes, vec![Rank(1)]);
        for rank in 2..=6 {
            swarm.join(Rank(rank));
        }
        swarm
    }

    fn ask(swarm: &mut FileSwarm, rank: u32, count: usize) -> Vec<Hint> {
        ask_beside(swarm, rank, count, &[])
    }

    /// `ask`, from a rank whose node also holds `mates`.
    fn ask_beside(swarm: &mut FileSwarm, rank: u32, count: usize, mates: &[Rank]) -> Vec<Hint> {
        let mut rng = ChaCha8Rng::seed_from_u64(u64::from(rank));
        let ask = Ask {
            requester: Rank(rank),
            count,
            load: &[],
            mates,
        };
        PacedHints { relay: false }.hints(swarm, ask, &mut rng)
    }

    #[test]
    fn a_node_mate_gives_first_and_a_whole_answer() {
        let mut away = swarm(8);
        let mut beside = swarm(8);
        for s in [&mut away, &mut beside] {
            for index in 0..8 {
                s.record(Rank(3), index);
            }
        }
        // Without nodes, rank 3 gives at most its share of an answer...
        let spread = ask(&mut away, 2, 4);
        assert!(spread.iter().filter(|h| h.1 == Rank(3)).count() <= PER_HOLDER);
        // ...but as rank 2's node-mate it gives the whole answer, distinct
        // segments, up to what it may owe.
        let local = ask_beside(&mut beside, 2, 4, &[Rank(3)]);
        assert_eq!(local.len(), 4, "{local:?}");
        assert!(local.iter().all(|h| h.1 == Rank(3)), "{local:?}");
        let mut segments: Vec<u32> = local.iter().map(|h| h.0).collect();
        segments.sort();
        segments.dedup();
        assert_eq!(segments.len(), 4);
        // Its room is spent: a mate that owes a full window gives no more.
        let more = ask_beside(&mut beside, 4, 4, &[Rank(3)]);
        assert!(more.iter().all(|h| h.1 != Rank(3)), "{more:?}");
    }

    #[test]
    fn the_seed_gives_distinct_fresh_segments_up_to_the_window() {
        let mut s = swarm(10);
        let first = ask(&mut s, 2, 4);
        assert_eq!(first.len(), PER_HOLDER, "{first:?}");
        assert!(first.iter().all(|h| h.1 == Rank(1)));
        let second = ask(&mut s, 3, 4);
        assert_eq!(second.len(), PER_HOLDER);
        let mut all: Vec<u32> = first.iter().chain(&second).map(|h| h.0).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 4, "each hinted segment counts as held: {all:?}");
        // The seed owes 4 uploads, a full window (the first request's 4):
        // nobody else holds anything, so rank 4 gets nothing now...
        assert_eq!(s.pacing.owes(Rank(1)), 4);
        assert!(ask(&mut s, 4, 4).is_empty());
        // ...until rank 2 reports one: then the seed gives one more fresh
        // segment, and rank 2 the one it reported.
        assert!(s.record(Rank(2), first[0].0));
        assert_eq!(s.pacing.owes(Rank(1)), 3);
        let mut third = ask(&mut s, 4, 4);
        third.sort_by_key(|h| h.1);
        assert_eq!(third.len(), 2, "{third:?}");
        assert!(
            third[0].1 == Rank(1) && !all.contains(&third[0].0),
            "{third:?}"
        );
        assert_eq!(third[1], (first[0].0, Rank(2)));
    }

    #[test]
    fn peers_give_what_they_hold_and_the_requester_lacks() {
        let mut s = swarm(6);
        ask(&mut s, 2, 2);
        for index in 0..6 {
            s.record(Rank(2), index);
        }
        s.record(Rank(3), 0);
        // Every segment is out, so the seed is a holder like the others;
        // rank 3 never gets segment 0 (held) or one hinted twice, and each
        // holder gives it at most two (it may get fewer than it asked: the
        // holders it drew were used up).
        let hints = ask(&mut s, 3, 4);
        assert!(hints.len() >= 3, "{hints:?}");
        for holder in [Rank(1), Rank(2)] {
            assert!(hints.iter().filter(|h| h.1 == holder).count() <= PER_HOLDER);
        }
        let mut segments: Vec<u32> = hints.iter().map(|h| h.0).collect();
        segments.sort();
        segments.dedup();
        assert_eq!(segments.len(), hints.len());
        assert!(!segments.contains(&0));
        assert!(hints.iter().all(|h| h.1 != Rank(3)));
        let again = ask(&mut s, 3, 4);
        assert!(again.iter().all(|h| !segments.contains(&h.0) && h.0 != 0));
    }

    #[test]
    fn completing_or_leaving_settles_what_was_owed() {
        let mut s = swarm(8);
        assert_eq!(ask(&mut s, 2, 2).len(), 2);
        assert_eq!(s.pacing.owes(Rank(1)), 2);
        assert!(s.complete(Rank(2)));
        assert_eq!(s.pacing.owes(Rank(1)), 0);
        assert_eq!(ask(&mut s, 3, 2).len(), 2);
        let owed = |s: &FileSwarm| s.pacing.owes(Rank(1)) + s.pacing.owes(Rank(2));
        assert_eq!(owed(&s), 2);
        assert!(s.leave(Rank(3)));
        assert_eq!(owed(&s), 0);
        // Rank 2 left nothing owed, and is named no more once gone.
        assert!(s.leave(Rank(2)));
        for _ in 0..4 {
            assert!(ask(&mut s, 4, 2).iter().all(|h| h.1 == Rank(1)));
        }
    }
}
