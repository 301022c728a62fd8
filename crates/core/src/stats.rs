//! What each rank counts during a run, and sends to the tracker at the end
//! so rank 0 can build the run report (see [`crate::report`]).

use crate::{FileId, MessageKind, Rank};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Segments of one file moved between this rank and another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub file: FileId,
    /// The other rank: the source of a download, the destination of an upload.
    pub peer: Rank,
    pub segments: u64,
}

/// Counts of transfers keyed by (file, other rank), kept while running.
///
/// A rank counts one transfer per segment, with a different other rank
/// almost every time in a large swarm (at 10,000 peers, ~1,000 distinct
/// sources and destinations per rank, 2 x 10^7 keys in all). A map keyed by
/// (file, rank) costs a few cache misses per segment there, and ~25 bytes
/// a key; so new transfers are appended to a log instead (8 bytes each,
/// written in order), which is sorted and merged into the counts only once
/// it is as long as they are and a few thousand entries long (amortized
/// O(log n) per transfer). The counts come out the same either way.
#[derive(Clone, Default)]
pub struct TransferCounts {
    /// Counted so far, sorted by (file, rank), each key once.
    merged: Vec<((FileId, Rank), u64)>,
    /// One entry per transfer added since the last merge, in arrival order.
    recent: Vec<(FileId, Rank)>,
    total: u64,
}

/// The log is not merged before it is this long: below it, merging would
/// cost more than it saves.
const MERGE_AT: usize = 4096;

impl TransferCounts {
    /// Counts one segment of `file` moved to or from `peer`.
    pub fn add(&mut self, file: FileId, peer: Rank) {
        self.recent.push((file, peer));
        self.total += 1;
        if self.recent.len() >= MERGE_AT.max(self.merged.len()) {
            self.merged = merged(&self.merged, &mut self.recent);
            self.recent.clear();
        }
    }

    /// Segments counted in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) the slot
    /// the next [`TransferCounts::add`] writes.
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self) {
        crate::prefetch::line(self.recent.as_ptr().wrapping_add(self.recent.len()));
    }

    /// The counts as a list, in (file, rank) order.
    pub fn to_list(&self) -> Vec<Transfer> {
        merged(&self.merged, &mut self.recent.clone())
            .into_iter()
            .map(|((file, peer), segments)| Transfer {
                file,
                peer,
                segments,
            })
            .collect()
    }
}

/// `counts` (sorted, each key once) plus one for each entry of `log` (which
/// is sorted here), sorted, each key once.
fn merged(
    counts: &[((FileId, Rank), u64)],
    log: &mut [(FileId, Rank)],
) -> Vec<((FileId, Rank), u64)> {
    log.sort_unstable();
    let mut out: Vec<((FileId, Rank), u64)> = Vec::with_capacity(counts.len() + log.len());
    let mut counts = counts.iter().peekable();
    for &key in log.iter() {
        while let Some(&&(earlier, count)) = counts.peek().filter(|(k, _)| *k < key) {
            out.push((earlier, count));
            counts.next();
        }
        match out.last_mut() {
            Some((last, count)) if *last == key => *count += 1,
            _ => match counts.next_if(|(k, _)| *k == key) {
                Some(&(_, count)) => out.push((key, count + 1)),
                None => out.push((key, 1)),
            },
        }
    }
    out.extend(counts);
    out
}

/// Equal when they count the same transfers, however they were logged.
impl PartialEq for TransferCounts {
    fn eq(&self, other: &Self) -> bool {
        self.total == other.total && self.to_list() == other.to_list()
    }
}
impl Eq for TransferCounts {}

impl fmt::Debug for TransferCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.to_list()
                    .iter()
                    .map(|t| ((t.file, t.peer), t.segments)),
            )
            .finish()
    }
}

/// Messages sent, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts(pub BTreeMap<MessageKind, u64>);

impl MessageCounts {
    pub fn add(&mut self, kind: MessageKind) {
        *self.0.entry(kind).or_default() += 1;
    }

    /// Adds every count of `other` to these.
    pub fn merge(&mut self, other: &MessageCounts) {
        for (&kind, &count) in &other.0 {
            *self.0.entry(kind).or_default() += count;
        }
    }

    pub fn get(&self, kind: MessageKind) -> u64 {
        self.0.get(&kind).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// Messages one side of a peer sent, by kind, while it runs: a flat array
/// rather than [`MessageCounts`]' map, whose insert per message shows at
/// 10^7 messages (the simulator's 10,000 peers). It becomes a
/// [`MessageCounts`] for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SentCounts {
    counts: [u64; 32],
    /// The kind of each slot, written at its first message only (so that
    /// counting touches one cache line).
    kinds: [Option<MessageKind>; 32],
}

impl SentCounts {
    pub fn add(&mut self, kind: MessageKind) {
        let slot = kind as usize;
        if self.counts[slot] == 0 {
            self.kinds[slot] = Some(kind);
        }
        self.counts[slot] += 1;
    }

