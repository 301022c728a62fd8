//! The simulated job: the tracker and every peer, the event queue and the
//! links, and the checks a run must pass.
//!
//! Every message a machine wants sent (each counts its own) is checked
//! ([`Sends`]: never to itself, never to a rank that does not exist or
//! after its TERMINATE), encoded with the wire codec, and either scheduled `latency`
//! ticks ahead (control messages) or queued on the sender's uplink (ACKs,
//! which carry a segment; see [`crate::links`]). A message for a tracker
//! with a capacity may wait in its queue first ([`crate::tracker_queue`]).
//! Delivery decodes it and feeds the machine it is for, whose transmits
//! and events are drained at once ([`Drain`]), as the threads of a real
//! peer do. The checks are the
//! ones the core's swarm tests make too (`mpitorrent-harness`). What a peer does (register,
//! count, leave, report) is the core's [`mpitorrent_core::peer::Peer`];
//! this file only moves its messages and checks what it produced.

use crate::calendar::Calendar;
use crate::config::SimConfig;
use crate::encoded::Encoded;
use crate::inbox::{tracker_config, TrackerMessage};
use crate::links::{Links, Segment};
use crate::peer::{draw_traits, SimPeer, Traits};
use crate::tracker_queue::{Arrival, QueueStats, TrackerQueue};
use crate::SimError;
use mpitorrent_core::downloader::DownloadEvent;
use mpitorrent_core::holdings::SharedHashes;
use mpitorrent_core::peer::{Peer, PeerEvent};
use mpitorrent_core::prefetch::Depth;
use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::tracker::{RunData, Tracker, TrackerEvent};
use mpitorrent_core::{wire, Channel, MessageKind, Rank, Transmit, TRACKER};
use mpitorrent_harness::{check_reported, Drain, Implied, Outputs, Sends};
use std::sync::Arc;
use std::time::Duration;

/// Something that happens at a tick.
#[derive(Debug)]
enum Event {
    /// A message arrives (a control message after its latency, a segment
    /// after its downlink took it in).
    Deliver {
        from: Rank,
        to: Rank,
        channel: Channel,
        bytes: Encoded,
    },
    /// A rank's uplink may start its next segment.
    Uplink(Rank),
    /// A late peer's download side starts.
    StartDownloads(Rank),
    /// The tracker handles what waits in its queue, as far as the tick's
    /// capacity goes.
    TrackerWake,
}

/// A message waiting in the tracker's queue.
#[derive(Debug)]
struct Inbound {
    from: Rank,
    channel: Channel,
    bytes: Encoded,
}

/// What a finished run hands to the report.
pub(crate) struct Finished {
    pub run: RunData,
    /// The tick the last downloaded file completed (0 if none was).
    pub makespan: u64,
    /// The tick the tracker had every peer's statistics.
    pub terminated_at: u64,
    /// Segments each rank's uplink sent.
    pub uploads: Vec<u64>,
    /// Per peer: how it differed from the others.
    pub traits: Vec<Traits>,
    /// How the tracker's queue did (`None`: a tracker without capacity).
    pub tracker_queue: Option<QueueStats>,
    /// Messages the tracker handled before the makespan's tick.
    pub tracker_handled_by_makespan: u64,
    /// Every message the tracker handled, if it was asked to record them.
    pub inbox: Option<Vec<TrackerMessage>>,
}

/// The whole job.
pub(crate) struct World<'a> {
    config: &'a SimConfig,
    calendar: Calendar<Event>,
    links: Links,
    tracker: Tracker,
    /// `peers[r - 1]` is rank `r`.
    peers: Vec<SimPeer>,
    /// What each peer must complete, and what it has not yet.
    outputs: Outputs<'a>,
    /// The traffic the scenario implies, for the check of the report.
    implied: Implied,
    /// Who may still be sent to.
    sends: Sends,
    /// Messages waiting for the tracker (`None`: it has no capacity
    /// limit and handles each at once).
    tracker_queue: Option<TrackerQueue<Inbound>>,
    makespan: u64,
    /// What the tracker had handled before the makespan's tick.
    tracker_handled_by_makespan: u64,
    terminated_at: Option<u64>,
    run_data: Option<RunData>,
    /// Where the tracker's messages are recorded, if they are.
    inbox: Option<Vec<TrackerMessage>>,
}

