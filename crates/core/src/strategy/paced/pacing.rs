//! What the tracker counts to pace the holders of one file's swarm: the
//! hints each rank was given and has not reported back, and so what each
//! holder owes (see [`super::tracker`] for how hints are chosen from it).
//!
//! Besides the list of each rank's hints (whose order the choice of hints
//! depends on), the segments in it are kept as a set of bits: whether a
//! requester was hinted a segment is asked for every candidate segment of
//! every holder drawn, and at 10,000 peers a scan of a window's hints for
//! each was most of the simulator's time.
//!
//! And each hint remembers whether its holder holds its segment (a relay
//! holder may be named before it has it): a relay holder's own hints are
//! looked at by every requester that draws it, and a look at the holder's
//! bits was a cache miss each time. A hint is given knowing the answer,
//! and a holder that records a segment it was named for before it had it
//! marks those hints ([`Pacing::holder_got`]). A holder never loses a
//! segment while it is a member, so "holds" stays true until some rank
//! leaves; then every "holds" is asked again.

use crate::tracker::SegmentSet;
use crate::{Hint, Rank, SegmentIdx};
use std::cell::Cell;

/// What the tracker counts for pacing, per rank of one file's swarm.
#[derive(Debug)]
pub(crate) struct Pacing {
    /// Segments in the file: the size of each set in `hinted_set`.
    segments: usize,
    /// Hints each rank was given and has not reported back, by rank.
    hinted: Vec<Vec<Hint>>,
    /// The segments of `hinted[rank]`, as a set.
    hinted_set: Vec<SegmentSet>,
    /// For each hint of `hinted[rank]`, at the same place: whether its
    /// holder holds its segment. A `Held` is valid while `seen_at[rank]` is
    /// `departures` (cells: it is learnt while hints are chosen, which only
    /// read the swarm).
    seen: Vec<Vec<Cell<Seen>>>,
    seen_at: Vec<Cell<u64>>,
    /// Ranks that left so far.
    departures: u64,
    /// How many hints of the answer being chosen name each rank (zero
    /// between answers): asked for each holder drawn.
    in_answer: Vec<u32>,
    /// For each holder, the hints (requester, segment) naming it for a
    /// segment it did not hold then, until it records the segment.
    pending: Vec<Vec<(Rank, SegmentIdx)>>,
    /// Each requester's window: the hints its first request asked for.
    window: Vec<u32>,
    /// Hints naming each rank, not reported back yet.
    owed: Vec<u32>,
    /// The holders that may be named (members holding something, owing
    /// fewer than `cap`), in no order; `slot[rank]` is where each is.
    pub(super) free: Vec<Rank>,
    slot: Vec<Option<usize>>,
    /// Whether each rank may hold owed uploads at all (it holds something
    /// and did not leave).
    eligible: Vec<bool>,
    /// The most a holder may owe: the largest window a paced peer declared.
    pub(super) cap: u32,
    /// Ranks that may owe (hold something and did not leave), and ranks
    /// that want the file.
    holders: usize,
    wanters: usize,
}

impl Pacing {
    /// The pacing of a file of `segments` segments, before any hint.
    pub fn new(segments: usize) -> Self {
        Pacing {
            segments,
            hinted: Vec::new(),
            hinted_set: Vec::new(),
            seen: Vec::new(),
            seen_at: Vec::new(),
            departures: 0,
            pending: Vec::new(),
            in_answer: Vec::new(),
            window: Vec::new(),
            owed: Vec::new(),
            free: Vec::new(),
            slot: Vec::new(),
            eligible: Vec::new(),
            cap: 0,
            holders: 0,
            wanters: 0,
        }
    }

    pub(super) fn owes(&self, rank: Rank) -> u32 {
        self.owed.get(rank.index()).copied().unwrap_or(0)
    }

    fn grow(&mut self, rank: Rank) {
        let len = rank.index() + 1;
        if self.owed.len() < len {
            self.owed.resize(len, 0);
            self.slot.resize(len, None);
            self.eligible.resize(len, false);
            self.hinted.resize_with(len, Vec::new);
            let segments = self.segments;
            self.hinted_set
                .resize_with(len, || SegmentSet::new(segments, false));
            self.seen.resize_with(len, Vec::new);
            self.seen_at.resize_with(len, || Cell::new(self.departures));
            self.pending.resize_with(len, Vec::new);
            self.in_answer.resize(len, 0);
            self.window.resize(len, 0);
        }
    }

