//! The tracker's side of the tree strategy: one plan per file, drawn once
//! every peer has registered, that names for every wanter of the file the
//! rank it fetches each stripe from.
//!
//! The file's segments are dealt into [`STRIPES`] stripes (segment `s` is
//! in stripe `s % STRIPES`) and the file's wanters, in rank order, into as
//! many groups (the `j`-th wanter is in group `j % STRIPES`). Stripe `i`
//! travels down a tree with [`STRIPES`] children per rank, laid out as a
//! heap over "group `i`, then everyone else": a rank of group `i` sits in
//! the top of the tree and passes stripe `i` on to up to [`STRIPES`]
//! ranks, while every other rank is a leaf of that tree. So each rank
//! uploads a quarter of the file to each of about four ranks, one file's
//! worth in all, like its download; the seed sends each segment once, in
//! order, to the feeder, which passes each stripe to its tree's root; and
//! a segment reaches every rank after about
//! `log4(wanters)` hops. This is the interleaved-trees layout of
//! SplitStream (Castro et al., 2003) and of the pipelined broadcasts MPI
//! libraries use.
//!
//! A plan is only a plan: a rank asks its parents for segments they are
//! still receiving, and they answer as the segments arrive (the relay's
//! waiting requests, SEGMENT_BATCH); a parent that leaves answers NACK,
//! and the segment is asked of the swarm's owners instead. Because the
//! plan is fixed, a later request gets no hints (the peers' PEER_UPDATEs
//! only report progress).
//!
//! A source that several seeders read in stripes (`tree::stripes`: each
//! reads a contiguous run of segments) feeds the feeder segment by
//! segment from the seeder that reads it, so each is read and sent once.
//!
//! Across nodes, only one wanter of each node is in the trees (the
//! lowest rank, or none when a seed is on the node); the other wanters of
//! the node fetch every segment from it (or from the seed beside them),
//! so each node's link carries one copy however many of its ranks keep
//! one.
//!
//! Across a few nodes the wanters form one chain instead ([`Layout`]):
//! the feeder passes every segment to the next wanter, which passes it to
//! the next, and so on.
//!
//! A rank downloads its files one at a time, so a parent may not have
//! started the file yet; every tree peer downloads its files in name order
//! (see the download side), and then no rank waits, even through other
//! files, for a rank that waits for it.

use crate::strategy::{Ask, HintPolicy};
use crate::tracker::FileSwarm;
use crate::{Hint, Rank, SegmentIdx};
use rand_chacha::ChaCha8Rng;

/// Stripes of a file, and children per rank in each stripe's tree.
pub const STRIPES: usize = 4;

/// The most ranks (the feeder included) that form a chain when the job
/// spans several nodes (see [`Layout::Chain`]).
pub const CHAIN_MOST: usize = 2 * STRIPES;

/// How a file's wanters pass its segments on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One tree per stripe (the module's doc): a segment reaches every
    /// rank after about `log4(wanters)` hops.
    Trees,
    /// The feeder, then every other wanter in rank order, each fetching
    /// every segment from the one before: `wanters - 1` hops, but one
    /// flow into and one out of every node. Chosen when the job spans
    /// several nodes and at most [`CHAIN_MOST`] ranks are in the plan.
    /// Over a network link a rank fed by four parents gets each stripe at
    /// a quarter of its link, so a segment takes four segment times to
    /// cross each level of a tree, and the four flows into every node
    /// fill its switch port's queue together: at four or eight wanters a
    /// chain delivers the last segment no later than two levels of trees
    /// do. Measured on the emulated cluster (128 MiB from one seeder, one
    /// receiving rank per node, interleaved runs): 5 nodes at 200 Mbit/s
    /// 6.8 to 7.0 s against 7.6 to 7.8 s with trees, 5 nodes at 1 Gbit/s
    /// 1.66 to 1.71 s against 1.89 to 2.05 s; at 9 nodes the two were
    /// within each other's spread. On one node there is no link to share,
    /// and at scale a chain's depth would dominate, so there it is trees.
    Chain,
}

