//! Whole-swarm tests of the core, in one thread.
//!
//! A small harness (in the spirit of quinn-proto's `Pair::drive`) runs one
//! [`Tracker`] and, for every peer rank, the core's [`Peer`] machine (the
//! registration, then a download and an upload side sharing one
//! [`Holdings`], exactly as a real peer runs them). Every message
//! goes through [`wire::encode`] / [`wire::decode`] and waits in a pool of
//! in-flight messages; a seeded RNG picks which one arrives next, keeping
//! FIFO order per (sender, receiver, channel) as MPI does, so many seeds
//! explore many interleavings. As on a real peer, a peer's download and
//! upload sides receive nothing before its RegisterAck was handled (their
//! messages wait in the pool, as in MPI's queue).
//!
//! At the end the harness checks what a user would check (the outputs,
//! TERMINATE for everyone) and protocol invariants: no self-sends, nothing
//! sent to a peer after its TERMINATE, an ACK only from a rank holding the
//! segment, every segment downloaded once, PEER_UPDATE at most every ten
//! segments.
//!
//! Every failure names the seed, the window and the scenario. A generated
//! case is replayed alone with
//! `SWARM_SEED=<seed> cargo test -p mpitorrent-core --test swarm generated`;
//! add `SWARM_TRACE=1` to print every delivery.

use mpitorrent_core::classic::{render_output, OwnedFile, PeerInput};
use mpitorrent_core::downloader::{DownloadEvent, DownloaderConfig};
use mpitorrent_core::holdings::Holdings;
use mpitorrent_core::peer::{Peer, PeerConfig, PeerEvent};
use mpitorrent_core::scenario::{Scenario, ScenarioParams};
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::tracker::{Tracker, TrackerConfig, TrackerEvent};
use mpitorrent_core::{wire, Channel, Message, MessageKind, Rank, Registration, Transmit, TRACKER};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Display;
use std::time::Duration;

// ---------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------

/// How one run is driven.
#[derive(Clone, Copy, Debug)]
struct Drive {
    /// The downloaders' request window.
    window: u32,
    /// How downloaders choose owners and segments.
    strategy: Strategy,
    /// The tracker's bound on owners per swarm answer.
    sample: Option<usize>,
    /// Seeds the RNG that picks the delivery order.
    seed: u64,
    /// Whether the tracker is expected to abort the job (otherwise an
    /// `Abort` reaching a peer fails the test).
    expect_abort: bool,
}

/// Where a message travels. FIFO order is kept per route, as MPI keeps it
/// per (source, destination, tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    from: Rank,
    to: Rank,
    tag: i32,
}

impl Route {
    fn channel(&self) -> Channel {
        let channel = Channel::ALL.into_iter().find(|c| c.tag() == self.tag);
        channel.expect("routes are built from a channel's tag")
    }
}

/// Everything a run produced, for the checks at the end.
#[derive(Debug, Default)]
struct Outcome {
    /// (peer, file) -> rendered output, from `DownloadEvent::FileCompleted`.
    outputs: BTreeMap<(Rank, String), String>,
    /// Messages sent, by kind.
    sent: BTreeMap<MessageKind, u64>,
    /// Messages sent, by sender and kind.
    sent_by: BTreeMap<(Rank, MessageKind), u64>,
    tracker_events: Vec<TrackerEvent>,
    /// The reason of the `Abort` each peer received.
    aborts: BTreeMap<Rank, String>,
    /// Peers whose downloader reported `Finished`.
    finished: BTreeSet<Rank>,
    /// Peers that reported `Terminated`.
    terminated: BTreeSet<Rank>,
    /// Peers that say `is_stopped()` at the end.
    stopped: BTreeSet<Rank>,
    steps: u64,
}

impl Outcome {
    fn count(&self, kind: MessageKind) -> u64 {
        self.sent.get(&kind).copied().unwrap_or(0)
    }

    fn count_by(&self, rank: Rank, kind: MessageKind) -> u64 {
        self.sent_by.get(&(rank, kind)).copied().unwrap_or(0)
    }
}