    /// The window of `requester`: its first request's `count`.
    pub(super) fn window_of(&mut self, requester: Rank, count: u32) -> u32 {
        self.grow(requester);
        let window = &mut self.window[requester.index()];
        if *window == 0 {
            *window = count;
        }
        *window
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

    /// `wanters` ranks want the file (known once every peer registered).
    pub fn expect(&mut self, wanters: usize) {
        self.wanters = wanters;
    }

    /// `rank` holds something now: it may be named.
    pub fn may_owe(&mut self, rank: Rank) {
        self.grow(rank);
        self.holders += usize::from(!self.eligible[rank.index()]);
        self.eligible[rank.index()] = true;
        self.refresh(rank);
    }

    /// `rank` left: it is never named again, and the hints it was given
    /// are owed no more. Returns those hints.
    pub fn left(&mut self, rank: Rank) -> Vec<Hint> {
        self.grow(rank);
        self.holders -= usize::from(self.eligible[rank.index()]);
        self.eligible[rank.index()] = false;
        self.refresh(rank);
        let hinted = std::mem::take(&mut self.hinted[rank.index()]);
        self.hinted_set[rank.index()] = SegmentSet::new(self.segments, false);
        self.seen[rank.index()].clear();
        // It records nothing more; and what a hint's holder held may have
        // left with it.
        self.pending[rank.index()].clear();
        self.departures += 1;
        for &(_, holder) in &hinted {
            self.settle(holder);
        }
        hinted
    }

    /// `rank` reported holding `index`: true if it was hinted it (then the
    /// segment counted as held by it from the hint on).
    pub fn reported(&mut self, rank: Rank, index: SegmentIdx) -> bool {
        let Some(hinted) = self.hinted.get_mut(rank.index()) else {
            return false;
        };
        if !self.hinted_set[rank.index()].contains(index) {
            return false;
        }
        let at = hinted
            .iter()
            .position(|&(i, _)| i == index)
            .expect("the set holds the segments of the list");
        let (_, holder) = hinted.swap_remove(at);
        self.seen[rank.index()].swap_remove(at);
        // The seeds' fresh segments are chosen without looking at what
        // the requester was hinted: the same one may be in the list twice.
        if !hinted.iter().any(|&(i, _)| i == index) {
            self.hinted_set[rank.index()].remove(index);
        }
        self.settle(holder);
        true
    }

    /// The hints `rank` was given and has not reported back.
    pub(super) fn hinted_to(&self, rank: Rank) -> &[Hint] {
        self.hinted.get(rank.index()).map_or(&[], |h| &h[..])
    }

    /// Whether `rank` was given a hint for `index` it has not reported back.
    pub(super) fn was_hinted(&self, rank: Rank, index: SegmentIdx) -> bool {
        self.hinted_set
            .get(rank.index())
            .is_some_and(|set| set.contains(index))
    }

    /// The segments of [`Self::hinted_to`], as a set (none for a rank never
    /// seen).
    pub(super) fn hinted_set(&self, rank: Rank) -> Option<&SegmentSet> {
        self.hinted_set.get(rank.index())
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) what an
    /// update from `rank` reads, `pointees` false: the list of its hints,
    /// true: the hints themselves.
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self, rank: Rank, pointees: bool) {
        match (pointees, self.hinted.get(rank.index())) {
            (false, _) => crate::prefetch::line(self.hinted.as_ptr().wrapping_add(rank.index())),
            (true, Some(hinted)) => crate::prefetch::lines(&hinted[..], 1),
            (true, None) => {}
        }
    }

    /// Whether the holder of the `at`th hint of `rank` holds its segment:
    /// as remembered, or else as `holds` says (then remembered).
    pub(super) fn hint_held(&self, rank: Rank, at: usize, holds: impl FnOnce() -> bool) -> bool {
        let seen = &self.seen[rank.index()];
        let seen_at = &self.seen_at[rank.index()];
        if seen_at.get() != self.departures {
            // A holder that left holds nothing: ask each "held" again.
            for s in seen {
                if s.get() == Seen::Held {
                    s.set(Seen::Unknown);
                }
            }
            seen_at.set(self.departures);
        }
        match seen[at].get() {
            Seen::Held => true,
            Seen::NotYet => false,
            Seen::Unknown => {
                let held = holds();
                seen[at].set(if held { Seen::Held } else { Seen::NotYet });
                held
            }
        }
    }