/// Events between two prefetch stages of one event (see
/// [`World::prefetch_ahead`]): far enough for a cache miss to be served
/// meanwhile, near enough for the line to still be in the L1 cache. At
/// 10,000 peers, 2 to 8 all do about as well.
const PREFETCH_EVERY: usize = 4;

fn now_of(tick: u64) -> Duration {
    Duration::from_millis(tick)
}

impl<'a> World<'a> {
    pub fn new(scenario: &'a Scenario, config: &'a SimConfig) -> Self {
        let ranks = scenario.ranks();
        let traits = draw_traits(scenario.inputs.len(), config);
        let mut every = vec![1];
        every.extend(traits.iter().map(|t| t.upload_every));
        let tracker = Tracker::new(tracker_config(scenario, config), Duration::ZERO);
        let shared = Arc::new(SharedHashes::default());
        let peers = scenario
            .peers()
            .zip(&traits)
            .map(|((rank, input), &traits)| SimPeer::new(rank, input, traits, config, &shared))
            .collect();
        World {
            config,
            calendar: Calendar::new(),
            links: Links::new(&every),
            tracker,
            peers,
            outputs: Outputs::new(scenario),
            implied: Implied::of(scenario),
            sends: Sends::new(ranks),
            tracker_queue: (config.tracker_capacity > 0)
                .then(|| TrackerQueue::new(config.tracker_capacity)),
            makespan: 0,
            tracker_handled_by_makespan: 0,
            terminated_at: None,
            run_data: None,
            inbox: None,
        }
    }

    /// Records every message the tracker handles (see [`crate::inbox`]).
    pub fn recording(self) -> Self {
        World {
            inbox: Some(Vec::new()),
            ..self
        }
    }

    fn fail(&self, what: impl Into<String>) -> SimError {
        SimError::Protocol {
            tick: self.calendar.now(),
            message: what.into(),
        }
    }

    fn peer(&mut self, rank: Rank) -> &mut SimPeer {
        &mut self.peers[rank.index() - 1]
    }

    /// Runs the job to its end: every peer registers at tick 0, then
    /// events are handled in order until none is left.
    pub fn run(mut self) -> Result<Finished, SimError> {
        for index in 0..self.peers.len() {
            let rank = self.peers[index].peer.rank();
            self.drain_peer(rank)?;
        }
        while let Some((tick, event)) = self.calendar.pop() {
            if tick > self.config.max_ticks {
                return Err(SimError::TooLong {
                    max_ticks: self.config.max_ticks,
                    waiting: self.describe_waiting(),
                });
            }
            self.prefetch_ahead();
            match event {
                Event::Deliver {
                    from,
                    to,
                    channel,
                    bytes,
                } if to.is_tracker() => {
                    let inbound = Inbound {
                        from,
                        channel,
                        bytes,
                    };
                    self.arrive_at_tracker(tick, inbound)?
                }
                Event::Deliver {
                    from,
                    to,
                    channel,
                    bytes,
                } => self.deliver(now_of(tick), from, to, channel, bytes.as_slice())?,
                Event::Uplink(rank) => self.wake_uplink(tick, rank),
                Event::StartDownloads(rank) => self.start_downloads(tick, rank)?,
                Event::TrackerWake => self.wake_tracker(tick)?,
            }
        }
        let Some(run) = self.run_data.take() else {
            return Err(SimError::Stalled {
                tick: self.calendar.now(),
                waiting: self.describe_waiting(),
            });
        };
        self.outputs.check_all_done().map_err(|e| self.fail(e))?;
        check_reported(&self.implied, &run).map_err(|e| self.fail(e))?;
        Ok(Finished {
            run,
            makespan: self.makespan,
            terminated_at: self.terminated_at.unwrap_or(0),
            uploads: self.links.sent(),
            traits: self.peers.iter().map(|p| p.traits).collect(),
            tracker_queue: self.tracker_queue.as_ref().map(TrackerQueue::stats),
            tracker_handled_by_makespan: self.tracker_handled_by_makespan,
            inbox: self.inbox.take(),
        })
    }

