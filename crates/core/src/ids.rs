//! Small identifiers shared by every part of the protocol.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An MPI rank (or its in-process equivalent). Rank 0 is always the tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rank(pub u32);

/// The tracker's rank.
pub const TRACKER: Rank = Rank(0);

impl Rank {
    /// The rank as an index into per-rank tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// True for the tracker (rank 0).
    pub fn is_tracker(self) -> bool {
        self == TRACKER
    }
}

impl fmt::Display for Rank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A file as the tracker numbers it: an index into the tracker's file table.
/// Peers learn ids from the registration ACK (files they own) and from swarm
/// replies (files they want), so segment traffic never carries names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileId(pub u32);

impl FileId {
    /// The id as an index into the tracker's file table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The position of a segment inside its file (0-based).
pub type SegmentIdx = u32;
