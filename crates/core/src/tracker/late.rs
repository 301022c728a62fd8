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
//! - a seeder that registered a stripe (several seeders share one source,
//!   see `tree::stripes`) sends the hashes of its stripe only, and holds
//!   only its stripe, never becoming a seed: a hash counts once every
//!   seeder reading that segment sent it, so with stripes, as soon as its
//!   one reader did, and the hashes agreed are no longer a prefix of the
//!   file (each HASHES to a downloader is one run of them);
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
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

/// A late owner of a file: the segments it reads (the whole file, or its
/// stripe when several seeders share one source), and how far it has sent
/// their hashes.
#[derive(Debug)]
struct Owed {
    rank: Rank,
    part: Range<SegmentIdx>,
    /// The next segment whose hash it sends (its hashes come in order).
    sent: SegmentIdx,
}

impl Owed {
    /// Whether it reads segment `index` and has sent its hash.
    fn has_sent(&self, index: SegmentIdx) -> bool {
        self.part.contains(&index) && index < self.sent
    }
}

/// The hashes still to come of one file.
#[derive(Debug, Default)]
pub(super) struct LateFile {
    owners: Vec<Owed>,
    /// How many of the file's hashes are agreed (in the swarm).
    agreed: usize,
    /// The hashes sent by some of the late owners that read them but not
    /// yet by all, by segment: a hash counts (goes into the swarm, to the
    /// downloaders) only once every seeder reading it sent it and they
    /// agree, so no rank writes a file that a seeder would contradict
    /// later.
    ahead: BTreeMap<SegmentIdx, String>,
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
        let owners = owners.into_iter().map(|o| Owed {
            rank: o.rank,
            part: o.part,
            sent: o.published,
        });
        LateFile {
            owners: owners.collect(),
            agreed: hashes.iter().filter(|h| hash_known(h)).count(),
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
        if late.agreed == self.files[file.index()].hashes.len() {
            return false;
        }
        if late.agreed == 0 {
            late.parked.push((from, hints));
            return true;
        }
        late.listeners.push(from);
        false
    }