    /// The tracker handles a message that arrived at it (now or earlier).
    fn deliver_to_tracker(&mut self, tick: u64, inbound: Inbound) -> Result<(), SimError> {
        let Inbound {
            from,
            channel,
            bytes,
        } = inbound;
        if let Some(inbox) = &mut self.inbox {
            let bytes = bytes.as_slice().to_vec();
            inbox.push(TrackerMessage { tick, from, bytes });
        }
        self.deliver(now_of(tick), from, TRACKER, channel, bytes.as_slice())
    }

    /// A message arrives at a tracker with a capacity: it is handled now,
    /// or waits in the queue.
    fn arrive_at_tracker(&mut self, tick: u64, inbound: Inbound) -> Result<(), SimError> {
        let Some(queue) = &mut self.tracker_queue else {
            return self.deliver_to_tracker(tick, inbound);
        };
        match queue.arrive(tick, inbound) {
            Arrival::Handle(inbound) => return self.deliver_to_tracker(tick, inbound),
            Arrival::Queued(Some(at)) => self.calendar.schedule(at, Event::TrackerWake),
            Arrival::Queued(None) => {}
        }
        Ok(())
    }

    /// The tracker handles the front of its queue, as much as the tick's
    /// capacity lets it, and wakes again next tick if more waits.
    fn wake_tracker(&mut self, tick: u64) -> Result<(), SimError> {
        while let Some(inbound) = self.tracker_queue.as_mut().and_then(|q| q.take(tick)) {
            self.deliver_to_tracker(tick, inbound)?;
        }
        if let Some(at) = self.tracker_queue.as_ref().and_then(|q| q.next_wake(tick)) {
            self.calendar.schedule(at, Event::TrackerWake);
        }
        Ok(())
    }

    /// Asks for the memory the next events will touch to be loaded, in
    /// stages (see [`mpitorrent_core::prefetch`]). At 10,000 peers the
    /// machines' state is far bigger than the caches, and handling a
    /// message is a chain of cache misses; with these, the run takes
    /// about half the time. The event [`PREFETCH_EVERY`] places ahead gets
    /// its deepest prefetch, the one twice as far the next shallower, and
    /// so on; further still, the event's own slot in the calendar is
    /// loaded, so that reading it for the first stage does not wait.
    fn prefetch_ahead(&self) {
        for (stage, &depth) in Depth::ALL.iter().rev().enumerate() {
            if let Some(event) = self.calendar.peek((stage + 1) * PREFETCH_EVERY - 1) {
                self.prefetch_event(event, depth);
            }
        }
        self.calendar
            .prefetch((Depth::ALL.len() + 1) * PREFETCH_EVERY - 1);
    }

    /// Loads what handling `event` will touch, `depth` steps from the
    /// machine it is for.
    fn prefetch_event(&self, event: &Event, depth: Depth) {
        match *event {
            Event::Deliver { from, to, .. } if to.is_tracker() => {
                self.tracker.prefetch(from, depth)
            }
            Event::Deliver { to, channel, .. } => {
                self.peers[to.index() - 1].peer.prefetch(depth, channel);
                if channel == Channel::Upload {
                    // Most likely a request: its ACK goes onto the uplink.
                    self.links.prefetch_push(to, depth);
                }
            }
            Event::Uplink(rank) => self.links.prefetch_wake(rank, depth),
            Event::StartDownloads(_) | Event::TrackerWake => {}
        }
    }

