//! How many messages this process sent to, and received from, each rank:
//! every endpoint of the process counts here, so that the shutdown
//! ([`super::drain`]) can learn from the others exactly how many messages
//! are still on their way to it, and wait for those and no longer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The counts of one process, by rank.
#[derive(Debug)]
pub(super) struct Tally {
    sent: Vec<AtomicU64>,
    received: Vec<AtomicU64>,
}

static TALLY: OnceLock<Tally> = OnceLock::new();

/// This process's tally, for a job of `size` ranks (the size never
/// changes within a process: one `MPI_COMM_WORLD`).
pub(super) fn tally(size: u32) -> &'static Tally {
    TALLY.get_or_init(|| {
        let counters = || (0..size).map(|_| AtomicU64::new(0)).collect();
        Tally {
            sent: counters(),
            received: counters(),
        }
    })
}

impl Tally {
    /// A message to `to` was handed to MPI.
    pub(super) fn sent_to(&self, to: u32) {
        self.sent[to as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A message from `from` was received.
    pub(super) fn received_from(&self, from: u32) {
        self.received[from as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Messages sent so far to each rank, by rank.
    pub(super) fn sent(&self) -> Vec<u64> {
        load(&self.sent)
    }

    /// Messages received so far from each rank, by rank.
    pub(super) fn received(&self) -> Vec<u64> {
        load(&self.received)
    }
}

fn load(counters: &[AtomicU64]) -> Vec<u64> {
    counters.iter().map(|c| c.load(Ordering::Relaxed)).collect()
}

/// For each rank that sent this one more messages than it received (its
/// `sent_to_me` against `received`), the rank and how many are missing.
pub(super) fn missing(sent_to_me: &[u64], received: &[u64]) -> Vec<(u32, u64)> {
    (0u32..)
        .zip(sent_to_me.iter().zip(received))
        .filter(|(_, (sent, got))| sent > got)
        .map(|(rank, (sent, got))| (rank, sent - got))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_lists_only_the_ranks_still_owed() {
        assert_eq!(missing(&[3, 0, 5], &[3, 0, 2]), [(2, 3)]);
        assert_eq!(missing(&[1, 1], &[1, 1]), []);
        // More received than the sender counted cannot happen; it is not
        // "missing" either.
        assert_eq!(missing(&[0], &[2]), []);
    }
}
