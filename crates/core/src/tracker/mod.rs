//! The tracker (rank 0) as a state machine.
//!
//! It first collects one `Register` from every peer, checks that the
//! listings agree and that every wanted file has an owner, numbers the
//! files and ACKs each peer. Then it mediates: answers swarm requests,
//! records what each peer received from whom (PEER_UPDATE), makes peers
//! seeds as they complete files, and when every peer reported
//! CLIENT_GOT_ALL_FILES it sends TERMINATE to all. Last, it collects each
//! peer's statistics for the run report.
//!
//! Anything wrong ends in an `Abort` sent to every peer, so no rank waits
//! forever; the reason is given once, here, in [`TrackerEvent::Aborted`].
//!
//! Drive it like every machine in this crate: feed `handle_message` /
//! `handle_timeout`, then drain `poll_transmit` and `poll_event`.

mod late;
mod nodes;
mod progress;
mod rarity;
mod registration;
mod segments;
mod stall;
mod swarm;
mod waiting;

#[cfg(feature = "sim-speed")]
use crate::prefetch::Depth;
use crate::stats::{MessageCounts, PeerStats};
use crate::strategy::HintRequest;
use crate::Registration;
use crate::{FileId, Message, Rank, Received, Transmit};
use nodes::{mates_by_rank, node_mates};
pub use progress::{Missing, Progress};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use registration::build_file_table;
pub(crate) use segments::SegmentSet;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
pub(crate) use swarm::FileSwarm;

/// Owners in a swarm answer unless configured otherwise: as BitTorrent's
/// trackers, a bounded random sample, so that answers stay small in a swarm
/// of thousands; swarms of up to 51 ranks are still answered in full.
pub const DEFAULT_SWARM_SAMPLE: usize = 50;

/// How the tracker is set up.
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    /// Ranks in the job, tracker included (peers are 1..ranks).
    pub ranks: u32,
    /// Abort the job if no peer makes progress for this long.
    pub stall_timeout: Option<Duration>,
    /// Answer swarm requests with at most this many owners (a random
    /// sample that always holds a seed); `None` lists every owner.
    pub swarm_sample: Option<usize>,
    /// Seeds the tracker's random choices (samples, hint order).
    pub seed: u64,
}

impl TrackerConfig {
    /// A tracker for `ranks` ranks with no stall check, swarm answers of at
    /// most [`DEFAULT_SWARM_SAMPLE`] owners.
    pub fn new(ranks: u32) -> Self {
        TrackerConfig {
            ranks,
            stall_timeout: None,
            swarm_sample: Some(DEFAULT_SWARM_SAMPLE),
            seed: 0,
        }
    }
}

/// What the tracker reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerEvent {
    /// Every peer registered and was ACKed; downloads start now.
    AllRegistered,
    /// Every peer got all its files, was sent TERMINATE and reported its
    /// statistics: [`Tracker::take_run_data`] has them.
    Terminated,
    /// The job must end; every peer was sent `Abort` with this reason.
    Aborted { reason: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Registering,
    Mediating,
    Collecting,
    Finished,
}

/// One peer as the tracker knows it.
#[derive(Debug, Default)]
struct PeerRecord {
    registration: Option<Registration>,
    /// Its host, from its registration's destination (`share`).
    node: Option<String>,
    /// Wanted files not yet reported complete (for the stall report).
    pending: Vec<String>,
    done: bool,
    stats: Option<PeerStats>,
}

/// A file, as the run report describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSummary {
    pub name: String,
    pub segments: u32,
    pub initial_owners: Vec<Rank>,
}

/// Everything the tracker knows at the end of a run, for the report.
#[derive(Clone, Debug)]
pub struct RunData {
    pub ranks: u32,
    /// From the ACK to TERMINATE.
    pub wall: Duration,
    pub files: Vec<FileSummary>,
    /// Every peer's statistics, rank 1 first.
    pub peers: Vec<(Rank, PeerStats)>,
    /// Each rank's host, by rank, where the peer said it (`share`).
    pub nodes: Vec<Option<String>>,
    pub tracker_received: MessageCounts,
    pub tracker_sent: MessageCounts,
}