    /// Checks, encodes and schedules one message from `from`.
    fn send_at(&mut self, tick: u64, from: Rank, transmit: Transmit) -> Result<(), SimError> {
        let channel = transmit.channel();
        let Transmit { to, msg } = transmit;
        let kind = msg.kind();
        if let Err(e) = self.sends.check(from, to, kind) {
            return Err(self.fail(e));
        }
        // (An ACK for a segment the sender does not hold cannot happen here:
        // the uploader answers from the very holdings the downloader fills.
        // Each machine counts what it sends.)
        let bytes = Encoded::new(wire::encode(&msg));
        if kind == MessageKind::SegmentAck {
            if let Some(at) = self.links.push(tick, Segment { from, to, bytes }) {
                if at == tick {
                    self.wake_uplink(tick, from);
                } else {
                    self.calendar.schedule(at, Event::Uplink(from));
                }
            }
        } else {
            // (Validated delays and ticks never come near u64::MAX; were
            // they to, an event must not wrap into the past.)
            let at = tick.saturating_add(self.config.latency);
            let event = Event::Deliver {
                from,
                to,
                channel,
                bytes,
            };
            self.calendar.schedule(at, event);
        }
        Ok(())
    }

    /// Starts the next segment on `rank`'s uplink.
    fn wake_uplink(&mut self, tick: u64, rank: Rank) {
        let (sent, next) = self.links.wake(tick, rank);
        if let Some((at, Segment { from, to, bytes })) = sent {
            let event = Event::Deliver {
                from,
                to,
                channel: Channel::Download,
                bytes,
            };
            self.calendar.schedule(at, event);
        }
        if let Some(next) = next {
            self.calendar.schedule(next, Event::Uplink(rank));
        }
    }

    /// A late peer's download side starts (or any peer's, at its ACK).
    fn start_downloads(&mut self, tick: u64, rank: Rank) -> Result<(), SimError> {
        self.peer(rank).peer.start_downloads(now_of(tick));
        self.drain_peer(rank)
    }

    /// Who the job waits for, for a stall or a run past `max_ticks`: the
    /// first few peers that are not done, and what they lack.
    fn describe_waiting(&self) -> String {
        const SHOWN: usize = 5;
        let mut waiting = Vec::new();
        for SimPeer {
            peer, finished_at, ..
        } in &self.peers
        {
            let rank = peer.rank();
            let (Some(download), Some(holdings)) = (peer.download(), peer.holdings()) else {
                waiting.push(format!("rank {rank} has no REGISTER_ACK"));
                continue;
            };
            let what = match () {
                _ if peer.is_stopped() => continue,
                _ if !download.is_started() => {
                    format!("rank {rank} has not started downloading")
                }
                _ if finished_at.is_some() => {
                    format!("rank {rank} has all its files and waits for TERMINATE")
                }
                _ => {
                    let files: Vec<String> = self
                        .outputs
                        .missing_of(rank)
                        .map(|name| match holdings.find_by_name(name) {
                            Some(file) => format!(
                                "'{name}' ({} of {} segments)",
                                file.held_count(),
                                file.segment_count()
                            ),
                            None => format!("'{name}' (no swarm answer yet)"),
                        })
                        .collect();
                    format!("rank {rank} waits for {}", files.join(", "))
                }
            };
            waiting.push(what);
        }
        let more = waiting.len().saturating_sub(SHOWN);
        waiting.truncate(SHOWN);
        let mut text = if waiting.is_empty() {
            "every peer was terminated; the tracker waits for statistics".to_string()
        } else {
            waiting.join("; ")
        };
        if more > 0 {
            text += &format!("; and {more} more peer(s)");
        }
        text
    }
}

