//! Segment capacity: in one tick every rank's uplink starts at most one
//! segment (a slow rank's, one every `k` ticks) and its downlink takes in
//! at most one.
//!
//! Both are FIFO queues in series. A segment an uploader answers with
//! waits in its uplink's queue; the tick it leaves, it needs the
//! receiver's downlink, and waits there if that is taken (by another
//! segment that left another uplink for the same receiver). A segment taken
//! in at tick `r` is delivered (held, and can be passed on) at tick `r + 1`.
//! Control messages do not pass through here: they only cost latency.

use crate::encoded::Encoded;
use mpitorrent_core::prefetch::{self, Depth};
use mpitorrent_core::Rank;
use std::collections::VecDeque;

/// A segment on its way: the encoded ACK that carries it.
#[derive(Debug)]
pub(crate) struct Segment {
    pub from: Rank,
    pub to: Rank,
    pub bytes: Encoded,
}

#[derive(Debug)]
struct Uplink {
    queue: VecDeque<Segment>,
    /// The first tick it may start another segment.
    free_at: u64,
    /// Ticks between two segments (1, or k for a slow rank).
    every: u64,
    /// A wake-up is scheduled (or being handled).
    waking: bool,
    /// Segments sent in all.
    sent: u64,
}

/// Every rank's uplink and downlink.
#[derive(Debug)]
pub(crate) struct Links {
    up: Vec<Uplink>,
    /// The first tick each downlink can take in another segment.
    down_free_at: Vec<u64>,
}

impl Links {
    /// Links for ranks whose uplinks start a segment every `every[rank]`
    /// ticks.
    pub fn new(every: &[u64]) -> Self {
        Links {
            up: every
                .iter()
                .map(|&every| Uplink {
                    queue: VecDeque::new(),
                    free_at: 0,
                    every: every.max(1),
                    waking: false,
                    sent: 0,
                })
                .collect(),
            down_free_at: vec![0; every.len()],
        }
    }

    /// Queues a segment on its sender's uplink at tick `now`. Returns the
    /// tick at which to [`Links::wake`] that uplink, unless a wake-up is
    /// already due.
    pub fn push(&mut self, now: u64, segment: Segment) -> Option<u64> {
        let up = &mut self.up[segment.from.index()];
        up.queue.push_back(segment);
        if up.waking {
            return None;
        }
        up.waking = true;
        Some(now.max(up.free_at))
    }

    /// The uplink of `rank` may send at tick `now`: its next segment
    /// leaves. Returns that segment with the tick it is delivered, and the
    /// tick of the next wake-up if more segments wait.
    pub fn wake(&mut self, now: u64, rank: Rank) -> (Option<(u64, Segment)>, Option<u64>) {
        let up = &mut self.up[rank.index()];
        up.waking = false;
        let Some(segment) = up.queue.pop_front() else {
            return (None, None);
        };
        debug_assert!(up.free_at <= now, "uplink {rank} woken early");
        up.free_at = now.saturating_add(up.every);
        up.sent += 1;
        let next = if up.queue.is_empty() {
            None
        } else {
            up.waking = true;
            Some(up.free_at)
        };
        let down = &mut self.down_free_at[segment.to.index()];
        let taken_in = now.max(*down);
        *down = taken_in.saturating_add(1);
        (Some((*down, segment)), next)
    }

    /// Starts loading into the cache (see [`mpitorrent_core::prefetch`])
    /// what a wake-up of `rank`'s uplink reads: its state, then the front
    /// of its queue.
    pub fn prefetch_wake(&self, rank: Rank, depth: Depth) {
        if let Some(up) = self.up.get(rank.index()) {
            match depth {
                Depth::Fields => prefetch::line(up),
                Depth::Pointees => prefetch::lines(up.queue.as_slices().0, 1),
                Depth::Beyond => {}
            }
        }
    }

    /// Starts loading into the cache what a segment pushed onto `rank`'s
    /// uplink touches: its state, then the slot past the back of its queue.
    pub fn prefetch_push(&self, rank: Rank, depth: Depth) {
        if let Some(up) = self.up.get(rank.index()) {
            match depth {
                Depth::Fields => prefetch::line(up),
                Depth::Pointees => {
                    let (front, back) = up.queue.as_slices();
                    let last = if back.is_empty() { front } else { back };
                    prefetch::line(last.as_ptr_range().end);
                }
                Depth::Beyond => {}
            }
        }
    }

    /// Segments each rank's uplink sent, rank 0 first.
    pub fn sent(&self) -> Vec<u64> {
        self.up.iter().map(|u| u.sent).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(from: u32, to: u32) -> Segment {
        Segment {
            from: Rank(from),
            to: Rank(to),
            bytes: Encoded::new(vec![from as u8, to as u8]),
        }
    }

    /// Pushes and wakes until the uplinks are empty; returns (from, to,
    /// delivered at) in the order segments left.
    fn drain(links: &mut Links, now: u64, segments: Vec<Segment>) -> Vec<(u32, u32, u64)> {
        let mut wakes: Vec<(u64, Rank)> = Vec::new();
        for s in segments {
            let from = s.from;
            if let Some(at) = links.push(now, s) {
                wakes.push((at, from));
            }
        }
        let mut out = Vec::new();
        while !wakes.is_empty() {
            wakes.sort();
            let (at, rank) = wakes.remove(0);
            let (sent, next) = links.wake(at, rank);
            if let Some((delivered, s)) = sent {
                out.push((s.from.0, s.to.0, delivered));
            }
            if let Some(next) = next {
                wakes.push((next, rank));
            }
        }
        out
    }

    #[test]
    fn an_uplink_sends_one_segment_per_tick() {
        let mut links = Links::new(&[1, 1, 1, 1]);
        let out = drain(&mut links, 5, vec![segment(1, 2), segment(1, 3)]);
        assert_eq!(out, vec![(1, 2, 6), (1, 3, 7)]);
        assert_eq!(links.sent(), vec![0, 2, 0, 0]);
    }

    #[test]
    fn a_downlink_takes_in_one_segment_per_tick() {
        let mut links = Links::new(&[1, 1, 1, 1]);
        let out = drain(&mut links, 0, vec![segment(1, 3), segment(2, 3)]);
        assert_eq!(out, vec![(1, 3, 1), (2, 3, 2)]);
    }

    #[test]
    fn a_slow_uplink_sends_every_k_ticks() {
        let mut links = Links::new(&[1, 3, 1, 1]);
        let out = drain(
            &mut links,
            0,
            vec![segment(1, 2), segment(1, 3), segment(1, 2)],
        );
        assert_eq!(out, vec![(1, 2, 1), (1, 3, 4), (1, 2, 7)]);
    }
}
