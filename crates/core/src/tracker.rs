//! The tracker (rank 0) as a state machine.
//!
//! It first collects one `Register` from every peer, checks that the
//! listings agree and that every wanted file has an owner, numbers the
//! files and ACKs each peer. Then it mediates: answers swarm requests,
//! records partial owners (PEER_UPDATE) and seeds (file completed), and
//! when every peer reported CLIENT_GOT_ALL_FILES it sends TERMINATE to all.
//! Anything wrong ends in an `Abort` sent to every peer, so no rank waits
//! forever; the reason is given once, here, in [`TrackerEvent::Aborted`].
//!
//! Drive it like every machine in this crate: feed `handle_message` /
//! `handle_timeout`, then drain `poll_transmit` and `poll_event`.

use crate::{FileId, FileListing, Message, Owner, Rank, Transmit};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

/// How the tracker is set up.
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    /// Ranks in the job, tracker included (peers are 1..ranks).
    pub ranks: u32,
    /// Abort the job if no peer makes progress for this long.
    pub stall_timeout: Option<Duration>,
}

/// What the tracker reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerEvent {
    /// Every peer registered and was ACKed; downloads start now.
    AllRegistered,
    /// Every peer got all its files and was sent TERMINATE.
    Terminated,
    /// The job must end; every peer was sent `Abort` with this reason.
    Aborted { reason: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Registering,
    Mediating,
    Finished,
}

/// One file as the tracker knows it.
#[derive(Debug)]
struct FileRecord {
    name: String,
    hashes: Vec<String>,
    /// The swarm: every rank that owns or is fetching the file.
    swarm: BTreeMap<Rank, SwarmMember>,
}

#[derive(Clone, Copy, Debug)]
struct SwarmMember {
    seed: bool,
    /// Segments reported held (all of them for a seed).
    held: u32,
}

/// One peer as the tracker knows it.
#[derive(Debug, Default)]
struct PeerRecord {
    registration: Option<(Vec<FileListing>, Vec<String>)>,
    /// Wanted files not yet reported complete (for the stall report).
    pending: Vec<String>,
    done: bool,
}

/// The tracker state machine.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    phase: Phase,
    peers: Vec<PeerRecord>,
    registered: u32,
    done: u32,
    files: Vec<FileRecord>,
    by_name: HashMap<String, FileId>,
    last_progress: Duration,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TrackerEvent>,
}

impl Tracker {
    /// A tracker for `config.ranks` ranks, started at `now`.
    pub fn new(config: TrackerConfig, now: Duration) -> Self {
        let peers = (0..config.ranks).map(|_| PeerRecord::default()).collect();
        Tracker {
            config,
            phase: Phase::Registering,
            peers,
            registered: 0,
            done: 0,
            files: Vec::new(),
            by_name: HashMap::new(),
            last_progress: now,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn peer_count(&self) -> u32 {
        self.config.ranks.saturating_sub(1)
    }

    /// True once the tracker terminated or aborted the job.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// Feeds one message received from `from`.
    pub fn handle_message(&mut self, now: Duration, from: Rank, msg: Message) {
        if self.phase == Phase::Finished {
            return;
        }
        if from.is_tracker() || from.0 >= self.config.ranks {
            return self.abort(format!("protocol error: message from unknown rank {from}"));
        }
        self.last_progress = now;
        match (self.phase, msg) {
            (_, Message::Abort { reason }) => self.abort(reason),
            (Phase::Registering, Message::Register { owned, wanted }) => {
                self.handle_register(from, owned, wanted)
            }
            (Phase::Mediating, Message::SwarmRequest { name }) => {
                self.handle_swarm_request(from, &name)
            }
            (Phase::Mediating, Message::PeerUpdate { file, segments }) => {
                self.handle_peer_update(from, file, segments.len())
            }
            (Phase::Mediating, Message::FileCompleted { file }) => {
                self.handle_file_completed(from, file)
            }
            (Phase::Mediating, Message::AllFilesCompleted) => self.handle_all_completed(from),
            (_, msg) => self.abort(format!(
                "protocol error: rank {from} sent {} to the tracker, which it did not expect now",
                msg.kind().name()
            )),
        }
    }

    /// The time at which [`Tracker::handle_timeout`] should be called.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.phase {
            Phase::Finished => None,
            _ => self.config.stall_timeout.map(|t| self.last_progress + t),
        }
    }