/// One peer: the machine, and what the harness checks it against.
struct SwarmPeer {
    machine: Peer,
    /// Its input's wanted list, which the tracker's ACK must not change.
    wanted: Vec<String>,
    /// TERMINATE was delivered to its upload side.
    got_terminate: bool,
}

/// The whole swarm, with the in-flight pool.
struct Swarm {
    /// Printed with every failure: seed, window, scenario.
    label: String,
    ranks: u32,
    drive: Drive,
    rng: ChaCha8Rng,
    tracker: Tracker,
    /// `peers[r - 1]` is rank `r`.
    peers: Vec<SwarmPeer>,
    /// In-flight encoded messages; routes with nothing queued are removed.
    pool: BTreeMap<Route, VecDeque<Vec<u8>>>,
    outcome: Outcome,
    /// `SWARM_TRACE=1` prints every delivery (use it with `SWARM_SEED`).
    trace: bool,
}

impl Swarm {
    fn new(scenario: &Scenario, drive: Drive, label: String) -> Swarm {
        let ranks = scenario.ranks();
        let tracker = Tracker::new(
            TrackerConfig {
                swarm_sample: drive.sample,
                seed: drive.seed,
                ..TrackerConfig::new(ranks)
            },
            Duration::ZERO,
        );
        let peers = scenario
            .peers()
            .map(|(rank, input)| new_peer(rank, input, &drive))
            .collect();
        let mut swarm = Swarm {
            label,
            ranks,
            drive,
            rng: ChaCha8Rng::seed_from_u64(drive.seed),
            tracker,
            peers,
            pool: BTreeMap::new(),
            outcome: Outcome::default(),
            trace: std::env::var_os("SWARM_TRACE").is_some(),
        };
        // A peer's start-up: send its listing to the tracker, then wait for
        // the ACK (see `deliver_control`).
        swarm.drain_all();
        swarm
    }

