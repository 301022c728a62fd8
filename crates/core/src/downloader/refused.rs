//! A request an owner could not serve (NACK, or bytes that did not match
//! the segment's hash) goes to the next owner in turn, until every owner
//! of the present list has refused it.

use super::Downloader;
use crate::{FileId, Message, ProtocolError, Rank, SegmentIdx, Transmit};

impl Downloader {
    pub(super) fn handle_nack(
        &mut self,
        from: Rank,
        file: FileId,
        index: SegmentIdx,
    ) -> Result<(), ProtocolError> {
        self.stats.nacks_received += 1;
        self.expect_in_flight(from, file, index)?;
        self.ask_next_owner(from, file, index)
    }

    /// Sends a segment that `from` could not give (NACK, or bytes that did
    /// not match the hash) to the next owner in turn.
    pub(super) fn ask_next_owner(
        &mut self,
        from: Rank,
        file: FileId,
        index: SegmentIdx,
    ) -> Result<(), ProtocolError> {
        let rank = self.config.rank;
        let active = self.expect_in_flight(from, file, index)?;
        let request = active.in_flight.get_mut(index).expect("checked in flight");
        request.nacks += 1;
        // Every owner list holds a seed, and seeds never leave and always
        // ACK, so a segment that went round every owner twice, and that
        // every owner in the present list failed, means the swarm lost its
        // seed (or every owner sends bad bytes).
        if !request.nacked_by.contains(&from) {
            request.nacked_by.push(from);
        }
        // The owner list may have been replaced since the first NACK (a
        // refresh, or a sampled list): it is the present list's owners
        // that must all have failed, not a count of NACKs from owners
        // since dropped.
        let all_failed = (active.owners.iter()).all(|o| request.nacked_by.contains(&o.rank));
        if active.owners.is_empty() || (request.nacks > 2 * active.owners.len() + 2 && all_failed) {
            return Err(ProtocolError(format!(
                "rank {rank}: no owner of '{}' could send segment {} (NACK or bad bytes \
                 from each)",
                active.file.name,
                index + 1
            )));
        }
        let position = (request.first_owner + request.nacks) % active.owners.len();
        let owner = active.owners[position].rank;
        request.owner = owner;
        self.policy.requested(owner);
        self.transmits.push_back(Transmit {
            to: owner,
            msg: Message::SegmentRequest { file, index },
        });
        Ok(())
    }
}
