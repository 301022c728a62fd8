//! PEER_UPDATEs the tracker answers later: a request for hints that finds
//! none (every holder of what the requester lacks is busy, or nobody holds
//! it yet) waits at the tracker, if its hint policy says so, instead of
//! being answered with nothing and asked again at once.
//!
//! At thousands of peers the empty answers are most of the tracker's
//! messages while a swarm starts (the seed holds everything, owes a full
//! window, and every peer asks again the moment it hears nothing). A
//! waiting request is tried again whenever its file's swarm changes (an
//! update or a completion reported segments, and settled what holders
//! owe), oldest first, and is answered as soon as it gets a hint; one
//! whose requester completes the file first is answered with nothing then
//! (every PEER_UPDATE gets its SWARM_REFRESH, which the peer takes before
//! it ends).

use super::Tracker;
use crate::strategy::HintRequest;
use crate::{FileId, Message, Rank};
use std::collections::VecDeque;

/// The waiting requests of one swarm, oldest first, at most one per rank.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    /// Ranks in the order they began to wait; a rank whose request was
    /// answered meanwhile is skipped when it comes up.
    order: VecDeque<Rank>,
    /// Each rank's waiting request, by rank.
    request: Vec<Option<HintRequest>>,
}

impl Waiting {
    fn push(&mut self, rank: Rank, request: HintRequest) {
        if self.request.len() <= rank.index() {
            self.request.resize(rank.index() + 1, None);
        }
        debug_assert!(self.request[rank.index()].is_none());
        self.request[rank.index()] = Some(request);
        self.order.push_back(rank);
    }

    /// The oldest waiting request.
    fn pop(&mut self) -> Option<(Rank, HintRequest)> {
        while let Some(rank) = self.order.pop_front() {
            if let Some(request) = self.take(rank) {
                return Some((rank, request));
            }
        }
        None
    }

    /// The request `rank` has waiting, which stops waiting.
    fn take(&mut self, rank: Rank) -> Option<HintRequest> {
        self.request.get_mut(rank.index())?.take()
    }
}

/// Waiting requests tried again after each change of a swarm: enough to
/// hand out what one update frees, few enough that a swarm of thousands of
/// waiting peers does not cost thousands of tries per message.
const TRIES_PER_CHANGE: usize = 8;

impl Tracker {
    /// Answers a PEER_UPDATE's request for hints now, or keeps it waiting
    /// if there are none and its policy waits.
    pub(super) fn answer_update(&mut self, from: Rank, file: FileId, request: HintRequest) {
        // An update from a rank whose earlier one waits (a peer with
        // nothing left in flight reports what it got) replaces it.
        self.release_waiting(from, file);
        let swarm = &mut self.files[file.index()];
        let policy = request.kind.policy();
        let owners = if policy.refresh_names_owners() {
            swarm.owners_for(from, &self.load, self.config.swarm_sample, &mut self.rng)
        } else {
            Vec::new()
        };
        let hints = self.hints_for(file, from, request);
        let swarm = &mut self.files[file.index()];
        if hints.is_empty() && owners.is_empty() && request.count > 0 && policy.waits() {
            swarm.waiting.push(from, request);
            return;
        }
        let msg = Message::SwarmRefresh {
            file,
            owners,
            hints,
        };
        self.send(from, msg);
    }

    /// The swarm of `file` changed: tries its oldest waiting requests again.
    pub(super) fn retry_waiting(&mut self, file: FileId) {
        for _ in 0..TRIES_PER_CHANGE {
            let Some((rank, request)) = self.files[file.index()].waiting.pop() else {
                return;
            };
            let hints = self.hints_for(file, rank, request);
            if hints.is_empty() {
                // Still nothing: back to the end, and so are the rest.
                self.files[file.index()].waiting.push(rank, request);
                return;
            }
            let msg = Message::SwarmRefresh {
                file,
                owners: Vec::new(),
                hints,
            };
            self.send(rank, msg);
        }
    }

