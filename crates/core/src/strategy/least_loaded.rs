//! `least-loaded`: segments in file order; the owner is the less loaded of
//! two picked at random. The tracker reports each owner's uploads, and this
//! peer adds the requests it has sent since. Two random choices, not the
//! single minimum, keep peers that share the same stale view from all
//! piling onto the same owner.

use super::{DownloadPolicy, SwarmView};
use crate::{Hint, Owner, Rank, SegmentIdx};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// The least-loaded strategy.
#[derive(Debug, Default)]
pub(super) struct LeastLoaded {
    /// Requests sent to each rank since the owner list was refreshed.
    sent: HashMap<Rank, u32>,
}

impl DownloadPolicy for LeastLoaded {
    fn start_file(&mut self, _segments: SegmentIdx, _rng: &mut ChaCha8Rng) -> SegmentIdx {
        self.sent.clear();
        0
    }

    fn pick_owner(&mut self, owners: &[Owner], _cursor: &mut usize, rng: &mut ChaCha8Rng) -> usize {
        let load = |i: usize| {
            let owner = &owners[i];
            owner.load as u64 + self.sent.get(&owner.rank).copied().unwrap_or(0) as u64
        };
        let first = rng.gen_range(0..owners.len());
        let second = rng.gen_range(0..owners.len());
        if load(second) < load(first) {
            second
        } else {
            first
        }
    }

    fn requested(&mut self, owner: Rank) {
        *self.sent.entry(owner).or_default() += 1;
    }

    fn refreshed(&mut self, owners: Vec<Owner>, hints: Vec<Hint>, view: SwarmView<'_>) {
        // The refresh's loads count the requests sent so far.
        self.sent.clear();
        view.replace(owners, hints);
    }
}

#[cfg(test)]
mod tests {
    use super::super::round_robin::tests::owners;
    use super::*;
    use crate::downloader::tests::{drain, hashes, seeds, started};
    use crate::downloader::OwnerList;
    use crate::strategy::Strategy;
    use crate::{FileId, Message, TRACKER};
    use rand::SeedableRng;
    use std::collections::VecDeque;
    use std::time::Duration;

    #[test]
    fn least_loaded_avoids_the_busy_owner() {
        let owners = owners(&[1000, 0, 0, 0]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut policy = LeastLoaded::default();
        let mut cursor = 0;
        let busy = (0..400)
            .filter(|_| policy.pick_owner(&owners, &mut cursor, &mut rng) == 0)
            .count();
        // Only when both random picks land on it: about 1 in 16.
        assert!(busy < 50, "picked the busy owner {busy} times of 400");
    }

    #[test]
    fn requests_sent_count_as_load_until_a_refresh() {
        let owners = owners(&[0, 0]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut policy = LeastLoaded::default();
        for _ in 0..100 {
            policy.requested(Rank(1));
        }
        let picks: Vec<usize> = (0..50)
            .map(|_| policy.pick_owner(&owners, &mut 0, &mut rng))
            .collect();
        assert!(picks.iter().filter(|&&p| p == 0).count() < 25, "{picks:?}");
        let (mut list, mut unused) = (OwnerList::default(), VecDeque::new());
        let view = SwarmView {
            me: Rank(9),
            owners: &mut list,
            hints: &mut unused,
        };
        policy.refreshed(owners.clone(), vec![], view);
        assert!(policy.sent.is_empty());
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn least_loaded_spreads_requests() {
        let mut d = started(Strategy::LeastLoaded, 8);
        drain(&mut d);
        let mut owners = seeds(&[2, 3, 4]);
        owners[0].load = 500;
        let msg = Message::SwarmReply {
            file: FileId(0),
            hashes: hashes(50),
            owners,
            hints: vec![],
        };
        d.handle_message(Duration::ZERO, TRACKER, msg).unwrap();
        let sent = drain(&mut d);
        assert_eq!(sent.len(), 8);
        assert!(sent.iter().all(|t| t.to != Rank(2)), "{sent:?}");
    }
}