/// One file's plan: the wanters, and where each sits in each stripe's
/// tree.
#[derive(Debug, Default)]
pub(crate) struct TreePlan {
    /// The first wanter: it fetches the whole file from a seed, in order,
    /// and passes each stripe to its tree's root. (A seed holding every
    /// segment would answer the four roots' requests one batch after the
    /// other, and start the last stripe dozens of segments late; the
    /// feeder passes segments on as they arrive, in turn.)
    feeder: Option<Rank>,
    /// The other ranks in the trees, in rank order (set once every peer
    /// registered).
    wanters: Vec<Rank>,
    /// Wanters that fetch the whole file from a rank on their node, with
    /// that rank.
    beside: Vec<(Rank, Rank)>,
    /// For each stripe, the wanters (as indexes into `wanters`) in heap
    /// order; built at the first request.
    order: Vec<Vec<u32>>,
    /// For each stripe, each rank's position in `order` (by rank).
    position: Vec<Vec<Option<u32>>>,
    /// The ranks that were sent their part of the plan, by rank.
    given: Vec<bool>,
    /// Whether the ranks are on several nodes.
    across_nodes: bool,
    /// Chosen by [`TreePlan::build`], at the first request.
    layout: Option<Layout>,
}

impl TreePlan {
    /// Every peer registered: these ranks want the file; `nearest(rank)`
    /// is the rank a wanter fetches everything from on its own node, if
    /// any (a seed there, else the node's lowest wanter); `across_nodes`,
    /// whether the job's ranks are on several nodes.
    pub fn expect(
        &mut self,
        mut wanters: Vec<Rank>,
        nearest: impl Fn(Rank) -> Option<Rank>,
        across_nodes: bool,
    ) {
        wanters.sort_unstable();
        wanters.dedup();
        self.beside = wanters
            .iter()
            .filter_map(|&w| nearest(w).filter(|&n| n != w).map(|n| (w, n)))
            .collect();
        wanters.retain(|w| self.beside.binary_search_by_key(w, |&(b, _)| b).is_err());
        self.feeder = (wanters.len() > 1).then(|| wanters.remove(0));
        self.wanters = wanters;
        self.across_nodes = across_nodes;
        self.layout = None;
        self.order.clear();
        self.position.clear();
    }

    /// Chooses the layout and, for trees, lays them out.
    fn build(&mut self) {
        let in_plan = self.wanters.len() + usize::from(self.feeder.is_some());
        let layout = if self.across_nodes && in_plan <= CHAIN_MOST {
            Layout::Chain
        } else {
            self.build_trees();
            Layout::Trees
        };
        self.layout = Some(layout);
    }

    /// Lays out every stripe's tree. A heap of `n` ranks has
    /// `ceil((n - 1) / STRIPES)` ranks with children; a group one short
    /// of that lends the place to the rank of another group with the most
    /// room left (children in all trees at most [`STRIPES`]), so that no
    /// rank uploads more than a file's worth.
    fn build_trees(&mut self) {
        let ranks = self
            .wanters
            .iter()
            .map(|r| r.index() + 1)
            .max()
            .unwrap_or(0);
        let count = self.wanters.len();
        let k = STRIPES;
        let children_at = |at: usize| (count.saturating_sub(1 + k * at)).min(k);
        let parents = count.saturating_sub(1).div_ceil(k);
        // Children each wanter has in its own group's tree.
        let mut children: Vec<usize> = (0..count).map(|j| children_at(j / k)).collect();
        for stripe in 0..k {
            let mut order: Vec<u32> = (stripe..count).step_by(k).map(|j| j as u32).collect();
            let mut lent = Vec::new();
            for at in order.len()..parents {
                let roomiest = (0..count)
                    .filter(|&j| j % k != stripe && !lent.contains(&j))
                    .min_by_key(|&j| (children[j], j))
                    .expect("a wanter of another group");
                children[roomiest] += children_at(at);
                lent.push(roomiest);
            }
            order.extend(lent.iter().map(|&j| j as u32));
            order.extend(
                (0..count)
                    .filter(|&j| j % k != stripe && !lent.contains(&j))
                    .map(|j| j as u32),
            );
            let mut position = vec![None; ranks];
            for (at, &j) in order.iter().enumerate() {
                position[self.wanters[j as usize].index()] = Some(at as u32);
            }
            self.order.push(order);
            self.position.push(position);
        }
    }

