//! The harness: one tracker and every peer's machine, the in-flight pool,
//! and the checks made on every message as it is sent. The checks and the
//! draining are the simulator's too (`mpitorrent-harness`); what is this
//! driver's own is the pool and its random delivery order.

use mpitorrent_core::classic::PeerInput;
use mpitorrent_core::downloader::{DownloadEvent, DownloaderConfig};
use mpitorrent_core::holdings::Holdings;
use mpitorrent_core::peer::{Peer, PeerConfig, PeerEvent};
use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::stats::PeerStats;
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::tracker::{RunData, Tracker, TrackerConfig, TrackerEvent};
use mpitorrent_core::{wire, Channel, Message, MessageKind, Rank, Registration, Transmit};
use mpitorrent_harness::{check_observed, check_reported, Drain, Implied, Outputs, Sends};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::fmt::Display;
use std::time::Duration;

/// How one run is driven.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Drive {
    /// The downloaders' request window.
    pub window: u32,
    /// How downloaders choose owners and segments.
    pub strategy: Strategy,
    /// The tracker's bound on owners per swarm answer.
    pub sample: Option<usize>,
    /// Seeds the RNG that picks the delivery order.
    pub seed: u64,
    /// Whether the tracker is expected to abort the job (otherwise an
    /// `Abort` reaching a peer fails the test).
    pub expect_abort: bool,
}

/// Where a message travels. FIFO order is kept per route, as MPI keeps it
/// per (source, destination, tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Route {
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

/// Everything a run produced, for the checks at the end (and, compared
/// whole, to show that a run repeats exactly).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Outcome {
    /// Outputs completed (each checked exact as it was).
    pub completed: usize,
    /// The first expected output never completed, if any.
    pub missing: Option<String>,
    /// Messages sent, by kind.
    pub sent: BTreeMap<MessageKind, u64>,
    /// Messages sent, by sender and kind.
    pub sent_by: BTreeMap<(Rank, MessageKind), u64>,
    pub tracker_events: Vec<TrackerEvent>,
    /// The reason of the `Abort` each peer received.
    pub aborts: BTreeMap<Rank, String>,
    /// Peers whose downloader reported `Finished`.
    pub finished: BTreeSet<Rank>,
    /// Peers that reported `Terminated`.
    pub terminated: BTreeSet<Rank>,
    /// Peers that say `is_stopped()` at the end.
    pub stopped: BTreeSet<Rank>,
    /// Every peer's STATS, as the tracker collected them.
    pub stats: Vec<(Rank, PeerStats)>,
    pub steps: u64,
}

impl Outcome {
    pub fn count(&self, kind: MessageKind) -> u64 {
        self.sent.get(&kind).copied().unwrap_or(0)
    }

    pub fn count_by(&self, rank: Rank, kind: MessageKind) -> u64 {
        self.sent_by.get(&(rank, kind)).copied().unwrap_or(0)
    }
}

/// One peer: the machine, and what the harness checks it against.
pub(crate) struct SwarmPeer {
    machine: Peer,
    /// Its input's wanted list, which the tracker's ACK must not change.
    wanted: Vec<String>,
}

/// The whole swarm, with the in-flight pool.
pub(crate) struct Swarm<'a> {
    /// Printed with every failure: seed, window, scenario.
    label: String,
    drive: Drive,
    /// Who may still be sent to.
    sends: Sends,
    /// What each peer must complete, and what it has not yet.
    outputs: Outputs<'a>,
    implied: Implied,
    /// The tracker's report, once it terminated the job.
    run: Option<RunData>,
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

impl<'a> Swarm<'a> {
    pub fn new(scenario: &'a Scenario, drive: Drive, label: String) -> Swarm<'a> {
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
            drive,
            sends: Sends::new(ranks),
            outputs: Outputs::new(scenario),
            implied: Implied::of(scenario),
            run: None,
            rng: ChaCha8Rng::seed_from_u64(drive.seed),
            tracker,
            peers,
            pool: BTreeMap::new(),
            outcome: Outcome::default(),
            trace: std::env::var_os("SWARM_TRACE").is_some(),
        };
        // A peer's start-up: send its listing to the tracker, then wait for
        // the ACK (see `check_control`).
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

    /// Delivers messages until none is in flight, at most `max_steps`.
    pub fn run(mut self, max_steps: u64) -> Outcome {
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
        }
        for peer in &self.peers {
            if peer.machine.is_stopped() {
                self.outcome.stopped.insert(peer.machine.rank());
            }
        }
        self.outcome.completed = self.outputs.completed();
        self.outcome.missing = self.outputs.check_all_done().err();
        if let Some(run) = self.run.take() {
            let checked = check_reported(&self.implied, &run)
                .and_then(|()| check_observed(&run, &self.outcome.sent));
            checked.unwrap_or_else(|e| self.fail(e));
            self.outcome.stats = run.peers;
        }
        self.outcome
    }

