//! A peer rank as state machines, written once for every driver.
//!
//! A peer registers, then runs a download side and an upload side until
//! TERMINATE, then reports its statistics:
//!
//! ```text
//!   Registering ──REGISTER──▶ tracker            (new: REGISTER queued)
//!        ◀──REGISTER_ACK── tracker: checked, the holdings built
//!        └─▶ Sides { download: DownloadSide, upload: Uploader }
//!   download side: SWARM_REQUEST … segment requests … LEAVE (a leaving peer)
//!   upload side:   answers requests (Serve events) until TERMINATE
//!   report(download, upload) ─STATS─▶ tracker    (every message counted)
//! ```
//!
//! [`Registering`] does the registration with every check, and hands over
//! the two sides; each counts what it sends, and [`report`] adds them up
//! into the STATS message. The MPI and in-process drivers run the two sides
//! on two threads, each with its own endpoint; a driver of one thread (the
//! simulator, the core's swarm tests) runs them as one [`Peer`]. Either
//! way the driver is plumbing: it moves messages, stores and reads
//! segments, and keeps the time.

mod download;
mod hashes;
mod single;

pub use download::DownloadSide;
pub use hashes::{HashPublisher, PublishStats};
pub use single::{Peer, PeerEvent};

use crate::downloader::{Downloader, DownloaderConfig};
use crate::holdings::Holdings;
use crate::stats::{millis, PeerStats, ResourceUse, SentCounts, StartTimes};
use crate::uploader::Uploader;
use crate::{Message, MessageKind, ProtocolError, Rank, Registration, Stripe, Transmit, TRACKER};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// How a peer runs once registered.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// The download side's settings; its `wanted` list is the one the
    /// tracker's ACK gives.
    pub downloader: DownloaderConfig,
    /// Once it has every file, the peer leaves the swarms of the files it
    /// downloaded (the simulator's leaving peers).
    pub leaves: bool,
}

/// A registered peer's two sides, around one [`Holdings`].
#[derive(Debug)]
pub struct Sides {
    pub download: DownloadSide,
    pub upload: Uploader,
    /// The hashes a seeder still sends (nothing to do for most peers).
    pub hashes: HashPublisher,
}

/// What [`Registering`] reports to its driver.
#[derive(Debug)]
pub enum RegistrationEvent {
    /// The tracker's ACK arrived and checked out: run these.
    Registered(Box<Sides>),
    /// The tracker aborted the job, for this reason.
    Aborted { reason: String },
}

#[derive(Debug, PartialEq, Eq)]
enum Stage {
    /// REGISTER sent, waiting for the ACK.
    Waiting,
    /// The sides were handed over.
    Registered,
    /// This peer asked the tracker to abort; waiting for its abort.
    Failed,
    /// The tracker's abort arrived.
    Aborted,
}

/// A peer from its start to the tracker's ACK.
#[derive(Debug)]
pub struct Registering {
    rank: Rank,
    config: PeerConfig,
    /// What it registered: its listings become its holdings at the ACK.
    registration: Registration,
    holdings: Holdings,
    stage: Stage,
    sent: SentCounts,
    transmits: VecDeque<Transmit>,
    events: VecDeque<RegistrationEvent>,
}

impl Registering {
    /// A peer that registers `registration` (REGISTER is queued) and keeps
    /// its files in `holdings` (empty, or sharing hashes with others).
    pub fn new(registration: Registration, config: PeerConfig, holdings: Holdings) -> Self {
        let mut peer = Registering::waiting(config, holdings);
        let msg = Message::Register(registration.clone());
        peer.registration = registration;
        peer.push(Transmit { to: TRACKER, msg });
        peer
    }

    /// A peer whose input could not be read, for `reason`: it asks the
    /// tracker to abort (ABORT is queued) instead of registering, and waits
    /// for the abort so that it ends with the rest of the job.
    pub fn unable(config: PeerConfig, reason: String) -> Self {
        let mut peer = Registering::waiting(config, Holdings::new());
        peer.fail(reason);
        peer
    }