    /// Adds every count of `other` to these.
    pub fn merge(&mut self, other: &SentCounts) {
        for (kind, &count) in other.kinds.iter().zip(&other.counts) {
            if let Some(kind) = *kind {
                let slot = kind as usize;
                self.kinds[slot] = Some(kind);
                self.counts[slot] += count;
            }
        }
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) what
    /// [`SentCounts::add`] of `kind` writes.
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self, kind: MessageKind) {
        crate::prefetch::line(&self.counts[kind as usize]);
    }

    /// The counts as the report keeps them.
    pub fn to_counts(&self) -> MessageCounts {
        let mut counts = MessageCounts::default();
        for (kind, &count) in self.kinds.iter().zip(&self.counts) {
            if let Some(kind) = *kind {
                counts.0.insert(kind, count);
            }
        }
        counts
    }
}

/// What the process of a rank used, as its driver measured it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceUse {
    /// User + system CPU time of the process.
    pub cpu_seconds: f64,
    /// Peak resident memory of the process, in KiB.
    pub peak_rss_kib: u64,
    /// Messages the rank handed to its transport, up to its STATS (that
    /// included): under
    /// MPI its sends, where a bundle of several small protocol messages
    /// ([`crate::wire::bundle`]) counts once (0 where not counted).
    #[serde(default)]
    pub transport_sends: u64,
}

/// Everything one peer reports to the tracker after TERMINATE.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerStats {
    pub downloads: Vec<Transfer>,
    pub uploads: Vec<Transfer>,
    /// NACKs this peer's downloads received.
    pub nacks_received: u64,
    /// Segments whose bytes did not match their hash (`share`).
    pub corrupt_received: u64,
    /// Bytes of segments received and stored (`share`; 0 in classic mode).
    pub bytes_received: u64,
    /// When each wanted file completed, in milliseconds after the ACK.
    pub completed: Vec<(FileId, u64)>,
    /// (milliseconds after the ACK, segments downloaded so far), sampled at
    /// every PEER_UPDATE and completion: how this peer filled up.
    pub progress: Vec<(u64, u64)>,
    pub messages_sent: MessageCounts,
    pub resources: ResourceUse,
    #[serde(default)]
    pub start: StartTimes,
    /// Bytes of its `--from` a `share` seeder read to hash them (before
    /// and while serving): with several seeders of one source, its stripe.
    #[serde(default)]
    pub source_bytes_read: u64,
}

/// How soon segments moved on a peer (`share` starts at once: a seeder
/// serves while it still hashes), for the report's `first_segment_ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartTimes {
    /// Milliseconds from this rank's start to its REGISTER_ACK, the origin
    /// of its other times (0 where its driver does not know).
    pub registered_ms: u64,
    /// When its upload side served its first segment, after the ACK.
    pub first_upload_ms: Option<u64>,
    /// HASHES batches it sent, and when it sent the last, after the ACK.
    pub hash_batches: u64,
    pub last_hashes_ms: Option<u64>,
}

/// Milliseconds in a duration, for reports.
pub fn millis(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn sent_counts_merge_and_become_message_counts() {
        let mut a = SentCounts::default();
        let mut b = SentCounts::default();
        let mut expected = MessageCounts::default();
        for kind in [
            MessageKind::Register,
            MessageKind::SegmentAck,
            MessageKind::SegmentAck,
        ] {
            a.add(kind);
            expected.add(kind);
        }
        for kind in [
            MessageKind::SegmentAck,
            MessageKind::Leave,
            MessageKind::Stats,
        ] {
            b.add(kind);
            expected.add(kind);
        }
        a.merge(&b);
        assert_eq!(a.to_counts(), expected);
        assert_eq!(a.to_counts().get(MessageKind::SegmentAck), 3);
        assert_eq!(SentCounts::default().to_counts(), MessageCounts::default());
    }

    #[test]
    fn transfer_counts_match_a_map_across_merges() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut counts = TransferCounts::default();
        let mut expected: BTreeMap<(FileId, Rank), u64> = BTreeMap::new();
        for step in 0..3 * MERGE_AT + 17 {
            let key = (FileId(rng.gen_range(0..3)), Rank(rng.gen_range(0..900)));
            counts.add(key.0, key.1);
            *expected.entry(key).or_default() += 1;
            if step % 1000 == 0 || step == 2 * MERGE_AT {
                let list: Vec<_> = counts
                    .to_list()
                    .into_iter()
                    .map(|t| ((t.file, t.peer), t.segments))
                    .collect();
                assert_eq!(list, expected.clone().into_iter().collect::<Vec<_>>());
                assert_eq!(counts.total(), expected.values().sum::<u64>());
            }
        }
        let mut other = TransferCounts::default();
        for (&(file, peer), &n) in expected.iter().rev() {
            (0..n).for_each(|_| other.add(file, peer));
        }
        assert_eq!(counts, other, "the same counts, logged in another order");
        other.add(FileId(0), Rank(0));
        assert_ne!(counts, other);
    }
}
