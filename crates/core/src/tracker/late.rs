//! Hashes that come after registration (`share` starting at once).
//!
//! A seeder may register a file with its size alone (every hash
//! [`HASH_TO_COME`](crate::HASH_TO_COME)) and send the hashes in HASHES
//! batches, in file order, as it reads its source. The tracker is where
//! they meet:
//!
//! - it checks each batch against what it already knows of the file (from
//!   another seeder's listing or batches): a segment two seeders hash
//!   differently ends the job with the same message as at registration;
//! - the seeder holds, for the tracker, only the segments whose hashes it
//!   sent: so no hint and no owner list ever points at a segment nobody
//!   can verify yet, and the strategies need not know about hashes at all;
//!   with its last batch it becomes a seed;
//! - every hash it learns goes on at once, in HASHES, to each downloader
//!   of the file (those it sent a SWARM_REPLY with hashes still to come).
//!   A downloader cannot complete the file before it has every hash, so it
//!   takes every HASHES sent to it before it finishes: nothing is left
//!   unreceived at `MPI_Finalize`;
//! - a SWARM_REQUEST for a file of which no hash is known yet waits for the
//!   first batch (answered then), so the reply names the seeder among the
//!   owners.
//!
//! Why through the tracker rather than in each ACK: the tracker already
//! compares seeders and tells downloaders whom to ask; a hash that came
//! with the bytes would let a relay vouch for what it forwards, and would
//! leave two seeders of different contents undetected.

use super::registration::{hash_conflict, LateOwner};
use super::Tracker;
use crate::strategy::HintRequest;
use crate::{hash_known, FileId, Message, Rank, SegmentIdx};
use std::ops::Range;
use std::time::Duration;

/// The hashes still to come of one file.
#[derive(Debug, Default)]
pub(super) struct LateFile {
    /// Each late owner and how many hashes it has sent (in order).
    owners: Vec<(Rank, u32)>,
    /// How many of the file's hashes are agreed (the swarm's first ones).
    agreed: usize,
    /// The hashes sent by some late owners but not yet by all, from the
    /// swarm's first unknown hash on: a hash counts (goes into the swarm,
    /// to the downloaders) only once every seeder sent it and they agree,
    /// so no rank writes a file that a seeder would contradict later.
    ahead: Vec<String>,
    /// Downloaders that were answered while hashes were missing: each
    /// hash agreed since goes to them.
    listeners: Vec<Rank>,
    /// SWARM_REQUESTs waiting for the file's first hash.
    parked: Vec<(Rank, HintRequest)>,
}

impl LateFile {
    /// For a file whose swarm starts with `hashes` (those listed at
    /// registration), to come from `owners`.
    pub(super) fn new(owners: Vec<LateOwner>, hashes: &[String]) -> Self {
        LateFile {
            owners: owners.into_iter().map(|o| (o.rank, o.published)).collect(),
            agreed: hashes.iter().take_while(|h| hash_known(h)).count(),
            ..LateFile::default()
        }
    }
}

impl Tracker {
    /// Whether a SWARM_REQUEST of `from` for `file` must wait for the
    /// file's first hash (it is kept, and answered when the hash comes);
    /// otherwise, `from` is told every hash learned from now on if some
    /// are still missing.
    pub(super) fn park_until_hashed(
        &mut self,
        from: Rank,
        file: FileId,
        hints: HintRequest,
    ) -> bool {
        // (Only files with hashes to come are looked at: a classic swarm's
        // requests cost what they did.)
        let Some(late) = self.late.get_mut(&file) else {
            return false;
        };
        let hashes = &self.files[file.index()].hashes;
        if hashes.last().is_none_or(|last| hash_known(last)) {
            // Every hash agreed: the last is agreed last.
            return false;
        }
        if !hash_known(&hashes[0]) {
            late.parked.push((from, hints));
            return true;
        }
        late.listeners.push(from);
        false
    }

    /// HASHES from a seeder: checks them against what the others sent;
    /// the hashes every seeder has now sent go into the swarm (each late
    /// seeder holds those segments from now on) and on to the downloaders.
    pub(super) fn handle_hashes(
        &mut self,
        now: Duration,
        from: Rank,
        file: FileId,
        first: SegmentIdx,
        hashes: Vec<String>,
    ) {
        let agreed = match self.take_hashes(from, file, first, hashes) {
            Ok(agreed) => agreed,
            Err(reason) => return self.abort(reason),
        };
        let late = self.late.get_mut(&file).expect("checked by take_hashes");
        let parked = std::mem::take(&mut late.parked);
        if !agreed.is_empty() {
            let listeners = late.listeners.clone();
            let swarm = &self.files[file.index()];
            let hashes = swarm.hashes[agreed.start as usize..agreed.end as usize].to_vec();
            for rank in listeners {
                let msg = Message::Hashes {
                    file,
                    first: agreed.start,
                    hashes: hashes.clone(),
                };
                self.send(rank, msg);
            }
        }
        let name = self.files[file.index()].name.clone();
        for (rank, hints) in parked {
            self.handle_swarm_request(rank, &name, hints);
        }
        self.retry_waiting(file);
        self.terminate_if_done(now);
    }

