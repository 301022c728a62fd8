//! A file's segments kept sorted by rarity (how many ranks hold each) as
//! holders come and go, so the rarest segments are found without a scan.
//!
//! The classic bucket trick: `order` lists the segments by rarity, and
//! `start[r]` is where the segments held by at least `r` ranks begin. A
//! segment that gains a holder swaps with the last segment of its bucket
//! and the bucket boundary moves by one; losing a holder is the mirror
//! image. Both are O(1).

use crate::SegmentIdx;

#[derive(Clone, Debug)]
pub(crate) struct RarityOrder {
    /// Segments, rarest first.
    order: Vec<SegmentIdx>,
    /// Where each segment is in `order`.
    position: Vec<usize>,
    /// How many ranks hold each segment.
    count: Vec<u32>,
    /// `start[r]`: the first position in `order` holding a segment held by
    /// at least `r` ranks (`order.len()` past the last rarity).
    start: Vec<usize>,
}

impl RarityOrder {
    /// `segments` segments, each held by `holders` ranks.
    pub fn new(segments: usize, holders: u32) -> Self {
        let mut start = vec![0; holders as usize + 1];
        start.push(segments);
        RarityOrder {
            order: (0..segments as SegmentIdx).collect(),
            position: (0..segments).collect(),
            count: vec![holders; segments],
            start,
        }
    }

    /// How many ranks hold `index`.
    pub fn count(&self, index: SegmentIdx) -> u32 {
        self.count[index as usize]
    }

    /// The segments, rarest first, from the first one held by at least
    /// `holders` ranks.
    pub fn held_by_at_least(&self, holders: u32) -> &[SegmentIdx] {
        let from = self
            .start
            .get(holders as usize)
            .copied()
            .unwrap_or(self.order.len());
        &self.order[from..]
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.order.swap(a, b);
        self.position[self.order[a] as usize] = a;
        self.position[self.order[b] as usize] = b;
    }

    /// One more rank holds `index`.
    pub fn add_holder(&mut self, index: SegmentIdx) {
        let rarity = self.count[index as usize] as usize;
        if self.start.len() < rarity + 3 {
            self.start.resize(rarity + 3, self.order.len());
        }
        // The last segment of its bucket trades places with it, and the
        // next bucket now begins one earlier.
        let last = self.start[rarity + 1] - 1;
        self.swap(self.position[index as usize], last);
        self.start[rarity + 1] -= 1;
        self.count[index as usize] += 1;
    }

    /// One rank fewer holds `index`.
    pub fn remove_holder(&mut self, index: SegmentIdx) {
        let rarity = self.count[index as usize] as usize;
        debug_assert!(rarity > 0, "segment {index} has no holder to lose");
        let first = self.start[rarity];
        self.swap(self.position[index as usize], first);
        self.start[rarity] += 1;
        self.count[index as usize] -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn check(order: &RarityOrder) {
        let counts: Vec<u32> = order
            .held_by_at_least(0)
            .iter()
            .map(|&i| order.count(i))
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        for holders in 0..8 {
            assert!(order
                .held_by_at_least(holders)
                .iter()
                .all(|&i| order.count(i) >= holders));
            let below = order.order.len() - order.held_by_at_least(holders).len();
            assert!(order.order[..below]
                .iter()
                .all(|&i| order.count(i) < holders));
        }
    }

    #[test]
    fn stays_sorted_as_holders_come_and_go() {
        let mut order = RarityOrder::new(20, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..500 {
            let index = rng.gen_range(0..20);
            if rng.gen_bool(0.7) {
                order.add_holder(index);
            } else if order.count(index) > 0 {
                order.remove_holder(index);
            }
            check(&order);
        }
    }

    #[test]
    fn the_rarest_come_first() {
        let mut order = RarityOrder::new(4, 1);
        order.add_holder(2);
        order.add_holder(2);
        order.add_holder(0);
        assert_eq!(order.count(2), 3);
        let rarest: Vec<u32> = order.held_by_at_least(0).to_vec();
        assert_eq!(&rarest[..2], &[3, 1]);
        assert_eq!(order.held_by_at_least(2), &[0, 2]);
        assert_eq!(order.held_by_at_least(3), &[2]);
        assert!(order.held_by_at_least(9).is_empty());
    }
}