    /// Checks and queues one message from `from`.
    fn queue(&mut self, from: Rank, transmit: Transmit) {
        let channel = transmit.channel();
        let Transmit { to, msg } = transmit;
        if let Err(e) = self.sends.check(from, to, msg.kind()) {
            self.fail(e);
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
        if self.trace {
            let msg = wire::decode(&bytes);
            eprintln!(
                "step {:>6}: {} -> {}: {msg:?}",
                self.outcome.steps, route.from, route.to
            );
        }
        let channel = route.channel();
        if channel == Channel::Control {
            self.check_control(route.to, &bytes);
        }
        let Ok(()) = self.deliver(self.now(), route.from, route.to, channel, &bytes);
    }

    /// What a peer's control channel may carry: its RegisterAck, with its
    /// wanted list unchanged, or an Abort where the test expects one.
    fn check_control(&mut self, to: Rank, bytes: &[u8]) {
        // Bytes that do not decode are `deliver`'s to report.
        let Ok(msg) = wire::decode(bytes) else {
            return;
        };
        match msg {
            Message::RegisterAck { wanted, .. } if wanted != self.peers[to.index() - 1].wanted => {
                self.fail(format!("rank {to}: RegisterAck changed its wanted list"))
            }
            Message::RegisterAck { .. } => {}
            Message::Abort { reason } if self.drive.expect_abort => {
                self.outcome.aborts.insert(to, reason);
            }
            Message::Abort { reason } => self.fail(format!("rank {to} got Abort: {reason}")),
            other => self.fail(format!("rank {to} got {other:?} on its control channel")),
        }
    }

    /// Drains every machine's transmits into the pool and its events into
    /// the outcome.
    fn drain_all(&mut self) {
        let Ok(()) = self.drain_tracker();
        for index in 0..self.peers.len() {
            let rank = self.peers[index].machine.rank();
            let Ok(()) = self.drain_peer(rank);
        }
    }
}

/// This driver's side of the draining: a message goes into the pool; a
/// completed file is checked exact at once; a segment to serve goes out as
/// its ACK (classic segments are only their hashes).
impl Drain for Swarm<'_> {
    /// The harness fails by panicking, with the replay label.
    type Error = Infallible;
    /// The pool keeps FIFO order per route only, as MPI does.
    const IN_ORDER: bool = false;

    fn fail(&self, what: String) -> Infallible {
        Swarm::fail(self, what)
    }

    fn tracker_mut(&mut self) -> &mut Tracker {
        &mut self.tracker
    }

    fn peer_mut(&mut self, rank: Rank) -> &mut Peer {
        &mut self.peers[rank.index() - 1].machine
    }

    fn send(&mut self, from: Rank, transmit: Transmit) -> Result<(), Infallible> {
        self.queue(from, transmit);
        Ok(())
    }

    fn tracker_event(&mut self, event: TrackerEvent) -> Result<(), Infallible> {
        if event == TrackerEvent::Terminated {
            self.run = self.tracker.take_run_data();
        }
        self.outcome.tracker_events.push(event);
        Ok(())
    }

    fn peer_event(&mut self, rank: Rank, event: PeerEvent) -> Result<(), Infallible> {
        match event {
            // A real peer starts its threads as soon as it is registered.
            PeerEvent::Registered => {
                let now = self.now();
                self.peer_mut(rank).start_downloads(now);
                let Ok(()) = self.drain_peer(rank);
            }
            PeerEvent::Download(DownloadEvent::FileCompleted { file }) => {
                if let Err(e) = self.outputs.complete(rank, &file) {
                    self.fail(e);
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
            PeerEvent::Serve(serve) => self.queue(rank, serve.hash_only()),
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
        Ok(())
    }
}

/// A peer as a real one starts: empty holdings, registering.
pub(crate) fn new_peer(rank: Rank, input: &PeerInput, drive: &Drive) -> SwarmPeer {
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
    }
}