    /// Checks a batch and takes it in: the segments whose hashes every
    /// seeder has now sent (empty if none), or the one line why the batch
    /// is refused.
    fn take_hashes(
        &mut self,
        from: Rank,
        file: FileId,
        first: SegmentIdx,
        hashes: Vec<String>,
    ) -> Result<Range<SegmentIdx>, String> {
        let Some(late) = self.late.get_mut(&file) else {
            return Err(not_late(from, file));
        };
        let others: Vec<(Rank, u32)> = late
            .owners
            .iter()
            .copied()
            .filter(|o| o.0 != from)
            .collect();
        let Some(sent) = late
            .owners
            .iter_mut()
            .find(|o| o.0 == from)
            .map(|o| &mut o.1)
        else {
            return Err(not_late(from, file));
        };
        let swarm = &mut self.files[file.index()];
        let segments = swarm.hashes.len();
        let end = first as usize + hashes.len();
        let bad = hashes
            .iter()
            .any(|h| !hash_known(h) || h.chars().any(char::is_control));
        if first != *sent || end > segments || bad {
            return Err(format!(
                "protocol error: rank {from} sent the hashes of segments {}..{end} of '{}', \
                 which has {segments} segments and was sent {} hashes before",
                first + 1,
                swarm.name,
                *sent
            ));
        }
        *sent = end as u32;
        // Hashes agreed so far are the swarm's; those beyond, `ahead`.
        let agreed = late.agreed;
        for (index, hash) in (first as usize..).zip(hashes) {
            let known = match index.checked_sub(agreed) {
                None => &swarm.hashes[index],
                Some(ahead) if ahead < late.ahead.len() => &late.ahead[ahead],
                Some(_) => {
                    late.ahead.push(hash);
                    continue;
                }
            };
            if *known != hash {
                // Who sent it: a seeder further on, or one that listed all.
                let other = others.iter().find(|o| o.1 as usize > index).map(|o| o.0);
                let other = other.or_else(|| swarm.seeds.first().copied());
                let other = (other.unwrap_or(from), known.as_str());
                let this = (from, hash.as_str());
                // Named in rank order, whichever hashed first.
                let (a, b) = if other.0 < from {
                    (other, this)
                } else {
                    (this, other)
                };
                return Err(hash_conflict(&swarm.name, index as SegmentIdx, a, b));
            }
        }
        let everyone = late
            .owners
            .iter()
            .map(|o| o.1 as usize)
            .min()
            .unwrap_or(end);
        let now_agreed = everyone.clamp(agreed, agreed + late.ahead.len());
        for (index, hash) in (agreed..now_agreed).zip(late.ahead.drain(..now_agreed - agreed)) {
            swarm.hashes[index] = hash;
            for &(rank, _) in &late.owners {
                swarm.record(rank, index as SegmentIdx);
            }
        }
        late.agreed = now_agreed;
        if now_agreed == segments {
            for &(rank, _) in &late.owners {
                swarm.complete(rank);
            }
        }
        Ok(agreed as SegmentIdx..now_agreed as SegmentIdx)
    }

    /// Whether some seeder still owes hashes.
    pub(super) fn hashes_to_come(&self) -> bool {
        self.late.iter().any(|(id, late)| {
            let segments = self.files[id.index()].hashes.len() as u32;
            late.owners.iter().any(|&(_, sent)| sent < segments)
        })
    }
}

