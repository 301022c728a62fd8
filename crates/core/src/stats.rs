//! What each rank counts during a run, and sends to the tracker at the end
//! so rank 0 can build the run report (see [`crate::report`]).

use crate::{FileId, MessageKind, Rank};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferCounts(BTreeMap<(FileId, Rank), u64>);

impl TransferCounts {
    /// Counts one segment of `file` moved to or from `peer`.
    pub fn add(&mut self, file: FileId, peer: Rank) {
        *self.0.entry((file, peer)).or_default() += 1;
    }

    /// Segments counted in all.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The counts as a list, in (file, rank) order.
    pub fn to_list(&self) -> Vec<Transfer> {
        self.0
            .iter()
            .map(|(&(file, peer), &segments)| Transfer {
                file,
                peer,
                segments,
            })
            .collect()
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

/// What the process of a rank used, as its driver measured it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceUse {
    /// User + system CPU time of the process.
    pub cpu_seconds: f64,
    /// Peak resident memory of the process, in KiB.
    pub peak_rss_kib: u64,
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
}

/// Milliseconds in a duration, for reports.
pub fn millis(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}
