//! Which segment to ask for next, and the hashes that come after the swarm
//! reply (`share` starting at once: see the tracker's `late.rs`).
//!
//! A segment is asked for only once its hash is known, so that every
//! segment is verified against the hash its seeder computed: the hints
//! stop at one still to come (only `tree`'s plan names such segments; for
//! the other strategies the tracker hints what the seeders have hashed),
//! and so does the scan through the file, and both go on when its HASHES
//! arrive. With several seeders hashing stripes side by side, hashes come
//! in no longer in file order; the hints still wait in file order.

use super::{Active, Downloader};
use crate::{hash_known, FileId, ProtocolError, Rank, SegmentIdx};
use std::time::Duration;

/// The hashes of a file as a download knows them, while some are still to
/// come: the swarm reply's, filled in as HASHES arrive. Known hashes are
/// the first ones when one seeder reads the file; when several read it in
/// stripes, each stripe's come in order, the stripes side by side.
#[derive(Debug)]
pub(super) struct LateHashes {
    hashes: Vec<String>,
    /// How many are known.
    known: u32,
}

impl LateHashes {
    /// For a swarm reply's `hashes`, if some are still to come.
    pub(super) fn of_reply(hashes: &[String]) -> Option<Self> {
        let known = hashes.iter().filter(|h| hash_known(h)).count();
        (known < hashes.len()).then(|| LateHashes {
            hashes: hashes.to_vec(),
            known: known as u32,
        })
    }
}

impl Active {
    /// The hash of segment `index` as this download knows it (empty while
    /// it is still to come).
    pub(super) fn hash(&self, index: SegmentIdx) -> &str {
        match &self.late {
            Some(late) => &late.hashes[index as usize],
            None => &self.file.hashes[index as usize],
        }
    }

    fn hash_known(&self, index: SegmentIdx) -> bool {
        self.late
            .as_ref()
            .is_none_or(|late| hash_known(&late.hashes[index as usize]))
    }

    /// Whether every segment whose hash is known is held or on its way,
    /// while hashes are still to come: then asking the tracker for work is
    /// pointless (it hints only segments whose hashes it passed on), and
    /// the next HASHES is what to wait for. Asking anyway would make a
    /// download that outruns its seeder's hashing ask again and again.
    pub(super) fn waits_for_hashes(&self) -> bool {
        self.late.as_ref().is_some_and(|late| {
            let busy = self.in_flight.len() + self.storing.len();
            self.file.held_count() as usize + busy >= late.known as usize
        })
    }
}

impl Downloader {
    /// HASHES from the tracker: segments `first..` of `file` may be asked
    /// for now.
    pub(super) fn handle_hashes(
        &mut self,
        now: Duration,
        file: FileId,
        first: SegmentIdx,
        hashes: Vec<String>,
    ) -> Result<(), ProtocolError> {
        let rank = self.config.rank;
        let active = self.active.as_mut().filter(|a| a.file.id == file);
        let Some(active) = active else {
            return Err(not_waiting(rank, file, first, hashes.len()));
        };
        let end = first as usize + hashes.len();
        let late = active.late.as_mut().filter(|late| {
            let news = late.hashes.get(first as usize..end);
            news.is_some_and(|news| news.iter().all(|h| !hash_known(h)))
        });
        let Some(late) = late else {
            return Err(not_waiting(rank, file, first, hashes.len()));
        };
        late.hashes[first as usize..end].clone_from_slice(&hashes);
        late.known += hashes.len() as u32;
        self.fill_window()?;
        self.ask_for_work(now);
        Ok(())
    }
}

/// The message for HASHES a download did not wait for.
fn not_waiting(rank: Rank, file: FileId, first: SegmentIdx, count: usize) -> ProtocolError {
    ProtocolError(format!(
        "rank {rank} got the hashes of segments {}..{} of {file}, which it is not waiting for",
        first + 1,
        first as usize + count
    ))
}