    /// Whether `rank` was sent its part of the plan; from now on it was.
    fn was_given(&mut self, rank: Rank) -> bool {
        if self.given.len() <= rank.index() {
            self.given.resize(rank.index() + 1, false);
        }
        std::mem::replace(&mut self.given[rank.index()], true)
    }

    /// The rank `rank` fetches stripe `stripe` from, or `None` for a seed
    /// (the feeder's source, and that of a rank the plan does not know).
    fn parent(&self, rank: Rank, stripe: usize) -> Option<Rank> {
        if let Ok(at) = self.beside.binary_search_by_key(&rank, |&(b, _)| b) {
            return Some(self.beside[at].1);
        }
        if self.feeder == Some(rank) {
            return None;
        }
        if self.layout == Some(Layout::Chain) {
            let at = self.wanters.binary_search(&rank).ok()?;
            return match at {
                0 => self.feeder,
                _ => Some(self.wanters[at - 1]),
            };
        }
        let at = (*self.position[stripe].get(rank.index())?)? as usize;
        if at == 0 {
            return self.feeder;
        }
        let parent = self.order[stripe][(at - 1) / STRIPES];
        Some(self.wanters[parent as usize])
    }
}

/// The tracker's side of the tree strategy.
pub(crate) struct TreeHints;

impl HintPolicy for TreeHints {
    /// The first request of a rank is answered with a hint for every
    /// segment it lacks: its parent in the segment's stripe, or a seed for
    /// the feeder (and for a rank the plan does not know). Any later
    /// request (the progress reports) gets no hints: the plan does not
    /// change.
    fn hints(&self, swarm: &mut FileSwarm, ask: Ask<'_>, _rng: &mut ChaCha8Rng) -> Vec<Hint> {
        let requester = ask.requester;
        // The file's registered owners: `seeds` holds only ranks with every
        // segment's hash agreed, which a seeder still hashing is not.
        let owners = &swarm.initial_owners;
        if ask.count == 0 || owners.is_empty() || swarm.tree.was_given(requester) {
            return Vec::new();
        }
        if swarm.tree.layout.is_none() {
            swarm.tree.build();
        }
        let plan = &swarm.tree;
        let parents: Vec<Option<Rank>> = (0..STRIPES)
            .map(|stripe| plan.parent(requester, stripe))
            .collect();
        // A seed serves stripe `i` from seed `i mod seeds`; a source read
        // in stripes of segments (several seeders of one copy), each
        // segment from the seeder that reads it.
        let seed = |s: SegmentIdx| {
            let stripe = s as usize % STRIPES;
            swarm.reader(s).unwrap_or(owners[stripe % owners.len()])
        };
        let held = swarm.members.get(requester).map(|m| &m.held);
        (0..swarm.segments() as SegmentIdx)
            .filter(|&s| !held.is_some_and(|h| h.contains(s)))
            .map(|s| (s, parents[s as usize % STRIPES].unwrap_or_else(|| seed(s))))
            .collect()
    }