/// The tracker state machine.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    phase: Phase,
    peers: Vec<PeerRecord>,
    registered: u32,
    done: u32,
    stats_received: u32,
    files: Vec<FileSwarm>,
    by_name: HashMap<String, FileId>,
    /// The files whose hashes are still to come (`late.rs`).
    late: HashMap<FileId, late::LateFile>,
    /// Segments each rank uploaded, as the downloaders reported.
    load: Vec<u32>,
    /// By rank: the other peer ranks on its node (from the hosts of the
    /// registrations; empty where a rank named none).
    mates: Vec<Vec<Rank>>,
    rng: ChaCha8Rng,
    received: MessageCounts,
    sent: MessageCounts,
    acked_at: Duration,
    /// Segments the peers had to download, as of the ACK (for [`Progress`]).
    segments_wanted: u64,
    terminated_at: Duration,
    last_progress: Duration,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TrackerEvent>,
}

impl Tracker {
    /// A tracker for `config.ranks` ranks, started at `now`.
    pub fn new(config: TrackerConfig, now: Duration) -> Self {
        let ranks = config.ranks as usize;
        Tracker {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            phase: Phase::Registering,
            peers: (0..ranks).map(|_| PeerRecord::default()).collect(),
            registered: 0,
            done: 0,
            stats_received: 0,
            files: Vec::new(),
            by_name: HashMap::new(),
            late: HashMap::new(),
            load: vec![0; ranks],
            mates: Vec::new(),
            received: MessageCounts::default(),
            sent: MessageCounts::default(),
            acked_at: now,
            segments_wanted: 0,
            terminated_at: now,
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
        self.received.add(msg.kind());
        match (self.phase, msg) {
            (_, Message::Abort { reason }) => self.abort(reason),
            (Phase::Registering, Message::Register(registration)) => {
                self.handle_register(now, from, registration)
            }
            (Phase::Mediating, Message::SwarmRequest { name, hints }) => {
                self.handle_swarm_request(from, &name, hints)
            }
            (
                Phase::Mediating,
                Message::PeerUpdate {
                    file,
                    received,
                    hints,
                },
            ) => self.handle_peer_update(from, file, &received, hints),
            (Phase::Mediating, Message::FileCompleted { file, received }) => {
                self.handle_file_completed(from, file, &received)
            }
            (Phase::Mediating, Message::AllFilesCompleted) => self.handle_all_completed(now, from),
            (Phase::Collecting, Message::Stats(stats)) => self.handle_stats(from, *stats),
            (
                Phase::Mediating,
                Message::Hashes {
                    file,
                    first,
                    hashes,
                },
            ) => self.handle_hashes(now, from, file, first, hashes),
            // A peer may leave a swarm it finished, even after the last
            // peer's CLIENT_GOT_ALL_FILES (its LEAVE follows its own).
            (Phase::Mediating | Phase::Collecting, Message::Leave { file }) => {
                self.handle_leave(from, file)
            }
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
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            let stalled = now.saturating_sub(self.last_progress);
            let reason = format!(
                "the swarm made no progress for {} s; {}",
                stalled.as_secs(),
                self.describe_waiting()
            );
            self.abort(reason)
        }
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) what a
    /// swarm update from `from` will touch in the swarms of the first few
    /// files, `depth` steps from the tracker's own fields.
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self, from: Rank, depth: Depth) {
        const FILES: usize = 4;
        for swarm in self.files.iter().take(FILES) {
            swarm.prefetch(from, depth);
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

    /// After [`TrackerEvent::Terminated`]: the run's data, for the report.
    pub fn take_run_data(&mut self) -> Option<RunData> {
        if self.phase != Phase::Finished || self.stats_received != self.peer_count() {
            return None;
        }
        let peers = (1..self.config.ranks)
            .filter_map(|r| Some((Rank(r), self.peers[r as usize].stats.take()?)))
            .collect();
        let files = self
            .files
            .iter()
            .map(|f| FileSummary {
                name: f.name.clone(),
                segments: f.hashes.len() as u32,
                initial_owners: f.initial_owners.clone(),
            })
            .collect();
        Some(RunData {
            ranks: self.config.ranks,
            wall: self.terminated_at.saturating_sub(self.acked_at),
            files,
            peers,
            nodes: self.peers.iter().map(|p| p.node.clone()).collect(),
            tracker_received: self.received.clone(),
            tracker_sent: self.sent.clone(),
        })
    }

    /// Ends the job: sends `Abort` with `reason` to every peer and finishes.
    /// The driver calls this for failures the machine cannot see (a message
    /// that would not decode, a transport error).
    pub fn abort(&mut self, reason: String) {
        if self.phase == Phase::Finished {
            return;
        }
        for rank in self.peer_ranks() {
            let msg = Message::Abort {
                reason: reason.clone(),
            };
            self.send(rank, msg);
        }
        self.phase = Phase::Finished;
        self.events.push_back(TrackerEvent::Aborted { reason });
    }

    fn send(&mut self, to: Rank, msg: Message) {
        self.sent.add(msg.kind());
        self.transmits.push_back(Transmit { to, msg });
    }

    fn handle_register(&mut self, now: Duration, from: Rank, registration: Registration) {
        let peer = &mut self.peers[from.index()];
        if peer.registration.is_some() {
            return self.abort(format!("protocol error: rank {from} registered twice"));
        }
        peer.registration = Some(registration);
        self.registered += 1;
        if self.registered < self.peer_count() {
            return;
        }
        let registrations = self.peer_ranks().zip(
            self.peers[1..]
                .iter()
                .map(|p| p.registration.as_ref().expect("every peer registered")),
        );
        let table = match build_file_table(registrations) {
            Ok(table) => table,
            Err(reason) => return self.abort(reason),
        };
        self.files = table.files;
        self.by_name = table.by_name;
        self.late = table
            .late
            .into_iter()
            .map(|(id, o)| (id, late::LateFile::new(o, &self.files[id.index()].hashes)))
            .collect();
        for (rank, ack) in self.peer_ranks().zip(table.acks) {
            let peer = &mut self.peers[rank.index()];
            let registration = peer.registration.take();
            peer.node = registration.and_then(|r| r.destination).map(|d| d.host);
            peer.pending = ack.wanted.clone();
            let msg = Message::RegisterAck {
                file_ids: ack.file_ids,
                candidate_ids: ack.candidate_ids,
                wanted: ack.wanted,
            };
            self.send(rank, msg);
        }
        self.mates = mates_by_rank(self.peers.iter().map(|p| p.node.as_deref()));
        self.acked_at = now;
        self.segments_wanted = self.segments_to_download();
        let mut wanters = vec![Vec::new(); self.files.len()];
        for missing in self.missing() {
            wanters[self.by_name[missing.name].index()].push(missing.rank);
        }
        for (swarm, mut wanters) in self.files.iter_mut().zip(wanters) {
            swarm.pacing.expect(wanters.len());
            wanters.sort_unstable();
            let mates = &self.mates;
            // A seeder of a stripe holds too little to be a node's source.
            let seeds: Vec<Rank> = swarm
                .initial_owners
                .iter()
                .copied()
                .filter(|&s| !swarm.reads_stripe(s))
                .collect();
            // A wanter's source on its own node: a seed there, else the
            // node's lowest wanter.
            let nearest = |rank: Rank| {
                let mates = node_mates(mates, rank);
                let local_seed = seeds.iter().filter(|s| mates.contains(s)).min();
                let local_wanter = mates
                    .iter()
                    .chain([&rank])
                    .filter(|m| wanters.binary_search(m).is_ok())
                    .min();
                local_seed.or(local_wanter).copied()
            };
            swarm
                .tree
                .expect(wanters.clone(), nearest, !mates.is_empty());
        }
        self.phase = Phase::Mediating;
        self.events.push_back(TrackerEvent::AllRegistered);
    }

    fn handle_swarm_request(&mut self, from: Rank, name: &str, hints: HintRequest) {
        let Some(&file) = self.by_name.get(name) else {
            return self.abort(format!(
                "protocol error: rank {from} asked for the swarm of unknown file '{name}'"
            ));
        };
        let swarm = &mut self.files[file.index()];
        // A peer that asks for a swarm joins it as a peer.
        if !swarm.join(from) {
            return self.abort(format!(
                "protocol error: rank {from} asked for the swarm of '{name}' after leaving it"
            ));
        }
        if self.park_until_hashed(from, file, hints) {
            return;
        }
        let swarm = &mut self.files[file.index()];
        let owners = swarm.owners_for(from, &self.load, self.config.swarm_sample, &mut self.rng);
        let hashes = swarm.hashes.clone();
        let hints = self.hints_for(file, from, hints);
        let msg = Message::SwarmReply {
            file,
            hashes,
            owners,
            hints,
        };
        self.send(from, msg);
    }

    /// The hints `request` asks of `file`'s swarm for rank `from` (the same
    /// answer in a SWARM_REPLY and a SWARM_REFRESH).
    pub(super) fn hints_for(
        &mut self,
        file: FileId,
        from: Rank,
        request: HintRequest,
    ) -> Vec<crate::Hint> {
        let mates = node_mates(&self.mates, from);
        self.files[file.index()].hints(from, request, &self.load, mates, &mut self.rng)
    }

    fn handle_peer_update(
        &mut self,
        from: Rank,
        file: FileId,
        received: &[Received],
        hints: HintRequest,
    ) {
        if let Err(reason) = self.record_received(from, file, received) {
            return self.abort(reason);
        }
        self.answer_update(from, file, hints);
        self.retry_waiting(file);
    }

    fn handle_file_completed(&mut self, from: Rank, file: FileId, received: &[Received]) {
        if let Err(reason) = self.record_received(from, file, received) {
            return self.abort(reason);
        }
        let swarm = &mut self.files[file.index()];
        if !swarm.complete(from) {
            let reason = format!(
                "protocol error: rank {from} completed '{}' after leaving it",
                swarm.name
            );
            return self.abort(reason);
        }
        let name = swarm.name.clone();
        self.peers[from.index()].pending.retain(|n| *n != name);
        self.release_waiting(from, file);
        self.retry_waiting(file);
    }

    /// `from` leaves the swarm of `file` (it finished it and goes away).
    fn handle_leave(&mut self, from: Rank, file: FileId) {
        let Some(swarm) = self.files.get_mut(file.index()) else {
            return self.abort(format!("protocol error: rank {from} left unknown {file}"));
        };
        if !swarm.leave(from) {
            let reason = format!(
                "rank {from} left '{}', but it was the file's last seed: nobody could \
                 complete it any more",
                swarm.name
            );
            self.abort(reason);
        }
    }

    /// Records segments `from` received, and who served them (their load).
    fn record_received(
        &mut self,
        from: Rank,
        file: FileId,
        received: &[Received],
    ) -> Result<(), String> {
        let ranks = self.config.ranks;
        let swarm = self
            .files
            .get_mut(file.index())
            .ok_or_else(|| format!("protocol error: rank {from} updated unknown {file}"))?;
        for &(index, source) in received {
            if !swarm.record(from, index) || source.0 >= ranks {
                return Err(format!(
                    "protocol error: rank {from} reported segment {index} of '{}' from rank \
                     {source}, which does not exist",
                    swarm.name
                ));
            }
            self.load[source.index()] += 1;
        }
        Ok(())
    }

    fn handle_all_completed(&mut self, now: Duration, from: Rank) {
        let peer = &mut self.peers[from.index()];
        if peer.done {
            return self.abort(format!("protocol error: rank {from} finished twice"));
        }
        peer.done = true;
        peer.pending.clear();
        self.done += 1;
        self.terminate_if_done(now);
    }

    /// Sends TERMINATE once every peer has all its files and every seeder
    /// sent every hash it owes (so that two seeders of different contents
    /// are caught even where nobody fetched the segment they differ in).
    fn terminate_if_done(&mut self, now: Duration) {
        if self.done == self.peer_count() && !self.hashes_to_come() {
            for rank in self.peer_ranks() {
                self.send(rank, Message::Terminate);
            }
            self.terminated_at = now;
            self.phase = Phase::Collecting;
        }
    }

    fn handle_stats(&mut self, from: Rank, stats: PeerStats) {
        let peer = &mut self.peers[from.index()];
        if peer.stats.is_some() {
            return self.abort(format!("protocol error: rank {from} sent STATS twice"));
        }
        peer.stats = Some(stats);
        self.stats_received += 1;
        if self.stats_received == self.peer_count() {
            self.phase = Phase::Finished;
            self.events.push_back(TrackerEvent::Terminated);
        }
    }

    fn peer_ranks(&self) -> impl Iterator<Item = Rank> + Clone {
        (1..self.config.ranks).map(Rank)
    }
}

#[cfg(test)]
mod tests;