    /// Panics with the replay label.
    fn fail(&self, what: impl Display) -> ! {
        panic!("{}\n  {what}", self.label)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.outcome.steps)
    }

    fn peer_mut(&mut self, rank: Rank) -> &mut SwarmPeer {
        &mut self.peers[rank.index() - 1]
    }

    /// Delivers messages until none is in flight, at most `max_steps`.
    fn run(mut self, max_steps: u64) -> Outcome {
        while !self.pool.is_empty() {
            if self.outcome.steps >= max_steps {
                let waiting: usize = self.pool.values().map(VecDeque::len).sum();
                self.fail(format!(
                    "livelock: still {waiting} message(s) in flight after {max_steps} steps; \
                     sent so far: {:?}",
                    self.outcome.sent
                ));
            }
            self.outcome.steps += 1;
            self.deliver_one();
            self.drain_all();
        }
        for peer in &self.peers {
            if peer.machine.is_stopped() {
                self.outcome.stopped.insert(peer.machine.rank());
            }
        }
        self.outcome
    }

    /// Checks and queues one message from `from`.
    fn send(&mut self, from: Rank, transmit: Transmit) {
        let channel = transmit.channel();
        let Transmit { to, msg } = transmit;
        let kind = msg.kind().name();
        if to == from {
            self.fail(format!("rank {from} sent {kind} to itself"));
        }
        if to.0 >= self.ranks {
            self.fail(format!(
                "rank {from} sent {kind} to rank {to}, which does not exist"
            ));
        }
        if !to.is_tracker() && self.peers[to.index() - 1].got_terminate {
            self.fail(format!(
                "rank {from} sent {kind} to rank {to} after it got TERMINATE"
            ));
        }
        self.check_answer(from, &msg);
        *self.outcome.sent.entry(msg.kind()).or_default() += 1;
        *self.outcome.sent_by.entry((from, msg.kind())).or_default() += 1;
        let route = Route {
            from,
            to,
            tag: channel.tag(),
        };
        self.pool
            .entry(route)
            .or_default()
            .push_back(wire::encode(&msg));
    }

    /// Whether the receiver of `route` is running. A real peer starts its
    /// download and upload threads only once the RegisterAck arrived and its
    /// owned files are in its holdings; until then their messages wait in
    /// MPI's queue (an early request must not be answered NACK).
    fn can_receive(&self, route: &Route) -> bool {
        match route.channel() {
            Channel::Download | Channel::Upload => {
                self.peers[route.to.index() - 1].machine.is_registered()
            }
            Channel::Tracker | Channel::Control => true,
        }
    }

    /// An ACK must come from a rank holding the segment and a NACK from one
    /// that does not (in classic mode the ACK carries no data, so a false
    /// ACK would go unnoticed in the outputs).
    fn check_answer(&self, from: Rank, msg: &Message) {
        let (file, index, acked) = match *msg {
            Message::SegmentAck { file, index, .. } => (file, index, true),
            Message::SegmentNack { file, index } => (file, index, false),
            _ => return,
        };
        let holds = |peer: &SwarmPeer| {
            let holdings = peer.machine.holdings();
            holdings.is_some_and(|h| h.has(file, index))
        };
        if from.is_tracker() || holds(&self.peers[from.index() - 1]) != acked {
            let kind = msg.kind().name();
            self.fail(format!(
                "rank {from} answered {kind} for segment {index} of {file}"
            ));
        }
    }

    /// Takes the oldest message of a randomly chosen route whose receiver
    /// is running and hands it to the machine it is for.
    fn deliver_one(&mut self) {
        let routes: Vec<Route> = self
            .pool
            .keys()
            .filter(|route| self.can_receive(route))
            .copied()
            .collect();
        if routes.is_empty() {
            self.fail(format!(
                "deadlock: every message in flight waits for a peer that never started: {:?}",
                self.pool.keys().collect::<Vec<_>>()
            ));
        }
        let route = routes[self.rng.gen_range(0..routes.len())];
        let queue = self.pool.get_mut(&route).expect("chosen from the pool");
        let bytes = queue.pop_front().expect("empty routes are removed");
        if queue.is_empty() {
            self.pool.remove(&route);
        }
        let msg = wire::decode(&bytes)
            .unwrap_or_else(|e| self.fail(format!("{route:?}: undecodable message: {e}")));
        if self.trace {
            eprintln!(
                "step {:>6}: {} -> {}: {msg:?}",
                self.outcome.steps, route.from, route.to
            );
        }
        let (now, from, to) = (self.now(), route.from, route.to);
        let result = match route.channel() {
            // `Transmit::channel` puts everything for rank 0 on this channel.
            Channel::Tracker if to.is_tracker() => {
                self.tracker.handle_message(now, from, msg);
                Ok(())
            }
            Channel::Tracker => Err(format!("tracker message {msg:?} sent to peer {to}")),
            Channel::Control => {
                self.deliver_control(from, to, msg);
                Ok(())
            }
            channel @ (Channel::Download | Channel::Upload) => {
                let peer = self.peer_mut(to);
                peer.got_terminate |= msg == Message::Terminate;
                peer.machine
                    .handle_message(now, from, channel, msg)
                    .map_err(|e| e.to_string())
            }
        };
        if let Err(e) = result {
            self.fail(format!("{route:?}: {e}"));
        }
    }

    /// A peer's start-up path: the ACK starts it, an abort stops it.
    fn deliver_control(&mut self, from: Rank, to: Rank, msg: Message) {
        let now = self.now();
        match &msg {
            Message::RegisterAck { wanted, .. } if *wanted != self.peer_mut(to).wanted => {
                self.fail(format!("rank {to}: RegisterAck changed its wanted list"))
            }
            Message::RegisterAck { .. } => {}
            Message::Abort { reason } if self.drive.expect_abort => {
                self.outcome.aborts.insert(to, reason.clone());
            }
            Message::Abort { reason } => self.fail(format!("rank {to} got Abort: {reason}")),
            other => self.fail(format!("rank {to} got {other:?} on its control channel")),
        }
        let peer = &mut self.peer_mut(to).machine;
        let registered = peer.is_registered();
        if let Err(e) = peer.handle_message(now, from, Channel::Control, msg) {
            self.fail(format!("rank {to}: {e}"));
        }
        // A real peer starts its threads as soon as it is registered.
        if !registered && peer.is_registered() {
            peer.start_downloads(now);
        }
    }

    /// Drains every machine's transmits into the pool and its events into
    /// the outcome.
    fn drain_all(&mut self) {
        while let Some(t) = self.tracker.poll_transmit() {
            self.send(TRACKER, t);
        }
        while let Some(event) = self.tracker.poll_event() {
            self.outcome.tracker_events.push(event);
        }
        for index in 0..self.peers.len() {
            let rank = self.peers[index].machine.rank();
            while let Some(t) = self.peers[index].machine.poll_transmit() {
                self.send(rank, t);
            }
            while let Some(event) = self.peers[index].machine.poll_event() {
                self.record_event(rank, event);
            }
        }
    }

    /// A completed file is the peer's output, written once; a segment to
    /// serve goes out as its ACK (classic segments are only their hashes).
    fn record_event(&mut self, rank: Rank, event: PeerEvent) {
        match event {
            // Started at once (see `deliver_control`).
            PeerEvent::Registered => {}
            PeerEvent::Download(DownloadEvent::FileCompleted { file }) => {
                if !file.is_complete() {
                    self.fail(format!(
                        "rank {rank}: '{}' reported complete early",
                        file.name
                    ));
                }
                let content = render_output(&file.hashes);
                if self
                    .outcome
                    .outputs
                    .insert((rank, file.name.clone()), content)
                    .is_some()
                {
                    self.fail(format!("rank {rank} completed '{}' twice", file.name));
                }
            }
            PeerEvent::Download(DownloadEvent::Finished) => {
                if !self.outcome.finished.insert(rank) {
                    self.fail(format!("rank {rank} finished twice"));
                }
            }
            // Classic segments are only their hashes: nothing to store.
            PeerEvent::Download(DownloadEvent::Received { .. }) => {
                self.fail(format!("rank {rank} got segment bytes in classic mode"))
            }
            PeerEvent::Serve(serve) => self.send(rank, serve.hash_only()),
            // Its STATS went with its messages (the tracker terminates only
            // when every report is in).
            PeerEvent::Terminated => {
                if !self.outcome.terminated.insert(rank) {
                    self.fail(format!("rank {rank} terminated twice"));
                }
            }
            PeerEvent::Aborted { reason } if self.drive.expect_abort => {
                self.outcome.aborts.entry(rank).or_insert(reason);
            }
            PeerEvent::Aborted { reason } => self.fail(format!("rank {rank} aborted: {reason}")),
        }
    }
}