    fn refresh_names_owners(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_on(wanters: u32, across_nodes: bool) -> TreePlan {
        let mut plan = TreePlan::default();
        plan.expect((1..=wanters).map(Rank).collect(), |_| None, across_nodes);
        plan.build();
        plan
    }

    fn plan(wanters: u32) -> TreePlan {
        plan_on(wanters, false)
    }

    #[test]
    fn every_rank_has_one_parent_per_stripe_and_uploads_at_most_one_file() {
        let sizes = [1, 2, 3, 5, 8, 9, 10, 99, 999, 1000, 1001];
        for (wanters, across_nodes) in sizes.into_iter().flat_map(|w| [(w, false), (w, true)]) {
            let plan = plan_on(wanters, across_nodes);
            let mut children = vec![0usize; wanters as usize + 2];
            let mut roots = 0;
            for rank in 1..=wanters {
                for stripe in 0..STRIPES {
                    match plan.parent(Rank(rank), stripe) {
                        Some(parent) => {
                            assert_ne!(parent, Rank(rank));
                            children[parent.index()] += 1;
                        }
                        None => roots += 1,
                    }
                }
            }
            // One rank fetches every stripe from a seed (the feeder, or
            // a lone wanter); every other rank has a parent in every
            // stripe, and none has more children in all than there are
            // stripes.
            assert_eq!(roots, STRIPES, "{wanters} wanters");
            assert!(
                children.iter().all(|&c| c <= STRIPES),
                "{wanters} wanters: {children:?}"
            );
        }
    }

    #[test]
    fn a_few_nodes_form_a_chain() {
        let chain = plan_on(CHAIN_MOST as u32, true);
        assert_eq!(chain.layout, Some(Layout::Chain));
        for stripe in 0..STRIPES {
            assert_eq!(chain.parent(Rank(1), stripe), None, "the feeder");
            for rank in 2..=CHAIN_MOST as u32 {
                assert_eq!(chain.parent(Rank(rank), stripe), Some(Rank(rank - 1)));
            }
        }
        // One more rank, or every rank on one node: trees.
        assert_eq!(
            plan_on(CHAIN_MOST as u32 + 1, true).layout,
            Some(Layout::Trees)
        );
        assert_eq!(plan(CHAIN_MOST as u32).layout, Some(Layout::Trees));
    }

    #[test]
    fn trees_are_shallow() {
        let plan = plan(10_000);
        for stripe in 0..STRIPES {
            let deepest = (1..=10_000)
                .map(|rank| {
                    let mut depth = 0;
                    let mut at = Rank(rank);
                    while let Some(parent) = plan.parent(at, stripe) {
                        depth += 1;
                        at = parent;
                    }
                    depth
                })
                .max()
                .unwrap();
            // The feeder, then log4(10,000) = 6.6 levels.
            assert!(deepest <= 8, "stripe {stripe}: {deepest} hops");
        }
    }

    #[test]
    fn node_mates_fetch_from_the_one_in_the_trees() {
        // Ranks 1-2 on one node, 3-4 on another with a seed (rank 9).
        let mut plan = TreePlan::default();
        let nearest = |r: Rank| match r.0 {
            2 => Some(Rank(1)),
            3 | 4 => Some(Rank(9)),
            _ => None,
        };
        let wanters = vec![Rank(1), Rank(2), Rank(3), Rank(4), Rank(5)];
        plan.expect(wanters, nearest, true);
        plan.build();
        for stripe in 0..STRIPES {
            assert_eq!(plan.parent(Rank(2), stripe), Some(Rank(1)));
            assert_eq!(plan.parent(Rank(3), stripe), Some(Rank(9)));
            assert_eq!(plan.parent(Rank(4), stripe), Some(Rank(9)));
            assert_eq!(plan.parent(Rank(1), stripe), None, "the feeder");
            assert_eq!(plan.parent(Rank(5), stripe), Some(Rank(1)));
        }
    }

    #[test]
    fn a_rank_outside_the_plan_has_no_parent() {
        let plan = plan(10);
        assert_eq!(plan.parent(Rank(50), 0), None);
    }
}
