//! The real-data scenarios: `mpitorrent share` moving generated files
//! between 8 peer ranks (`-np 9`), each run next to `mpi-bcast`, a plain
//! MPI_Bcast of the same bytes to the same ranks, and every output of both
//! checked byte for byte.
//!
//! - `share-one-to-all`: one file (1 GiB by default) from seeder rank 1 to
//!   the 7 other peer ranks;
//! - `share-all-gather`: a shard an eighth of that size (128 MiB) on each
//!   peer rank 1..8; every peer gets the 7 shards it lacks;
//! - `share-small-files`: 20,000 files of 150 bytes in 200 folders from
//!   rank 1 to the 2 other peers of `-np 4` (issue 15, point 3: packs),
//!   next to `cp -r` to as many folders and `tar c | mpi-bcast | tar x`
//!   ([`small`]).
//!
//! `data` writes the files once per benchmark, `verify` checks the
//! outputs, `case` runs and measures, `table` shows the medians.

pub mod case;
pub mod data;
pub mod disk;
pub mod small;
pub mod table;
pub mod verify;

/// Ranks in a real-data job: the tracker and 8 peers.
pub const RANKS: u32 = 9;

/// Ranks of `share-small-files`: the tracker, the seeder and 2 peers.
pub const SMALL_RANKS: u32 = 4;

/// What the real-data scenarios move by default: the one-to-all file, and
/// the all-gather shards together.
pub const DEFAULT_SIZE: &str = "1GiB";

/// A real-data scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareKind {
    /// One file from rank 1 to every other peer.
    OneToAll,
    /// One shard per peer rank, every peer gathering every other's.
    AllGather,
    /// A tree of many small files from rank 1 to every other peer.
    SmallFiles,
}

impl ShareKind {
    pub const ALL: [ShareKind; 3] = [
        ShareKind::OneToAll,
        ShareKind::AllGather,
        ShareKind::SmallFiles,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ShareKind::OneToAll => "share-one-to-all",
            ShareKind::AllGather => "share-all-gather",
            ShareKind::SmallFiles => "share-small-files",
        }
    }

    /// `-np` of its jobs.
    pub fn ranks(self) -> u32 {
        match self {
            ShareKind::SmallFiles => SMALL_RANKS,
            _ => RANKS,
        }
    }

    pub fn by_name(name: &str) -> Option<ShareKind> {
        ShareKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The bound on wall / mpi-bcast wall, where it sets one.
    pub fn ratio_target(self) -> Option<f64> {
        match self {
            ShareKind::OneToAll => Some(1.5),
            ShareKind::AllGather | ShareKind::SmallFiles => None,
        }
    }

    /// The bound on wall / `cp -r` wall, where it sets one.
    pub fn cp_target(self) -> Option<f64> {
        (self == ShareKind::SmallFiles).then_some(2.0)
    }
}

/// The bound on every rank's peak resident memory, in MiB.
pub const PEAK_TARGET_MIB: f64 = 64.0;