/// A peer as a real one starts: empty holdings, registering.
fn new_peer(rank: Rank, input: &PeerInput, drive: &Drive) -> SwarmPeer {
    let config = PeerConfig {
        downloader: DownloaderConfig {
            window: drive.window,
            strategy: drive.strategy,
            seed: drive.seed,
            ..DownloaderConfig::classic(rank, Vec::new())
        },
        leaves: false,
    };
    let registration = Registration::classic(input);
    SwarmPeer {
        machine: Peer::new(registration, config, Holdings::new()),
        wanted: input.wanted.clone(),
        got_terminate: false,
    }
}

// ---------------------------------------------------------------------------
// Running and checking
// ---------------------------------------------------------------------------

/// What the scenario implies the traffic must add up to.
struct Shape {
    peers: u64,
    /// Distinct files anyone owns.
    files: u64,
    /// (peer, file) pairs that must be downloaded (wanted, not owned).
    downloads: u64,
    /// Segments in those downloads: each must be ACKed exactly once.
    segments: u64,
}

fn shape(scenario: &Scenario) -> Shape {
    let files: BTreeSet<&str> = scenario
        .inputs
        .iter()
        .flat_map(|input| input.owned.iter().map(|f| f.name.as_str()))
        .collect();
    let (mut downloads, mut segments) = (0, 0);
    for input in &scenario.inputs {
        for name in &input.wanted {
            if input.owned.iter().all(|f| &f.name != name) {
                downloads += 1;
                segments += scenario.hashes_of(name).map_or(0, |h| h.len() as u64);
            }
        }
    }
    Shape {
        peers: scenario.inputs.len() as u64,
        files: files.len() as u64,
        downloads,
        segments,
    }
}