    fn waiting(config: PeerConfig, holdings: Holdings) -> Self {
        Registering {
            rank: config.downloader.rank,
            config,
            registration: Registration::default(),
            holdings,
            stage: Stage::Waiting,
            sent: SentCounts::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn push(&mut self, transmit: Transmit) {
        self.sent.add(transmit.msg.kind());
        self.transmits.push_back(transmit);
    }

    fn fail(&mut self, reason: String) {
        self.stage = Stage::Failed;
        let msg = Message::Abort { reason };
        self.push(Transmit { to: TRACKER, msg });
    }

    /// This peer's rank.
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// Whether it asked the tracker to abort and waits for that abort
    /// (whatever else arrives no longer matters).
    pub fn waits_for_abort(&self) -> bool {
        self.stage == Stage::Failed
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<RegistrationEvent> {
        self.events.pop_front()
    }

    /// Feeds one message received on the control channel. A message that
    /// does not belong here is a protocol error, which this peer has
    /// already reported to the tracker (ABORT is queued) when it returns
    /// it: a driver may stop at once, or keep going until the abort.
    pub fn handle_message(
        &mut self,
        _now: Duration,
        from: Rank,
        msg: Message,
    ) -> Result<(), ProtocolError> {
        let problem = match (&self.stage, msg) {
            (_, Message::Abort { reason }) if from == TRACKER => {
                self.stage = Stage::Aborted;
                self.events.push_back(RegistrationEvent::Aborted { reason });
                return Ok(());
            }
            // Whatever else arrives, the abort asked for is what ends it.
            (Stage::Failed, _) => return Ok(()),
            (
                Stage::Waiting,
                Message::RegisterAck {
                    file_ids,
                    candidate_ids,
                    wanted,
                },
            ) if from == TRACKER => match self.registered(file_ids, candidate_ids, wanted) {
                Ok(()) => return Ok(()),
                Err(problem) => problem,
            },
            (_, other) => format!(
                "rank {} expected REGISTER_ACK from the tracker, got {} from rank {from}",
                self.rank,
                other.kind().name()
            ),
        };
        self.fail(format!("protocol error: {problem}"));
        Err(ProtocolError(problem))
    }

    /// The ACK's ids are checked against what was registered; the held
    /// files go into the holdings, and the sides are built.
    fn registered(
        &mut self,
        file_ids: Vec<crate::FileId>,
        candidate_ids: Vec<Option<crate::FileId>>,
        wanted: Vec<String>,
    ) -> Result<(), String> {
        let registration = std::mem::take(&mut self.registration);
        let (owned, candidates) = (registration.owned.len(), registration.candidates.len());
        if file_ids.len() != owned || candidate_ids.len() != candidates {
            return Err(format!(
                "rank {}: REGISTER_ACK with {} ids for {owned} owned files and {} for \
                 {candidates} candidates",
                self.rank,
                file_ids.len(),
                candidate_ids.len()
            ));
        }
        let holdings = Arc::new(std::mem::take(&mut self.holdings));
        let stripes = &registration.stripes;
        let stripe = |name: &str| {
            stripes
                .iter()
                .find(|s| s.name == name)
                .map(Stripe::segments)
        };
        let hashes = HashPublisher::new(
            self.rank,
            registration.owned.iter().zip(file_ids.iter().copied()),
            &stripe,
        );
        let held = registration
            .owned
            .into_iter()
            .zip(file_ids.into_iter().map(Some))
            .chain(registration.candidates.into_iter().zip(candidate_ids));
        let mut held_at_start = Vec::new();
        for (listing, id) in held {
            match id {
                Some(id) => {
                    match stripe(&listing.name) {
                        Some(part) => holdings.add_part(id, listing.name, listing.hashes, part),
                        None => holdings.add_complete(id, listing.name, listing.hashes),
                    };
                    held_at_start.push(id);
                }
                // Partly intact, maybe: its matching segments are not fetched.
                None => holdings.found_partly(listing.name, listing.hashes),
            }
        }
        let wanted_files = wanted.len();
        let config = DownloaderConfig {
            wanted,
            ..self.config.downloader.clone()
        };
        let downloader = Downloader::new(config, Arc::clone(&holdings));
        let sides = Sides {
            hashes,
            upload: Uploader::new(self.rank, Arc::clone(&holdings)),
            download: DownloadSide::new(
                downloader,
                holdings,
                std::mem::take(&mut self.sent),
                held_at_start,
                wanted_files,
                self.config.leaves,
            ),
        };
        self.stage = Stage::Registered;
        self.events
            .push_back(RegistrationEvent::Registered(Box::new(sides)));
        Ok(())
    }
}

/// The STATS message a peer sends the tracker once its sides are done:
/// everything it counted, the STATS itself included, what its process
/// used (`ResourceUse::default()` where no process is its own), and how
/// long after its start it was registered (`Duration::ZERO` where the
/// driver does not know).
pub fn report(
    sides: (&DownloadSide, &Uploader, &HashPublisher),
    registered: Duration,
    resources: ResourceUse,
) -> Transmit {
    let (download, upload, hashes) = sides;
    let mut sent = download.sent().clone();
    sent.merge(upload.sent());
    sent.merge(hashes.sent());
    sent.add(MessageKind::Stats);
    let stats = download.stats();
    let stats = PeerStats {
        downloads: stats.received.to_list(),
        uploads: upload.stats().sent.to_list(),
        nacks_received: stats.nacks_received,
        corrupt_received: stats.corrupt_received,
        bytes_received: download.bytes_stored(),
        completed: stats.completed.clone(),
        progress: stats.progress.clone(),
        messages_sent: sent.to_counts(),
        resources,
        start: StartTimes {
            registered_ms: millis(registered),
            first_upload_ms: upload.stats().first_served_ms,
            hash_batches: hashes.stats().batches,
            last_hashes_ms: hashes.stats().last_ms,
        },
        source_bytes_read: hashes.stats().source_bytes_read,
    };
    Transmit {
        to: TRACKER,
        msg: Message::Stats(Box::new(stats)),
    }
}

#[cfg(test)]
mod tests;