    /// `rank` completed or left `file`: a request of its that waits is
    /// answered with nothing.
    pub(super) fn release_waiting(&mut self, rank: Rank, file: FileId) {
        if self.files[file.index()].waiting.take(rank).is_none() {
            return;
        }
        let msg = Message::SwarmRefresh {
            file,
            owners: Vec::new(),
            hints: Vec::new(),
        };
        self.send(rank, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::HintKind;
    use crate::{FileListing, Registration, Transmit};
    use std::time::Duration;

    const T0: Duration = Duration::ZERO;

    fn relay(count: u32) -> HintRequest {
        HintRequest {
            kind: HintKind::Relay,
            count,
        }
    }

    fn drain(t: &mut Tracker) -> Vec<Transmit> {
        std::iter::from_fn(|| t.poll_transmit()).collect()
    }

    /// Rank 1 seeds "f" (4 segments); ranks 2 and 3 want it.
    fn swarm() -> Tracker {
        let mut t = Tracker::new(super::super::TrackerConfig::new(4), T0);
        let owned = vec![FileListing {
            name: "f".into(),
            hashes: (0..4).map(|i| format!("h{i}")).collect(),
        }];
        let seed = Registration {
            owned,
            ..Registration::default()
        };
        t.handle_message(T0, Rank(1), Message::Register(seed));
        for rank in [2, 3] {
            let wants = Registration {
                wanted: vec!["f".into()],
                ..Registration::default()
            };
            t.handle_message(T0, Rank(rank), Message::Register(wants));
        }
        drain(&mut t);
        t
    }

    fn hints_of(sent: &[Transmit]) -> Vec<Vec<crate::Hint>> {
        sent.iter()
            .map(|s| match &s.msg {
                Message::SwarmReply { hints, .. } | Message::SwarmRefresh { hints, .. } => {
                    hints.clone()
                }
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn update(t: &mut Tracker, rank: u32, received: Vec<crate::Received>) -> Vec<Transmit> {
        let msg = Message::PeerUpdate {
            file: FileId(0),
            received,
            hints: relay(2),
        };
        t.handle_message(T0, Rank(rank), msg);
        drain(t)
    }

    #[test]
    fn a_request_without_hints_waits_until_the_swarm_changes() {
        let mut t = swarm();
        let ask = |name: &str| Message::SwarmRequest {
            name: name.into(),
            hints: relay(2),
        };
        // Rank 2 gets two fresh segments of the seed, which then owes a
        // full window; rank 3 gets them from rank 2, their relay.
        t.handle_message(T0, Rank(2), ask("f"));
        let to_2 = hints_of(&drain(&mut t)).remove(0);
        assert_eq!(to_2.len(), 2);
        assert!(to_2.iter().all(|h| h.1 == Rank(1)), "{to_2:?}");
        t.handle_message(T0, Rank(3), ask("f"));
        let to_3 = hints_of(&drain(&mut t)).remove(0);
        assert!(
            !to_3.is_empty() && to_3.iter().all(|h| h.1 == Rank(2)),
            "{to_3:?}"
        );
        // Rank 2 asks for more: nobody has room or anything new for it, so
        // its request waits (no answer now).
        assert!(update(&mut t, 2, vec![]).is_empty());
        // It asks again, reporting both segments: the waiting request is
        // answered with nothing, and the new one with the seed's next two.
        let received = to_2.iter().map(|h| (h.0, Rank(1))).collect();
        let answers = hints_of(&update(&mut t, 2, received));
        assert_eq!(answers.len(), 2, "{answers:?}");
        assert!(answers[0].is_empty());
        assert_eq!(answers[1].len(), 2);
        let fresh: Vec<u32> = answers[1].iter().map(|h| h.0).collect();
        assert!(fresh.iter().all(|i| !to_2.iter().any(|h| h.0 == *i)));
        // Rank 3's next request waits too, and is answered (with nothing)
        // when it completes the file.
        assert!(update(&mut t, 3, vec![]).is_empty());
        let done = Message::FileCompleted {
            file: FileId(0),
            received: vec![],
        };
        t.handle_message(T0, Rank(3), done);
        let sent = drain(&mut t);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].to, Rank(3));
        assert_eq!(hints_of(&sent), [vec![]]);
    }
}