/// The next segment to request: an unused hint (with its holder), else
/// (with `scan`) the next segment of the scan that is neither held nor in
/// flight. Never one whose hash is still to come.
pub(super) fn next_segment(active: &mut Active, scan: bool) -> Option<(SegmentIdx, Option<Rank>)> {
    let wanted = |active: &Active, index: SegmentIdx| {
        !active.file.has(index)
            && !active.in_flight.contains_key(index)
            && !active.storing.contains_key(index)
    };
    while let Some(&(index, holder)) = active.hints.front() {
        if index < active.file.segment_count() && !active.hash_known(index) {
            // A plan's hint (`tree` names a source for every segment at
            // once, in order): taken up when its hash comes. Later hints
            // wait too, even with their hashes known (several seeders
            // hash stripes side by side): every rank of the trees then
            // asks in segment order, so a parent's window holds what its
            // children ask of it, and no two ranks wait on each other.
            break;
        }
        active.hints.pop_front();
        if index < active.file.segment_count() && wanted(active, index) {
            return Some((index, Some(holder)));
        }
    }
    let total = active.file.segment_count();
    while scan && active.scanned < total {
        let index = (active.start + active.scanned) % total;
        if !active.hash_known(index) {
            // Taken up again when its hash comes.
            return None;
        }
        active.scanned += 1;
        if wanted(active, index) {
            return Some((index, None));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tests::{drain, seeds};
    use super::super::{Downloader, DownloaderConfig};
    use crate::content::hash_segment;
    use crate::holdings::Holdings;
    use crate::{FileId, Message, Payload, Rank, TRACKER};
    use std::sync::Arc;
    use std::time::Duration;

    const T0: Duration = Duration::ZERO;

    fn requested(sent: &[crate::Transmit]) -> Vec<u32> {
        sent.iter()
            .filter_map(|t| match t.msg {
                Message::SegmentRequest { index, .. } => Some(index),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn asks_only_for_segments_whose_hashes_came_and_verifies_against_them() {
        let config = DownloaderConfig {
            window: 4,
            verify: true,
            ..DownloaderConfig::classic(Rank(1), vec!["f".into()])
        };
        let mut d = Downloader::new(config, Arc::new(Holdings::new()));
        d.start(T0);
        drain(&mut d);
        let segments: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 8]).collect();
        let hash = |i: usize| hash_segment(&segments[i]);
        // Two hashes known, two to come.
        let reply = Message::SwarmReply {
            file: FileId(0),
            hashes: vec![hash(0), hash(1), String::new(), String::new()],
            owners: seeds(&[2]),
            hints: vec![(3, Rank(2))],
        };
        d.handle_message(T0, TRACKER, reply).unwrap();
        assert_eq!(
            requested(&drain(&mut d)),
            [0, 1],
            "not 2, nor 3 (hinted; kept for its hash)"
        );
        let ack = |index: u32, bytes: &[u8]| Message::SegmentAck {
            file: FileId(0),
            index,
            payload: Payload::from(bytes.to_vec()),
        };
        d.handle_message(T0, Rank(2), ack(0, &segments[0])).unwrap();
        let more = Message::Hashes {
            file: FileId(0),
            first: 2,
            hashes: vec![hash(2), hash(3)],
        };
        d.handle_message(T0, TRACKER, more).unwrap();
        assert_eq!(
            requested(&drain(&mut d)),
            [3, 2],
            "the kept hint, then the scan"
        );
        // Bytes that do not match the hash that came late are refused.
        d.handle_message(T0, Rank(2), ack(3, b"not it")).unwrap();
        assert_eq!(d.stats().corrupt_received, 1);
        // Hashes of a file it does not fetch are a protocol error.
        let stray = Message::Hashes {
            file: FileId(7),
            first: 0,
            hashes: vec![hash(0)],
        };
        assert!(d.handle_message(T0, TRACKER, stray).is_err());
    }
}