    /// Tells the tracker the time is `now`; aborts the job on a stall.
    pub fn handle_timeout(&mut self, now: Duration) {
        match self.poll_timeout() {
            Some(deadline) if now >= deadline => {
                let stalled = now.saturating_sub(self.last_progress);
                let reason = format!(
                    "the swarm made no progress for {} s; {}",
                    stalled.as_secs(),
                    self.describe_waiting()
                );
                self.abort(reason)
            }
            _ => {}
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<TrackerEvent> {
        self.events.pop_front()
    }

    fn handle_register(&mut self, from: Rank, owned: Vec<FileListing>, wanted: Vec<String>) {
        let peer = &mut self.peers[from.index()];
        if peer.registration.is_some() {
            return self.abort(format!("protocol error: rank {from} registered twice"));
        }
        peer.pending = wanted.clone();
        peer.registration = Some((owned, wanted));
        self.registered += 1;
        if self.registered == self.peer_count() {
            self.finish_registration();
        }
    }

    /// Builds the file table from every registration, checks it, and ACKs.
    fn finish_registration(&mut self) {
        // Files are numbered in name order so ids do not depend on which
        // peer's registration happened to arrive first.
        let mut table: BTreeMap<String, (Vec<String>, Rank, Vec<Rank>)> = BTreeMap::new();
        for (rank, peer) in self.peer_ranks().zip(&self.peers[1..]) {
            let (owned, _) = peer.registration.as_ref().expect("every peer registered");
            for listing in owned {
                match table.get_mut(&listing.name) {
                    None => {
                        table.insert(
                            listing.name.clone(),
                            (listing.hashes.clone(), rank, vec![rank]),
                        );
                    }
                    Some((hashes, first, owners)) => {
                        if let Some(problem) = listing_conflict(hashes, *first, listing, rank) {
                            return self.abort(problem);
                        }
                        owners.push(rank);
                    }
                }
            }
        }
        for (rank, peer) in self.peer_ranks().zip(&self.peers[1..]) {
            let (_, wanted) = peer.registration.as_ref().expect("every peer registered");
            if let Some(name) = wanted.iter().find(|name| !table.contains_key(*name)) {
                let reason = format!("rank {rank} wants file '{name}', which no rank owns");
                return self.abort(reason);
            }
        }
        for (index, (name, (hashes, _, owners))) in table.into_iter().enumerate() {
            let held = hashes.len() as u32;
            let swarm = owners
                .into_iter()
                .map(|rank| (rank, SwarmMember { seed: true, held }))
                .collect();
            self.by_name.insert(name.clone(), FileId(index as u32));
            self.files.push(FileRecord {
                name,
                hashes,
                swarm,
            });
        }
        for rank in self.peer_ranks() {
            let (owned, _) = self.peers[rank.index()]
                .registration
                .take()
                .expect("every peer registered");
            let file_ids = owned.iter().map(|l| self.by_name[&l.name]).collect();
            self.transmits.push_back(Transmit {
                to: rank,
                msg: Message::RegisterAck { file_ids },
            });
        }
        self.phase = Phase::Mediating;
        self.events.push_back(TrackerEvent::AllRegistered);
    }

    fn handle_swarm_request(&mut self, from: Rank, name: &str) {
        let Some(&file) = self.by_name.get(name) else {
            return self.abort(format!(
                "protocol error: rank {from} asked for the swarm of unknown file '{name}'"
            ));
        };
        let record = &mut self.files[file.index()];
        // A peer that asks for a swarm joins it as a peer.
        record.swarm.entry(from).or_insert(SwarmMember {
            seed: false,
            held: 0,
        });
        let msg = Message::SwarmReply {
            file,
            hashes: record.hashes.clone(),
            owners: owners_for(record, from),
        };
        self.transmits.push_back(Transmit { to: from, msg });
    }

    fn handle_peer_update(&mut self, from: Rank, file: FileId, new_segments: usize) {
        let Some(record) = self.files.get_mut(file.index()) else {
            return self.abort(format!(
                "protocol error: rank {from} updated unknown {file}"
            ));
        };
        let total = record.hashes.len() as u32;
        let member = record.swarm.entry(from).or_insert(SwarmMember {
            seed: false,
            held: 0,
        });
        member.held = (member.held + new_segments as u32).min(total);
        let msg = Message::SwarmRefresh {
            file,
            owners: owners_for(record, from),
        };
        self.transmits.push_back(Transmit { to: from, msg });
    }

    fn handle_file_completed(&mut self, from: Rank, file: FileId) {
        let Some(record) = self.files.get_mut(file.index()) else {
            return self.abort(format!(
                "protocol error: rank {from} completed unknown {file}"
            ));
        };
        let held = record.hashes.len() as u32;
        record.swarm.insert(from, SwarmMember { seed: true, held });
        let name = record.name.clone();
        self.peers[from.index()].pending.retain(|n| *n != name);
    }

    fn handle_all_completed(&mut self, from: Rank) {
        let peer = &mut self.peers[from.index()];
        if peer.done {
            return self.abort(format!("protocol error: rank {from} finished twice"));
        }
        peer.done = true;
        peer.pending.clear();
        self.done += 1;
        if self.done == self.peer_count() {
            for rank in self.peer_ranks() {
                self.transmits.push_back(Transmit {
                    to: rank,
                    msg: Message::Terminate,
                });
            }
            self.phase = Phase::Finished;
            self.events.push_back(TrackerEvent::Terminated);
        }
    }

    /// Ends the job: sends `Abort` with `reason` to every peer and finishes.
    /// The driver calls this for failures the machine cannot see (a message
    /// that would not decode, a transport error).
    pub fn abort(&mut self, reason: String) {
        if self.phase == Phase::Finished {
            return;
        }
        for rank in self.peer_ranks() {
            self.transmits.push_back(Transmit {
                to: rank,
                msg: Message::Abort {
                    reason: reason.clone(),
                },
            });
        }
        self.phase = Phase::Finished;
        self.events.push_back(TrackerEvent::Aborted { reason });
    }

    /// Who the job is waiting for, for a stall report.
    fn describe_waiting(&self) -> String {
        let mut waiting = Vec::new();
        for (rank, peer) in self.peer_ranks().zip(&self.peers[1..]) {
            if self.phase == Phase::Registering {
                if peer.registration.is_none() {
                    waiting.push(format!("rank {rank} never registered"));
                }
            } else if !peer.done && peer.pending.is_empty() {
                waiting.push(format!("rank {rank} has not reported CLIENT_GOT_ALL_FILES"));
            } else if !peer.done {
                let files: Vec<String> = peer
                    .pending
                    .iter()
                    .map(|name| self.describe_progress(rank, name))
                    .collect();
                waiting.push(format!("rank {rank} waits for {}", files.join(", ")));
            }
        }
        if waiting.is_empty() {
            "no peer is waiting".into()
        } else {
            waiting.join("; ")
        }
    }

    fn describe_progress(&self, rank: Rank, name: &str) -> String {
        let Some(record) = self.by_name.get(name).map(|id| &self.files[id.index()]) else {
            return format!("'{name}'");
        };
        let held = record.swarm.get(&rank).map_or(0, |m| m.held);
        format!(
            "'{name}' ({held} of {} segments reported)",
            record.hashes.len()
        )
    }

    fn peer_ranks(&self) -> impl Iterator<Item = Rank> {
        (1..self.config.ranks).map(Rank)
    }
}

/// The owners a requester may ask: every swarm member but itself that holds
/// at least one segment. Peers that joined but hold nothing are left out:
/// they could only answer NACK.
fn owners_for(record: &FileRecord, requester: Rank) -> Vec<Owner> {
    record
        .swarm
        .iter()
        .filter(|(&rank, member)| rank != requester && member.held > 0)
        .map(|(&rank, member)| Owner {
            rank,
            seed: member.seed,
            held: member.held,
        })
        .collect()
}

/// Why two registrations of the same file name disagree, if they do.
fn listing_conflict(
    first_hashes: &[String],
    first: Rank,
    listing: &FileListing,
    rank: Rank,
) -> Option<String> {
    let name = &listing.name;
    if let Some(index) = first_hashes
        .iter()
        .zip(&listing.hashes)
        .position(|(a, b)| a != b)
    {
        return Some(format!(
            "ranks {first} and {rank} both own file '{name}' with different segments: \
             segment {} is '{}' on rank {first} but '{}' on rank {rank}",
            index + 1,
            first_hashes[index],
            listing.hashes[index]
        ));
    }
    if first_hashes.len() != listing.hashes.len() {
        return Some(format!(
            "ranks {first} and {rank} both own file '{name}' with different segments: \
             {} segments on rank {first} but {} on rank {rank}",
            first_hashes.len(),
            listing.hashes.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::ZERO;

    fn listing(name: &str, hashes: &[&str]) -> FileListing {
        FileListing {
            name: name.into(),
            hashes: hashes.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn register(t: &mut Tracker, rank: u32, owned: Vec<FileListing>, wanted: &[&str]) {
        let wanted = wanted.iter().map(|w| w.to_string()).collect();
        t.handle_message(T0, Rank(rank), Message::Register { owned, wanted });
    }

    fn drain(t: &mut Tracker) -> Vec<Transmit> {
        std::iter::from_fn(|| t.poll_transmit()).collect()
    }

    fn tracker(ranks: u32) -> Tracker {
        Tracker::new(
            TrackerConfig {
                ranks,
                stall_timeout: Some(Duration::from_secs(60)),
            },
            T0,
        )
    }

    /// Two peers: 1 owns "b" and "a", 2 wants "a".
    fn registered() -> Tracker {
        let mut t = tracker(3);
        register(
            &mut t,
            1,
            vec![listing("b", &["x"]), listing("a", &["h1", "h2"])],
            &[],
        );
        assert!(
            drain(&mut t).is_empty(),
            "no ACK before everyone registered"
        );
        register(&mut t, 2, vec![], &["a"]);
        t
    }

    #[test]
    fn acks_every_peer_with_ids_in_name_order() {
        let mut t = registered();
        let sent = drain(&mut t);
        assert_eq!(
            sent[0],
            Transmit {
                to: Rank(1),
                msg: Message::RegisterAck {
                    file_ids: vec![FileId(1), FileId(0)]
                }
            }
        );
        assert_eq!(sent[1].to, Rank(2));
        assert_eq!(t.poll_event(), Some(TrackerEvent::AllRegistered));
    }

    #[test]
    fn answers_swarm_requests_and_tracks_the_swarm() {
        let mut t = registered();
        drain(&mut t);
        let now = Duration::from_secs(1);
        t.handle_message(now, Rank(2), Message::SwarmRequest { name: "a".into() });
        let reply = drain(&mut t).pop().unwrap();
        let seed = Owner {
            rank: Rank(1),
            seed: true,
            held: 2,
        };
        assert_eq!(
            reply.msg,
            Message::SwarmReply {
                file: FileId(0),
                hashes: vec!["h1".into(), "h2".into()],
                owners: vec![seed],
            }
        );
        let update = Message::PeerUpdate {
            file: FileId(0),
            segments: vec![1],
        };
        t.handle_message(now, Rank(2), update);
        let refresh = drain(&mut t).pop().unwrap();
        assert_eq!(refresh.to, Rank(2));
        assert!(
            matches!(refresh.msg, Message::SwarmRefresh { ref owners, .. } if owners == &[seed])
        );
        // The requester never appears in its own owner list, but others see it.
        t.handle_message(now, Rank(1), Message::SwarmRequest { name: "a".into() });
        match drain(&mut t).pop().unwrap().msg {
            Message::SwarmReply { owners, .. } => {
                assert_eq!(
                    owners,
                    vec![Owner {
                        rank: Rank(2),
                        seed: false,
                        held: 1
                    }]
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn terminates_everyone_when_all_are_done() {
        let mut t = registered();
        drain(&mut t);
        t.handle_message(T0, Rank(2), Message::FileCompleted { file: FileId(0) });
        t.handle_message(T0, Rank(2), Message::AllFilesCompleted);
        assert!(drain(&mut t).is_empty());
        t.handle_message(T0, Rank(1), Message::AllFilesCompleted);
        let sent = drain(&mut t);
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|tx| tx.msg == Message::Terminate));
        assert!(t.is_finished());
        assert_eq!(t.poll_event(), Some(TrackerEvent::AllRegistered));
        assert_eq!(t.poll_event(), Some(TrackerEvent::Terminated));
    }

    fn abort_reason(t: &mut Tracker) -> String {
        let sent = drain(t);
        assert!(sent
            .iter()
            .all(|tx| matches!(tx.msg, Message::Abort { .. })));
        loop {
            match t.poll_event() {
                Some(TrackerEvent::Aborted { reason }) => return reason,
                Some(_) => continue,
                None => panic!("no abort"),
            }
        }
    }

    #[test]
    fn conflicting_listings_name_both_ranks_and_the_segment() {
        let mut t = tracker(3);
        register(&mut t, 1, vec![listing("f", &["a", "b", "c"])], &[]);
        register(&mut t, 2, vec![listing("f", &["a", "x", "c"])], &[]);
        let reason = abort_reason(&mut t);
        assert!(reason.contains("ranks 1 and 2"), "{reason}");
        assert!(
            reason.contains("segment 2 is 'b' on rank 1 but 'x' on rank 2"),
            "{reason}"
        );
        let mut t = tracker(3);
        register(&mut t, 1, vec![listing("f", &["a"])], &[]);
        register(&mut t, 2, vec![listing("f", &["a", "b"])], &[]);
        assert!(abort_reason(&mut t).contains("1 segments on rank 1 but 2 on rank 2"));
    }

    #[test]
    fn a_wanted_file_nobody_owns_aborts_before_downloads() {
        let mut t = tracker(3);
        register(&mut t, 1, vec![], &[]);
        register(&mut t, 2, vec![], &["ghost"]);
        let reason = abort_reason(&mut t);
        assert_eq!(reason, "rank 2 wants file 'ghost', which no rank owns");
    }

    #[test]
    fn a_peer_abort_reaches_every_peer() {
        let mut t = registered();
        drain(&mut t);
        let reason = "rank 2: cannot write client2_a".to_string();
        t.handle_message(
            T0,
            Rank(2),
            Message::Abort {
                reason: reason.clone(),
            },
        );
        assert_eq!(abort_reason(&mut t), reason);
        assert!(t.is_finished());
    }

    #[test]
    fn unexpected_messages_abort() {
        let mut t = tracker(3);
        t.handle_message(T0, Rank(1), Message::AllFilesCompleted);
        assert!(abort_reason(&mut t).contains("CLIENT_GOT_ALL_FILES"));
    }

    #[test]
    fn a_stall_aborts_and_says_who_waits_for_what() {
        let mut t = registered();
        drain(&mut t);
        t.handle_message(T0, Rank(1), Message::AllFilesCompleted);
        assert_eq!(t.poll_timeout(), Some(Duration::from_secs(60)));
        t.handle_timeout(Duration::from_secs(59));
        assert!(!t.is_finished());
        t.handle_timeout(Duration::from_secs(60));
        let reason = abort_reason(&mut t);
        assert!(reason.contains("no progress for 60 s"), "{reason}");
        assert!(
            reason.contains("rank 2 waits for 'a' (0 of 2 segments reported)"),
            "{reason}"
        );
    }

    #[test]
    fn a_peer_that_never_registers_is_named() {
        let mut t = tracker(3);
        register(&mut t, 1, vec![], &[]);
        t.handle_timeout(Duration::from_secs(61));
        assert!(abort_reason(&mut t).contains("rank 2 never registered"));
    }
}