/// Runs a scenario to the end under `drive`, with a step bound that only a
/// livelock can reach.
fn run(scenario: &Scenario, drive: Drive, label: &str) -> Outcome {
    let label = format!(
        "[{label}; delivery seed {}, window {}]",
        drive.seed, drive.window
    );
    let shape = shape(scenario);
    let max_steps = 10_000 + 100 * shape.segments + 50 * shape.peers * (shape.files + 1);
    Swarm::new(scenario, drive, label).run(max_steps)
}

/// Runs a scenario that must succeed and checks everything a user and the
/// protocol expect of it.
fn run_ok(scenario: &Scenario, window: u32, seed: u64, label: &str) -> Outcome {
    let drive = Drive {
        window,
        strategy: Strategy::RoundRobin,
        sample: None,
        seed,
        expect_abort: false,
    };
    run_ok_with(scenario, drive, label)
}

/// [`run_ok`] with any strategy and swarm sample.
fn run_ok_with(scenario: &Scenario, drive: Drive, label: &str) -> Outcome {
    let outcome = run(scenario, drive, label);
    let fail = |what: String| -> ! {
        panic!(
            "[{label}; delivery seed {}, window {}, {}, sample {:?}]\n  {what}",
            drive.seed, drive.window, drive.strategy, drive.sample
        )
    };
    check_outputs(scenario, &outcome).unwrap_or_else(|e| fail(e));
    check_termination(scenario, &outcome).unwrap_or_else(|e| fail(e));
    check_traffic(scenario, &outcome, drive.strategy).unwrap_or_else(|e| fail(e));
    outcome
}

/// Every expected output was produced with the right content, and nothing else.
fn check_outputs(scenario: &Scenario, outcome: &Outcome) -> Result<(), String> {
    let expected: BTreeMap<(Rank, String), String> = scenario
        .expected_outputs()
        .into_iter()
        .map(|out| ((out.rank, out.file), out.content))
        .collect();
    let mut problems = Vec::new();
    for (key, content) in &expected {
        match outcome.outputs.get(key) {
            None => problems.push(format!("missing output: rank {} '{}'", key.0, key.1)),
            Some(got) if got != content => problems.push(format!(
                "wrong output: rank {} '{}': expected {content:?}, got {got:?}",
                key.0, key.1
            )),
            Some(_) => {}
        }
    }
    for key in outcome
        .outputs
        .keys()
        .filter(|k| !expected.contains_key(*k))
    {
        problems.push(format!("unexpected output: rank {} '{}'", key.0, key.1));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n  "))
    }
}

/// The tracker terminated the job and every peer finished and stopped.
fn check_termination(scenario: &Scenario, outcome: &Outcome) -> Result<(), String> {
    if !outcome.tracker_events.contains(&TrackerEvent::Terminated) {
        return Err(format!(
            "the tracker never terminated the job; its events: {:?}",
            outcome.tracker_events
        ));
    }
    for (rank, _) in scenario.peers() {
        if !outcome.finished.contains(&rank) {
            return Err(format!("rank {rank}'s downloader never finished"));
        }
        if !outcome.terminated.contains(&rank) || !outcome.stopped.contains(&rank) {
            return Err(format!("rank {rank}'s uploader never got TERMINATE"));
        }
    }
    Ok(())
}