/// The simulator's side of the draining: a message is sent at the current
/// tick; the tracker's end is noted; a peer's events drive the run.
impl Drain for World<'_> {
    type Error = SimError;
    /// Control messages share one latency and a tick's events keep their
    /// order, so whatever was sent before a TERMINATE arrives before it.
    const IN_ORDER: bool = true;

    fn fail(&self, what: String) -> SimError {
        World::fail(self, what)
    }

    fn tracker_mut(&mut self) -> &mut Tracker {
        &mut self.tracker
    }

    fn peer_mut(&mut self, rank: Rank) -> &mut Peer {
        &mut self.peer(rank).peer
    }

    fn send(&mut self, from: Rank, transmit: Transmit) -> Result<(), SimError> {
        self.send_at(self.calendar.now(), from, transmit)
    }

    fn tracker_event(&mut self, event: TrackerEvent) -> Result<(), SimError> {
        let tick = self.calendar.now();
        match event {
            TrackerEvent::AllRegistered => {}
            TrackerEvent::Terminated => {
                self.terminated_at = Some(tick);
                self.run_data = self.tracker.take_run_data();
            }
            TrackerEvent::Aborted { reason } => return Err(SimError::Aborted { tick, reason }),
        }
        Ok(())
    }

    fn peer_event(&mut self, rank: Rank, event: PeerEvent) -> Result<(), SimError> {
        let tick = self.calendar.now();
        match event {
            PeerEvent::Registered => match self.peer(rank).traits.start_delay {
                0 => self.start_downloads(tick, rank),
                delay => {
                    let at = tick.saturating_add(delay);
                    self.calendar.schedule(at, Event::StartDownloads(rank));
                    Ok(())
                }
            },
            PeerEvent::Download(DownloadEvent::FileCompleted { file }) => {
                if let Err(e) = self.outputs.complete(rank, &file) {
                    return Err(self.fail(e));
                }
                let peer = &self.peer(rank).peer;
                if peer.download().is_some_and(|d| d.downloaded(file.id)) {
                    // (Ticks never go back: the makespan is now this tick.)
                    self.makespan = self.makespan.max(tick);
                    if let Some(queue) = &self.tracker_queue {
                        self.tracker_handled_by_makespan = queue.handled_before(tick);
                    }
                }
                Ok(())
            }
            PeerEvent::Download(DownloadEvent::Finished) => {
                self.peer(rank).finished_at = Some(tick);
                Ok(())
            }
            PeerEvent::Download(DownloadEvent::Received { .. }) => Err(self.fail(format!(
                "rank {rank}: a segment to store, but simulated segments carry no bytes"
            ))),
            PeerEvent::Serve(serve) => self.send(rank, serve.hash_only()),
            // Its STATS went with its other messages.
            PeerEvent::Terminated => Ok(()),
            PeerEvent::Aborted { reason } => Err(SimError::Aborted { tick, reason }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::{FileId, Message};

    fn world_of(scenario: &Scenario, config: &SimConfig) -> Result<(), SimError> {
        World::new(scenario, config).run().map(|_| ())
    }

    fn two_peers() -> Scenario {
        crate::broadcast(2, 3, 1, 1).unwrap()
    }

    #[test]
    fn a_message_to_itself_or_after_terminate_fails_the_run() {
        let scenario = two_peers();
        let config = SimConfig::default();
        let mut world = World::new(&scenario, &config);
        let msg = || Message::AllFilesCompleted;
        let err = world
            .send_at(
                0,
                Rank(1),
                Transmit {
                    to: Rank(1),
                    msg: msg(),
                },
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("rank 1 sent CLIENT_GOT_ALL_FILES to itself"),
            "{err}"
        );
        let err = world
            .send_at(
                0,
                Rank(1),
                Transmit {
                    to: Rank(7),
                    msg: msg(),
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("which does not exist"), "{err}");
        let terminate = Transmit {
            to: Rank(2),
            msg: Message::Terminate,
        };
        world.send_at(0, TRACKER, terminate).unwrap();
        let request = Message::SegmentRequest {
            file: FileId(0),
            index: 0,
        };
        let err = world
            .send_at(
                0,
                Rank(1),
                Transmit {
                    to: Rank(2),
                    msg: request,
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("after its TERMINATE"), "{err}");
    }

    #[test]
    fn running_past_max_ticks_says_who_waits() {
        let scenario = two_peers();
        let config = SimConfig {
            max_ticks: 4,
            ..SimConfig::default()
        };
        let err = world_of(&scenario, &config).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("still running at tick 4"), "{text}");
        assert!(text.contains("waits for 'file1'"), "{text}");
    }
}
