//! `rarest-first` (as BitTorrent): the tracker names the segments that
//! fewest ranks hold and a holder of each; the peer fetches those first,
//! then the rest from a random starting point, owners in turn.

use super::{Ask, DownloadPolicy, HintKind, HintPolicy, HintRequest, Window};
use crate::tracker::FileSwarm;
use crate::{Hint, Rank, SegmentIdx};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BinaryHeap;

/// The most segments one search for the rarest looks at.
pub(crate) const HINT_SCAN_LIMIT: usize = 4096;

/// The rarest-first strategy's download side.
#[derive(Debug)]
pub(super) struct RarestFirst;

impl DownloadPolicy for RarestFirst {
    /// Enough to keep busy until the next refresh, with slack for hints
    /// that turn out to be in flight already.
    fn hint_request(&self, window: &Window) -> HintRequest {
        HintRequest {
            kind: HintKind::Rarest,
            count: window.update_every.max(1).saturating_mul(2),
        }
    }

    /// A random start, so that peers fetching the same file at the same
    /// time fetch different segments once the hints are used.
    fn start_file(&mut self, segments: SegmentIdx, rng: &mut ChaCha8Rng) -> SegmentIdx {
        match segments {
            0 => 0,
            _ => rng.gen_range(0..segments),
        }
    }
}

/// The tracker's rarest-segment hints.
#[derive(Debug)]
pub(super) struct RarestHints;

impl HintPolicy for RarestHints {
    /// Up to `count` of the rarest segments `requester` has not reported,
    /// each with a holder to fetch it from (the least loaded of a few
    /// candidates). The search starts at a random segment so that peers
    /// asking at the same time get different segments of equal rarity, and
    /// looks at no more than [`HINT_SCAN_LIMIT`] segments, so that a refresh
    /// of a 100,000-segment file costs no more than one of a small file
    /// (the rarest of a random stretch, rather than of the whole file).
    fn hints(&self, swarm: &mut FileSwarm, ask: Ask<'_>, rng: &mut ChaCha8Rng) -> Vec<Hint> {
        let Ask {
            requester,
            count,
            load,
            ..
        } = ask;
        let segments = swarm.segments();
        if count == 0 || segments == 0 {
            return Vec::new();
        }
        let held = swarm.members.get(requester).map(|m| &m.held);
        let start = rng.gen_range(0..segments);
        let scan = segments.min(HINT_SCAN_LIMIT);
        // A max-heap of (rarity, scan position) keeps the `count` rarest.
        let mut rarest: BinaryHeap<(u32, usize, SegmentIdx)> = BinaryHeap::new();
        for step in 0..scan {
            let index = ((start + step) % segments) as SegmentIdx;
            if held.is_some_and(|h| h.contains(index)) {
                continue;
            }
            let entry = (swarm.rarity.count(index), step, index);
            if rarest.len() < count {
                rarest.push(entry);
            } else if rarest.peek().is_some_and(|top| entry < *top) {
                rarest.pop();
                rarest.push(entry);
            }
        }
        let mut hints: Vec<(u32, usize, SegmentIdx)> = rarest.into_vec();
        hints.sort_unstable();
        hints
            .into_iter()
            .filter_map(|(_, _, index)| {
                let holder = pick_holder(swarm, index, requester, load, rng)?;
                Some((index, holder))
            })
            .collect()
    }
}

/// The least loaded of up to four random holders of `index`.
fn pick_holder(
    swarm: &FileSwarm,
    index: SegmentIdx,
    requester: Rank,
    load: &[u32],
    rng: &mut ChaCha8Rng,
) -> Option<Rank> {
    let holders = &swarm.holders[index as usize];
    let load_of = |rank: Rank| load.get(rank.index()).copied().unwrap_or(0);
    (0..4)
        .filter_map(|_| holders.choose(rng).copied())
        .filter(|&rank| rank != requester && !swarm.departed.contains(&rank))
        .min_by_key(|&rank| load_of(rank))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downloader::tests::{drain, hashes, seeds, started};
    use crate::strategy::Strategy;
    use crate::{FileId, Message, TRACKER};
    use rand::SeedableRng;
    use std::time::Duration;

    fn rarest(swarm: &mut FileSwarm, requester: u32, count: usize) -> Vec<Hint> {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ask = Ask {
            requester: Rank(requester),
            count,
            load: &[],
            mates: &[],
        };
        RarestHints.hints(swarm, ask, &mut rng)
    }

    #[test]
    fn hints_name_the_rarest_segments_and_a_holder() {
        let hashes = (0..6).map(|i| format!("h{i}")).collect();
        let mut s = FileSwarm::new("f".into(), hashes, vec![Rank(1)]);
        for index in [0, 1, 2, 4] {
            s.record(Rank(2), index);
        }
        s.record(Rank(3), 0);
        // Rank 4 has nothing: segments 3 and 5 (only the seed) are rarest.
        let hints = rarest(&mut s, 4, 2);
        let mut indices: Vec<u32> = hints.iter().map(|h| h.0).collect();
        indices.sort();
        assert_eq!(indices, vec![3, 5]);
        assert!(hints.iter().all(|h| h.1 == Rank(1)));
        // Rank 2 is never hinted what it already reported.
        let hints = rarest(&mut s, 2, 10);
        assert!(
            hints.iter().all(|h| ![0, 1, 2, 4].contains(&h.0)),
            "{hints:?}"
        );
    }

    #[test]
    fn asks_for_twice_the_update_interval_and_starts_at_random() {
        let window = |update_every| Window {
            update_every,
            size: 8,
            free: 8,
        };
        let count = |update_every| RarestFirst.hint_request(&window(update_every)).count;
        assert_eq!((count(0), count(10), count(u32::MAX)), (2, 20, u32::MAX));
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let starts: Vec<SegmentIdx> = (0..20)
            .map(|_| RarestFirst.start_file(100, &mut rng))
            .collect();
        assert!(starts.iter().all(|&s| s < 100) && starts.iter().any(|&s| s != starts[0]));
        assert_eq!(RarestFirst.start_file(0, &mut rng), 0);
    }

    #[test]
    fn rarest_first_follows_the_hints_then_scans_from_a_random_start() {
        let mut d = started(Strategy::RarestFirst, 3);
        match drain(&mut d)[0].msg {
            Message::SwarmRequest { hints, .. } => assert_eq!(
                hints,
                HintRequest {
                    kind: HintKind::Rarest,
                    count: 20
                }
            ),
            ref other => panic!("{other:?}"),
        }
        let msg = Message::SwarmReply {
            file: FileId(0),
            hashes: hashes(50),
            owners: seeds(&[2, 3]),
            hints: vec![(40, Rank(3)), (7, Rank(9))],
        };
        d.handle_message(Duration::ZERO, TRACKER, msg).unwrap();
        let sent = drain(&mut d);
        assert_eq!(sent[0].to, Rank(3));
        assert_eq!(
            sent[0].msg,
            Message::SegmentRequest {
                file: FileId(0),
                index: 40
            }
        );
        // A hinted holder outside the owner list is still asked.
        assert_eq!(sent[1].to, Rank(9));
        assert_eq!(
            sent[1].msg,
            Message::SegmentRequest {
                file: FileId(0),
                index: 7
            }
        );
        assert_eq!(sent.len(), 3);
    }
}
