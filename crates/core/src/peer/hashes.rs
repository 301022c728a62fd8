//! [`HashPublisher`]: a seeder's side of the hashes that come after its
//! registration (`share` starting at once). The seeder registered some
//! files with their sizes alone; its driver hashes them while the swarm
//! runs and hands each batch here, which checks it continues the file
//! where the last one ended and makes the HASHES message for the tracker
//! (see the tracker's `late.rs`). It counts what it sent, for the STATS,
//! and when, for the run report.
//!
//! It is a side of its own, beside the download and upload sides, so that
//! a driver can run it on a thread of its own: hashing must never wait for
//! the download side's next message, nor hold it up.

use crate::stats::{millis, SentCounts};
use crate::{hash_known, FileId, FileListing, Message, Rank, SegmentIdx, Transmit, TRACKER};
use std::ops::Range;
use std::time::Duration;

/// One file whose hashes this seeder still sends: up to segment
/// `segments` (the file's end, or its stripe's), from `sent` on.
#[derive(Clone, Debug)]
struct Pending {
    name: String,
    id: FileId,
    segments: u32,
    sent: u32,
}

/// What a seeder sent of its hashes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// HASHES messages sent.
    pub batches: u64,
    /// When the last one was sent (after the peer's REGISTER_ACK).
    pub last_ms: Option<u64>,
    /// Bytes of its source the seeder read to hash them, before and while
    /// serving (its driver tells: [`HashPublisher::read_source`]).
    pub source_bytes_read: u64,
}

/// The files a seeder registered with hashes to come, and how far it is.
#[derive(Clone, Debug)]
pub struct HashPublisher {
    rank: Rank,
    files: Vec<Pending>,
    sent: SentCounts,
    stats: PublishStats,
}

impl HashPublisher {
    /// For the owned `listings` of `rank`, with the ids the tracker gave
    /// them: those with hashes to come (the registered known prefix is
    /// taken as sent), of each the segments `stripe` says if it says
    /// (a seeder of one stripe sends that stripe's hashes only).
    pub(super) fn new<'a>(
        rank: Rank,
        listings: impl Iterator<Item = (&'a FileListing, FileId)>,
        stripe: &dyn Fn(&str) -> Option<Range<SegmentIdx>>,
    ) -> Self {
        let files = listings
            .filter(|(listing, _)| listing.hashes.iter().any(|h| !hash_known(h)))
            .map(|(listing, id)| {
                let known = listing.hashes.iter().take_while(|h| hash_known(h)).count();
                let part = stripe(&listing.name).unwrap_or(0..listing.hashes.len() as u32);
                Pending {
                    name: listing.name.clone(),
                    id,
                    segments: part.end,
                    sent: (known as u32).max(part.start),
                }
            })
            .collect();
        HashPublisher {
            rank,
            files,
            sent: SentCounts::default(),
            stats: PublishStats::default(),
        }
    }

    /// Whether some file's hashes are still to be sent.
    pub fn is_pending(&self) -> bool {
        self.files.iter().any(|f| f.sent < f.segments)
    }

    /// The HASHES message for segments `first..` of the file registered as
    /// `name`, at `now` (after the REGISTER_ACK); an error if the batch
    /// does not continue where the file's last one ended.
    pub fn publish(
        &mut self,
        now: Duration,
        name: &str,
        first: SegmentIdx,
        hashes: Vec<String>,
    ) -> Result<Transmit, String> {
        let rank = self.rank;
        let file = self.files.iter_mut().find(|f| f.name == name);
        let end = first as usize + hashes.len();
        let Some(file) = file.filter(|f| f.sent == first && end <= f.segments as usize) else {
            return Err(format!(
                "rank {rank}: hashed segments {}..{end} of '{name}', which were not \
                 still to come in that order",
                first + 1
            ));
        };
        file.sent = end as u32;
        let msg = Message::Hashes {
            file: file.id,
            first,
            hashes,
        };
        self.sent.add(msg.kind());
        self.stats.batches += 1;
        self.stats.last_ms = Some(millis(now));
        Ok(Transmit { to: TRACKER, msg })
    }

    /// The seeder's driver read `bytes` of its source in all to hash it.
    pub fn read_source(&mut self, bytes: u64) {
        self.stats.source_bytes_read = bytes;
    }

    /// The ABORT that tells the tracker hashing failed, for `reason`.
    pub fn failure(&mut self, reason: String) -> Transmit {
        let msg = Message::Abort { reason };
        self.sent.add(msg.kind());
        Transmit { to: TRACKER, msg }
    }

    /// Messages sent (for the STATS).
    pub fn sent(&self) -> &SentCounts {
        &self.sent
    }

    pub fn stats(&self) -> &PublishStats {
        &self.stats
    }
}