    /// `holder` recorded `index`: the hints naming it for that segment
    /// before it had it are held now.
    pub fn holder_got(&mut self, holder: Rank, index: SegmentIdx) {
        let Some(pending) = self.pending.get_mut(holder.index()) else {
            return;
        };
        let (hinted, seen) = (&self.hinted, &self.seen);
        pending.retain(|&(requester, i)| {
            if i != index {
                return true;
            }
            // (The requester may have reported or dropped the hint since.)
            let hints = hinted[requester.index()]
                .iter()
                .zip(&seen[requester.index()]);
            for (_, s) in hints.filter(|(h, _)| **h == (index, holder)) {
                s.set(Seen::Held);
            }
            false
        });
    }

    /// `requester` is hinted `index` from `holder`, which owes it; `held`:
    /// whether the holder holds it already.
    pub(super) fn give(&mut self, requester: Rank, index: SegmentIdx, holder: Rank, held: bool) {
        self.grow(requester);
        self.hinted[requester.index()].push((index, holder));
        self.seen[requester.index()].push(Cell::new(match held {
            true => Seen::Held,
            false => Seen::NotYet,
        }));
        self.grow(holder);
        self.in_answer[holder.index()] += 1;
        if !held {
            self.pending[holder.index()].push((requester, index));
        }
        self.hinted_set[requester.index()].insert(index);
        self.owe(holder);
    }

    /// Hints of the answer being chosen that name `rank`.
    pub(super) fn named_in_answer(&self, rank: Rank) -> usize {
        self.in_answer.get(rank.index()).map_or(0, |&n| n as usize)
    }

    /// The answer being chosen is `hints`: the next one names nobody yet.
    pub(super) fn end_answer(&mut self, hints: &[Hint]) {
        for &(_, holder) in hints {
            self.in_answer[holder.index()] = 0;
        }
    }

    fn owe(&mut self, rank: Rank) {
        self.grow(rank);
        self.owed[rank.index()] += 1;
        self.refresh(rank);
    }

    /// A hint naming `holder` was reported back (or dropped).
    fn settle(&mut self, holder: Rank) {
        if let Some(owed) = self.owed.get_mut(holder.index()) {
            *owed = owed.saturating_sub(1);
            self.refresh(holder);
        }
    }

    /// A paced peer declared a window of `window`: holders may owe that
    /// many if none may owe more.
    pub(super) fn allow(&mut self, window: u32) {
        if window > self.cap {
            self.cap = window;
            for index in 0..self.owed.len() {
                self.refresh(Rank(index as u32));
            }
        }
    }
}

/// Whether a hint's holder holds its segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Held,
    NotYet,
    /// Held when last asked, but some rank left since.
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `hint_held` answers for rank 2's `at`th hint, with `holds` the
    /// truth, and whether it had to ask.
    fn answer(pacing: &Pacing, at: usize, holds: bool) -> (bool, bool) {
        let asked = Cell::new(false);
        let held = pacing.hint_held(Rank(2), at, || {
            asked.set(true);
            holds
        });
        (held, asked.get())
    }

    #[test]
    fn a_hint_knows_whether_its_holder_holds_the_segment() {
        let mut pacing = Pacing::new(100);
        pacing.give(Rank(2), 5, Rank(3), true);
        pacing.give(Rank(2), 7, Rank(4), false);
        pacing.give(Rank(2), 70, Rank(4), false);
        assert!(pacing.was_hinted(Rank(2), 70) && !pacing.was_hinted(Rank(2), 6));
        // Known when given, without asking.
        assert_eq!(answer(&pacing, 0, true), (true, false));
        assert_eq!(answer(&pacing, 1, true), (false, false));
        // Rank 4 records segment 7: only that hint is held now.
        pacing.holder_got(Rank(4), 7);
        assert_eq!(answer(&pacing, 1, true), (true, false));
        assert_eq!(answer(&pacing, 2, true), (false, false));
        // Rank 3 leaves: its hint is asked again (and it holds nothing).
        pacing.left(Rank(3));
        assert_eq!(answer(&pacing, 0, false), (false, true));
        assert_eq!(answer(&pacing, 0, true), (false, false));
        assert_eq!(answer(&pacing, 1, true), (true, true));
        // Reporting a hint takes it, its bit and its answer out.
        assert!(pacing.reported(Rank(2), 5));
        assert!(!pacing.was_hinted(Rank(2), 5) && !pacing.reported(Rank(2), 5));
        assert_eq!(pacing.hinted_to(Rank(2)), &[(70, Rank(4)), (7, Rank(4))]);
        assert_eq!(answer(&pacing, 0, true), (false, false));
    }
}