/// Message counts add up: one registration, swarm request, completion and
/// TERMINATE each; every segment ACKed once; PEER_UPDATE at most every ten
/// segments (except with `paced`, which asks the tracker for work whenever
/// half its window is free, so its updates follow the swarm, not a count).
fn check_traffic(scenario: &Scenario, outcome: &Outcome, strategy: Strategy) -> Result<(), String> {
    use MessageKind::*;
    let shape = shape(scenario);
    let acks = outcome.count(SegmentAck);
    let exact = [
        (Register, shape.peers),
        (RegisterAck, shape.peers),
        (SwarmRequest, shape.downloads),
        (SwarmReply, shape.downloads),
        (FileCompleted, shape.downloads),
        (AllFilesCompleted, shape.peers),
        (Terminate, shape.peers),
        (Abort, 0),
        (SegmentAck, shape.segments),
        (SegmentRequest, acks + outcome.count(SegmentNack)),
        (SwarmRefresh, outcome.count(PeerUpdate)),
    ];
    for (kind, expected) in exact {
        let got = outcome.count(kind);
        if got != expected {
            return Err(format!(
                "sent {got} {} where {expected} were expected; all counts: {:?}",
                kind.name(),
                outcome.sent
            ));
        }
    }
    let updates = outcome.count(PeerUpdate);
    if strategy != Strategy::Paced && updates > acks / 10 + shape.files {
        return Err(format!(
            "{updates} PEER_UPDATEs for {acks} downloaded segments of {} files",
            shape.files
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Hand-written classic shapes
// ---------------------------------------------------------------------------

/// Delivery seeds every hand-written shape is run with, at windows 1 and 4.
const HAND_SEEDS: std::ops::Range<u64> = 0..40;

/// An owned file with `segments` recognisable hashes.
fn owns(name: &str, segments: u32) -> OwnedFile {
    OwnedFile {
        name: name.into(),
        hashes: (0..segments)
            .map(|i| format!("{name}-segment-{i}"))
            .collect(),
    }
}

fn peer(owned: Vec<OwnedFile>, wanted: &[&str]) -> PeerInput {
    PeerInput {
        owned,
        wanted: wanted.iter().map(|w| w.to_string()).collect(),
    }
}

/// Runs a hand-written shape over many delivery orders and both windows.
fn run_hand_written(name: &str, inputs: Vec<PeerInput>) -> Vec<Outcome> {
    let scenario = Scenario::from_inputs(inputs);
    let mut outcomes = Vec::new();
    for window in [1, 4] {
        for seed in HAND_SEEDS {
            outcomes.push(run_ok(&scenario, window, seed, name));
        }
    }
    outcomes
}

#[test]
fn one_peer_owns_two_files_another_a_third_and_a_third_wants_all() {
    run_hand_written(
        "two owners, one leecher of everything",
        vec![
            peer(vec![owns("file1", 12), owns("file2", 25)], &[]),
            peer(vec![owns("file3", 31)], &[]),
            peer(vec![], &["file1", "file2", "file3"]),
        ],
    );
}

#[test]
fn five_peers_trade_seven_files_with_overlapping_owners() {
    run_hand_written(
        "five peers, seven files",
        vec![
            peer(vec![owns("f1", 12), owns("f2", 3)], &["f3", "f5", "f7"]),
            peer(vec![owns("f1", 12), owns("f3", 25)], &["f2", "f4", "f6"]),
            peer(vec![owns("f4", 10), owns("f5", 1)], &["f1", "f2", "f3"]),
            peer(
                vec![owns("f5", 1), owns("f6", 31), owns("f7", 7)],
                &["f1", "f4"],
            ),
            peer(
                vec![owns("f2", 3), owns("f7", 7)],
                &["f1", "f3", "f4", "f5", "f6"],
            ),
        ],
    );
}

#[test]
fn peers_owning_nothing_download_and_pass_segments_on() {
    run_hand_written(
        "peers owning nothing",
        vec![
            peer(vec![owns("big", 45)], &[]),
            peer(vec![], &["big"]),
            peer(vec![], &["big"]),
            peer(vec![], &[]),
        ],
    );
}

#[test]
fn two_seeds_of_one_file_and_four_leechers() {
    let outcomes = run_hand_written(
        "two seeds, four leechers",
        vec![
            peer(vec![owns("movie", 40)], &[]),
            peer(vec![owns("movie", 40)], &[]),
            peer(vec![], &["movie"]),
            peer(vec![], &["movie"]),
            peer(vec![], &["movie"]),
            peer(vec![], &["movie"]),
        ],
    );
    // Leechers that reported segments are asked too, so over many runs the
    // two seeds should not have served every segment.
    let from_leechers: u64 = outcomes
        .iter()
        .flat_map(|o| (3..=6).map(|r| o.count_by(Rank(r), MessageKind::SegmentAck)))
        .sum();
    assert!(from_leechers > 0, "leechers never served a segment");
}

#[test]
fn peers_wanting_nothing_terminate_at_once() {
    for outcome in run_hand_written(
        "nobody wants anything",
        vec![
            peer(vec![owns("a", 3)], &[]),
            peer(vec![owns("b", 2), owns("a", 3)], &[]),
            peer(vec![], &[]),
        ],
    ) {
        assert_eq!(outcome.count(MessageKind::SegmentRequest), 0);
    }
}

#[test]
fn a_peer_wanting_a_file_it_owns_writes_it_from_its_own_copy() {
    for outcome in run_hand_written(
        "wants what it owns",
        vec![
            peer(vec![owns("mine", 15)], &["mine"]),
            peer(vec![owns("other", 4)], &["mine"]),
        ],
    ) {
        assert_eq!(outcome.count_by(Rank(1), MessageKind::SwarmRequest), 0);
        assert_eq!(outcome.count_by(Rank(1), MessageKind::SegmentRequest), 0);
    }
}

#[test]
fn a_file_of_zero_segments_completes() {
    run_hand_written(
        "zero segments",
        vec![
            peer(vec![owns("empty", 0), owns("full", 3)], &[]),
            peer(vec![], &["empty", "full"]),
            peer(vec![owns("empty", 0)], &["full", "empty"]),
        ],
    );
}

#[test]
fn a_single_peer_alone_with_the_tracker() {
    run_hand_written("one peer", vec![peer(vec![owns("solo", 5)], &["solo"])]);
}

// ---------------------------------------------------------------------------
// Generated scenarios
// ---------------------------------------------------------------------------

/// Generated seeds: 0..200; `SWARM_SEED=<n>` runs only seed n (to replay a
/// failure) and `SWARM_SEEDS=<n>` runs 0..n (for a longer soak).
fn generated_seeds() -> Vec<u64> {
    let var = |name: &str| {
        std::env::var(name).ok().map(|v| {
            v.parse::<u64>()
                .unwrap_or_else(|_| panic!("{name} is not a number: {v}"))
        })
    };
    match (var("SWARM_SEED"), var("SWARM_SEEDS")) {
        (Some(seed), _) => vec![seed],
        (None, Some(count)) => (0..count).collect(),
        (None, None) => (0..200).collect(),
    }
}

/// The swarm shape for a test seed: ranks 2..=12, files 1..=6, segments
/// 0..=60, seeds 1..=3, wanters 0..=5. The shape is drawn on its own stream
/// of the seed's RNG so it does not repeat the scenario's own draws.
fn generated_params(seed: u64) -> ScenarioParams {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    ScenarioParams {
        ranks: rng.gen_range(2..=12),
        files: rng.gen_range(1..=6),
        segments: rng.gen_range(0..=60),
        seeds_per_file: rng.gen_range(1..=3),
        wanters_per_file: rng.gen_range(0..=5),
        seed,
    }
}

/// Runs every generated seed at `window`; returns the message counts summed
/// over all runs, to show which paths the seeds reached.
fn run_generated(window: u32) -> BTreeMap<MessageKind, u64> {
    run_generated_with(window, Strategy::RoundRobin, None)
}

/// [`run_generated`] with any strategy and swarm sample.
fn run_generated_with(
    window: u32,
    strategy: Strategy,
    sample: Option<usize>,
) -> BTreeMap<MessageKind, u64> {
    let mut totals = BTreeMap::new();
    for seed in generated_seeds() {
        let params = generated_params(seed);
        let scenario =
            Scenario::generate(&params).unwrap_or_else(|e| panic!("seed {seed}: {params}: {e}"));
        let label = format!(
            "generated seed {seed}: {params}; replay: SWARM_SEED={seed} \
             cargo test -p mpitorrent-core --test swarm generated"
        );
        let drive = Drive {
            window,
            strategy,
            sample,
            seed,
            expect_abort: false,
        };
        let outcome = run_ok_with(&scenario, drive, &label);
        for (kind, count) in outcome.sent {
            *totals.entry(kind).or_default() += count;
        }
    }
    totals
}

/// The generated seeds must reach the interesting paths: NACKs from partial
/// owners, PEER_UPDATE and its refresh (skipped when replaying one seed).
fn assert_paths_covered(totals: &BTreeMap<MessageKind, u64>) {
    if std::env::var("SWARM_SEED").is_ok() {
        return;
    }
    for kind in [
        MessageKind::SegmentNack,
        MessageKind::PeerUpdate,
        MessageKind::SwarmRefresh,
    ] {
        assert!(
            totals.get(&kind).copied().unwrap_or(0) > 0,
            "no {} in any run: {totals:?}",
            kind.name()
        );
    }
}

#[test]
fn generated_swarms_one_request_at_a_time() {
    assert_paths_covered(&run_generated(1));
}

#[test]
fn generated_swarms_with_a_window_of_four() {
    assert_paths_covered(&run_generated(4));
}

#[test]
fn generated_swarms_least_loaded() {
    assert_paths_covered(&run_generated_with(4, Strategy::LeastLoaded, None));
}

#[test]
fn generated_swarms_rarest_first_with_a_sampled_swarm() {
    run_generated_with(4, Strategy::RarestFirst, Some(2));
    run_generated_with(1, Strategy::RarestFirst, None);
}

#[test]
fn generated_swarms_paced() {
    run_generated_with(8, Strategy::Paced, Some(2));
    run_generated_with(4, Strategy::Paced, None);
}

#[test]
fn generated_shapes_cover_the_corners() {
    let all: Vec<ScenarioParams> = (0..200).map(generated_params).collect();
    assert!(all.iter().any(|p| p.ranks == 2));
    assert!(all.iter().any(|p| p.ranks == 12));
    assert!(all.iter().any(|p| p.segments == 0));
    assert!(all.iter().any(|p| p.wanters_per_file == 0));
    assert!(all
        .iter()
        .any(|p| p.seeds_per_file == 3 && p.wanters_per_file == 5));
}

// ---------------------------------------------------------------------------
// Aborts
// ---------------------------------------------------------------------------

/// Runs a scenario the tracker must abort; checks that every peer got the
/// abort and that nothing was downloaded. Returns the tracker's reason.
fn run_abort(name: &str, inputs: Vec<PeerInput>, seed: u64) -> String {
    let scenario = Scenario::from_inputs(inputs);
    let drive = Drive {
        window: 1,
        strategy: Strategy::RoundRobin,
        sample: None,
        seed,
        expect_abort: true,
    };
    let outcome = run(&scenario, drive, name);
    let context = format!("[{name}; delivery seed {seed}]");
    let reasons: Vec<&String> = outcome
        .tracker_events
        .iter()
        .filter_map(|e| match e {
            TrackerEvent::Aborted { reason } => Some(reason),
            _ => None,
        })
        .collect();
    let [reason] = reasons[..] else {
        panic!(
            "{context} expected one tracker abort, got {:?}",
            outcome.tracker_events
        );
    };
    for (rank, _) in scenario.peers() {
        assert_eq!(
            outcome.aborts.get(&rank),
            Some(reason),
            "{context} rank {rank}"
        );
        assert!(
            outcome.stopped.contains(&rank),
            "{context} rank {rank} still serving"
        );
    }
    assert!(
        outcome.outputs.is_empty(),
        "{context} {:?}",
        outcome.outputs
    );
    for kind in [
        MessageKind::RegisterAck,
        MessageKind::Terminate,
        MessageKind::SegmentRequest,
    ] {
        assert_eq!(outcome.count(kind), 0, "{context} sent {}", kind.name());
    }
    reason.clone()
}

#[test]
fn a_wanted_file_nobody_owns_aborts_every_peer() {
    for seed in 0..20 {
        let reason = run_abort(
            "wanted file nobody owns",
            vec![
                peer(vec![owns("real", 4)], &[]),
                peer(vec![], &["real", "ghost"]),
                peer(vec![], &[]),
            ],
            seed,
        );
        assert_eq!(reason, "rank 2 wants file 'ghost', which no rank owns");
    }
}

#[test]
fn conflicting_listings_abort_every_peer() {
    let mut other = owns("shared", 3);
    other.hashes[1] = "tampered".into();
    for seed in 0..20 {
        let reason = run_abort(
            "conflicting listings",
            vec![
                peer(vec![owns("shared", 3)], &[]),
                peer(vec![other.clone()], &[]),
                peer(vec![], &["shared"]),
            ],
            seed,
        );
        assert!(reason.contains("ranks 1 and 2"), "seed {seed}: {reason}");
    }
}
