//! How far the swarm is, as the tracker knows it: for a driver to show
//! while the swarm runs (the progress bar, the plain lines, the stall
//! report).

use super::Tracker;
use crate::Rank;

/// How far the swarm is, as the tracker knows it: from the PEER_UPDATEs
/// (every 10 segments) and the completions, so it lags the peers by at most
/// one update each. For a driver to show while the swarm runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Segments the peers reported downloading.
    pub segments_done: u64,
    /// Segments the peers must download in all: the segments of every
    /// wanted file a peer did not own at the start. Known from the ACK on
    /// (0 before).
    pub segments_total: u64,
    /// Peers that reported CLIENT_GOT_ALL_FILES.
    pub peers_done: u32,
    /// Peers in the job.
    pub peers: u32,
}

/// Of one file a peer downloads, what it lacks ([`Tracker::missing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missing<'a> {
    pub rank: Rank,
    pub name: &'a str,
    /// Segments it has not reported, of the file's `segments`.
    pub lacking: u64,
    pub segments: u64,
}

impl Tracker {
    /// How far the swarm is. It walks every peer's pending files, so a
    /// driver calls it now and then, not after every message.
    pub fn progress(&self) -> Progress {
        let missing = self.segments_to_download();
        Progress {
            segments_done: self.segments_wanted.saturating_sub(missing),
            segments_total: self.segments_wanted,
            peers_done: self.done,
            peers: self.peer_count(),
        }
    }

    /// Segments the peers still have to download (see [`Tracker::missing`]).
    pub(super) fn segments_to_download(&self) -> u64 {
        self.missing().map(|m| m.lacking).sum()
    }

    /// What each peer still has to download, file by file, as the tracker
    /// knows it (so lagging as [`Progress`] does): of each file a peer has
    /// not completed, the segments it has not reported. (A completed file
    /// is done for good, even if the peer leaves its swarm later; a wanted
    /// file the peer owned from the start needs no download.) For a driver
    /// that shows progress per rank or in bytes.
    pub fn missing(&self) -> impl Iterator<Item = Missing<'_>> + '_ {
        self.peer_ranks()
            .zip(&self.peers[1..])
            .flat_map(move |(rank, peer)| {
                peer.pending.iter().filter_map(move |name| {
                    let swarm = &self.files[self.by_name.get(name)?.index()];
                    if swarm.initial_owners.contains(&rank) {
                        return None;
                    }
                    let segments = swarm.hashes.len() as u64;
                    let lacking = segments.saturating_sub(u64::from(swarm.held_by(rank)));
                    Some(Missing {
                        rank,
                        name,
                        lacking,
                        segments,
                    })
                })
            })
    }
}