    /// HASHES from a seeder: checks them against what the others sent;
    /// the hashes every seeder reading them has now sent go into the swarm
    /// (those seeders hold the segments from now on) and on to the
    /// downloaders.
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
        let listeners = late.listeners.clone();
        for run in agreed {
            let swarm = &self.files[file.index()];
            let hashes = swarm.hashes[run.start as usize..run.end as usize].to_vec();
            for &rank in &listeners {
                let msg = Message::Hashes {
                    file,
                    first: run.start,
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

    /// Checks a batch and takes it in: the runs of segments whose hashes
    /// every seeder reading them has now sent (none if none), or the one
    /// line why the batch is refused.
    fn take_hashes(
        &mut self,
        from: Rank,
        file: FileId,
        first: SegmentIdx,
        hashes: Vec<String>,
    ) -> Result<Vec<Range<SegmentIdx>>, String> {
        let Some(late) = self.late.get_mut(&file) else {
            return Err(not_late(from, file));
        };
        let Some(at) = late.owners.iter().position(|o| o.rank == from) else {
            return Err(not_late(from, file));
        };
        let swarm = &mut self.files[file.index()];
        let segments = swarm.hashes.len();
        let end = first as usize + hashes.len();
        let bad = hashes
            .iter()
            .any(|h| !hash_known(h) || h.chars().any(char::is_control));
        let owed = &mut late.owners[at];
        if first != owed.sent || end > owed.part.end as usize || bad {
            return Err(format!(
                "protocol error: rank {from} sent the hashes of segments {}..{end} of '{}', \
                 which has {segments} segments and was sent {} hashes before",
                first + 1,
                swarm.name,
                owed.sent - owed.part.start
            ));
        }
        owed.sent = end as SegmentIdx;
        let mut runs: Vec<Range<SegmentIdx>> = Vec::new();
        for (index, hash) in (first..).zip(hashes) {
            let at = index as usize;
            let known = Some(&swarm.hashes[at])
                .filter(|h| hash_known(h))
                .or_else(|| late.ahead.get(&index));
            if let Some(known) = known.filter(|known| **known != hash) {
                // Who sent it: another seeder reading it, or one that
                // listed all.
                let other = late
                    .owners
                    .iter()
                    .find(|o| o.rank != from && o.has_sent(index));
                let other = other
                    .map(|o| o.rank)
                    .or_else(|| swarm.seeds.first().copied());
                let other = (other.unwrap_or(from), known.as_str());
                let this = (from, hash.as_str());
                // Named in rank order, whichever hashed first.
                let (a, b) = if other.0 < from {
                    (other, this)
                } else {
                    (this, other)
                };
                return Err(hash_conflict(&swarm.name, index, a, b));
            }
            let readers = late.owners.iter().filter(|o| o.part.contains(&index));
            if readers.clone().any(|o| !o.has_sent(index)) {
                late.ahead.entry(index).or_insert(hash);
                continue;
            }
            for o in readers {
                swarm.record(o.rank, index);
            }
            late.ahead.remove(&index);
            if hash_known(&swarm.hashes[at]) {
                // Listed at registration: the downloaders have it.
                continue;
            }
            swarm.hashes[at] = hash;
            late.agreed += 1;
            match runs.last_mut() {
                Some(run) if run.end == index => run.end += 1,
                _ => runs.push(index..index + 1),
            }
        }
        let whole = 0..segments as SegmentIdx;
        for o in &late.owners {
            // A seeder of the whole file that sent every hash is a seed;
            // one of a stripe only ever holds its stripe.
            if o.part == whole && o.sent == whole.end && late.agreed == segments {
                swarm.complete(o.rank);
            }
        }
        Ok(runs)
    }

    /// Whether some seeder still owes hashes.
    pub(super) fn hashes_to_come(&self) -> bool {
        let mut owners = self.late.values().flat_map(|late| &late.owners);
        owners.any(|o| o.sent < o.part.end)
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
    use crate::{FileId, FileListing, HintRequest, Message, Rank, Registration, Stripe, Transmit};
    use std::time::Duration;

    const T0: Duration = Duration::ZERO;
    const F: FileId = FileId(0);

    /// Ranks 1..=`seeders` seed "f" (4 segments, hashes to come); the
    /// last rank wants it.
    fn tracker(seeders: u32) -> (Tracker, Rank) {
        striped(&vec![None; seeders as usize])
    }

    /// Like [`tracker`], each seeder reading the stripe given, if any.
    fn striped(stripes: &[Option<(u32, u32)>]) -> (Tracker, Rank) {
        let ranks = stripes.len() as u32 + 2;
        let mut t = Tracker::new(TrackerConfig::new(ranks), T0);
        let late = FileListing {
            name: "f".into(),
            hashes: vec![String::new(); 4],
        };
        for (rank, stripe) in (1..).zip(stripes) {
            let stripes = stripe.iter().map(|&(first, end)| Stripe {
                name: "f".into(),
                first,
                end,
            });
            let registration = Registration {
                owned: vec![late.clone()],
                stripes: stripes.collect(),
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
        ask_for(t, wanter, HintKind::Rarest)
    }

    fn ask_for(t: &mut Tracker, wanter: Rank, kind: HintKind) -> Vec<Transmit> {
        let hints = HintRequest { kind, count: 4 };
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

    /// The abort reason the tracker reported, if any.
    fn aborted(t: &mut Tracker) -> Option<String> {
        std::iter::from_fn(|| t.poll_event()).find_map(|e| match e {
            TrackerEvent::Aborted { reason } => Some(reason),
            _ => None,
        })
    }

    #[test]
    fn seeders_of_stripes_send_and_hold_their_stripes_only() {
        let (mut t, wanter) = striped(&[Some((0, 2)), Some((2, 4))]);
        assert!(
            ask_for(&mut t, wanter, HintKind::Tree).is_empty(),
            "no hash yet"
        );
        // Rank 2's stripe comes first: the reply has its hashes, and the
        // plan names each segment's reader.
        let sent = hashes(&mut t, 2, 2, &["c", "d"]);
        let [Transmit {
            msg:
                Message::SwarmReply {
                    hashes: known,
                    hints,
                    ..
                },
            ..
        }] = &sent[..]
        else {
            panic!("{sent:?}")
        };
        assert_eq!(known, &["", "", "c", "d"]);
        let readers = [(0, Rank(1)), (1, Rank(1)), (2, Rank(2)), (3, Rank(2))];
        assert_eq!(hints, &readers);
        let sent = hashes(&mut t, 1, 0, &["a"]);
        let expected = Message::Hashes {
            file: F,
            first: 0,
            hashes: vec!["a".into()],
        };
        assert_eq!(sent[0].msg, expected);
        assert!(t.hashes_to_come(), "rank 1 owes segment 2");
        hashes(&mut t, 1, 1, &["b"]);
        assert!(!t.hashes_to_come());
        let swarm = &t.files[F.index()];
        let held = |rank| {
            (0..4)
                .filter(|&s| swarm.holders[s].contains(&Rank(rank)))
                .count()
        };
        assert_eq!((held(1), held(2)), (2, 2), "each holds its stripe");
        assert!(swarm.seeds.is_empty(), "neither holds the whole file");
        assert_eq!(swarm.hashes, ["a", "b", "c", "d"]);
        assert_eq!(aborted(&mut t), None);
    }

    #[test]
    fn a_hash_outside_the_stripe_and_a_segment_nobody_reads_end_the_job() {
        let (mut t, _) = striped(&[Some((0, 2)), Some((2, 4))]);
        hashes(&mut t, 1, 0, &["a", "b", "c"]);
        let reason = aborted(&mut t).expect("refused");
        assert!(
            reason.contains("rank 1 sent the hashes of segments 1..3"),
            "{reason}"
        );
        let (mut t, _) = striped(&[Some((0, 2)), Some((3, 4))]);
        assert_eq!(
            aborted(&mut t).as_deref(),
            Some(
                "protocol error: no seeder of 'f' reads segment 3: the seeders' stripes leave \
                 it out"
            )
        );
        let (mut t, _) = striped(&[Some((0, 2)), Some((2, 5))]);
        let reason = aborted(&mut t).expect("refused");
        assert!(
            reason.contains("rank 2 registered segments 3..5 of 'f'"),
            "{reason}"
        );
    }

    #[test]
    fn a_stripe_and_a_seeder_of_the_whole_file_must_agree() {
        let (mut t, _) = striped(&[Some((0, 2)), None, Some((2, 4))]);
        hashes(&mut t, 2, 0, &["a", "b", "c", "d"]);
        hashes(&mut t, 1, 0, &["a", "b"]);
        hashes(&mut t, 3, 2, &["c", "x"]);
        let reason = aborted(&mut t).expect("the difference ends the job");
        assert!(
            reason.ends_with("segment 4 is 'd' on rank 2 but 'x' on rank 3"),
            "{reason}"
        );
    }
}