/// The message for HASHES from a rank that owes none of that file.
fn not_late(from: Rank, file: FileId) -> String {
    format!(
        "protocol error: rank {from} sent HASHES of {file}, which it did not register \
         with hashes to come"
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Tracker, TrackerConfig, TrackerEvent};
    use crate::strategy::HintKind;
    use crate::{FileId, FileListing, HintRequest, Message, Rank, Registration, Transmit};
    use std::time::Duration;

    const T0: Duration = Duration::ZERO;
    const F: FileId = FileId(0);

    /// Ranks 1..=`seeders` seed "f" (4 segments, hashes to come); the
    /// last rank wants it.
    fn tracker(seeders: u32) -> (Tracker, Rank) {
        let ranks = seeders + 2;
        let mut t = Tracker::new(TrackerConfig::new(ranks), T0);
        let late = FileListing {
            name: "f".into(),
            hashes: vec![String::new(); 4],
        };
        for rank in 1..=seeders {
            let registration = Registration {
                owned: vec![late.clone()],
                ..Registration::default()
            };
            t.handle_message(T0, Rank(rank), Message::Register(registration));
        }
        let wanter = Rank(ranks - 1);
        let registration = Registration {
            wanted: vec!["f".into()],
            ..Registration::default()
        };
        t.handle_message(T0, wanter, Message::Register(registration));
        drain(&mut t);
        (t, wanter)
    }

    fn drain(t: &mut Tracker) -> Vec<Transmit> {
        std::iter::from_fn(|| t.poll_transmit()).collect()
    }

    fn hashes(t: &mut Tracker, from: u32, first: u32, hashes: &[&str]) -> Vec<Transmit> {
        let hashes = hashes.iter().map(|h| h.to_string()).collect();
        let msg = Message::Hashes {
            file: F,
            first,
            hashes,
        };
        t.handle_message(T0, Rank(from), msg);
        drain(t)
    }

    fn ask(t: &mut Tracker, wanter: Rank) -> Vec<Transmit> {
        let hints = HintRequest {
            kind: HintKind::Rarest,
            count: 4,
        };
        let msg = Message::SwarmRequest {
            name: "f".into(),
            hints,
        };
        t.handle_message(T0, wanter, msg);
        drain(t)
    }

    #[test]
    fn a_swarm_waits_for_the_first_hashes_then_gets_the_rest_as_they_come() {
        let (mut t, wanter) = tracker(1);
        assert!(ask(&mut t, wanter).is_empty(), "no hash known: it waits");
        let sent = hashes(&mut t, 1, 0, &["a", "b"]);
        let [Transmit { to, msg }] = &sent[..] else {
            panic!("{sent:?}")
        };
        let Message::SwarmReply {
            hashes: known,
            owners,
            hints,
            ..
        } = msg
        else {
            panic!("{msg:?}")
        };
        assert_eq!(*to, wanter);
        assert_eq!(known, &["a", "b", "", ""]);
        assert_eq!(owners.iter().map(|o| o.rank).collect::<Vec<_>>(), [Rank(1)]);
        assert!(hints.iter().all(|&(index, _)| index < 2), "{hints:?}");
        let sent = hashes(&mut t, 1, 2, &["c", "d"]);
        let expected = Message::Hashes {
            file: F,
            first: 2,
            hashes: vec!["c".into(), "d".into()],
        };
        assert_eq!(sent[0].msg, expected);
        // Out of order, or past the end: the job ends.
        hashes(&mut t, 1, 3, &["e"]);
        assert!(matches!(t.poll_event(), Some(TrackerEvent::AllRegistered)));
        let Some(TrackerEvent::Aborted { reason }) = t.poll_event() else {
            panic!("a batch out of order is refused")
        };
        assert!(
            reason.contains("rank 1 sent the hashes of segments 4..4"),
            "{reason}"
        );
    }

    #[test]
    fn hashes_count_once_every_seeder_agrees_and_a_difference_names_both() {
        let (mut t, wanter) = tracker(2);
        ask(&mut t, wanter);
        assert!(
            hashes(&mut t, 2, 0, &["a", "b"]).is_empty(),
            "rank 1 owes them"
        );
        let sent = hashes(&mut t, 1, 0, &["a"]);
        assert!(
            matches!(&sent[0].msg, Message::SwarmReply { hashes, .. } if hashes[0] == "a" && hashes[1].is_empty())
        );
        // Nobody may finish before every seeder sent every hash.
        for rank in 1..=3 {
            t.handle_message(T0, Rank(rank), Message::AllFilesCompleted);
        }
        assert!(drain(&mut t).iter().all(|s| s.msg != Message::Terminate));
        hashes(&mut t, 1, 1, &["x"]);
        let reason = std::iter::from_fn(|| t.poll_event())
            .find_map(|e| match e {
                TrackerEvent::Aborted { reason } => Some(reason),
                _ => None,
            })
            .expect("the difference ends the job");
        assert_eq!(
            reason,
            "ranks 1 and 2 both own file 'f' with different segments: segment 2 is 'x' on \
             rank 1 but 'b' on rank 2"
        );
    }
}
