//! What the tracker says when a swarm stalls: who it is waiting for, and
//! how far each waiting rank got.

use super::{Phase, Tracker};
use crate::Rank;

impl Tracker {
    /// Who the job is waiting for, for a stall report.
    pub(super) fn describe_waiting(&self) -> String {
        let mut waiting = Vec::new();
        for (rank, peer) in self.peer_ranks().zip(&self.peers[1..]) {
            match self.phase {
                Phase::Registering if peer.registration.is_none() => {
                    waiting.push(format!("rank {rank} never registered"))
                }
                Phase::Collecting if peer.stats.is_none() => {
                    waiting.push(format!("rank {rank} sent no statistics after TERMINATE"))
                }
                Phase::Mediating if !peer.done && peer.pending.is_empty() => {
                    waiting.push(format!("rank {rank} has not reported CLIENT_GOT_ALL_FILES"))
                }
                Phase::Mediating if !peer.done => {
                    let files: Vec<String> = peer
                        .pending
                        .iter()
                        .map(|name| self.describe_progress(rank, name))
                        .collect();
                    waiting.push(format!("rank {rank} waits for {}", files.join(", ")));
                }
                _ => {}
            }
        }
        if waiting.is_empty() {
            "no peer is waiting".into()
        } else {
            waiting.join("; ")
        }
    }

    fn describe_progress(&self, rank: Rank, name: &str) -> String {
        let Some(swarm) = self.by_name.get(name).map(|id| &self.files[id.index()]) else {
            return format!("'{name}'");
        };
        format!(
            "'{name}' ({} of {} segments reported)",
            swarm.held_by(rank),
            swarm.hashes.len()
        )
    }
}
