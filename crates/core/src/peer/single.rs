//! [`Peer`]: a whole peer as one machine, for a driver of one thread (the
//! simulator, the core's swarm tests): registration, then both sides, fed
//! by channel, with their outputs in one place and STATS sent at
//! TERMINATE. The MPI and in-process drivers run the same pieces on two
//! threads instead (see [`super`]).

use super::{report, DownloadSide, PeerConfig, Registering, RegistrationEvent, Sides};
use crate::downloader::DownloadEvent;
use crate::holdings::Holdings;
#[cfg(feature = "sim-speed")]
use crate::prefetch::{self, Depth};
use crate::stats::ResourceUse;
use crate::uploader::{Serve, UploadEvent};
use crate::{Channel, FileId, Message, ProtocolError, Rank, Registration, SegmentIdx, Transmit};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// What a [`Peer`] reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// The tracker's ACK arrived: the download side waits for
    /// [`Peer::start_downloads`].
    Registered,
    /// What the download side reported.
    Download(DownloadEvent),
    /// Send this segment (see [`Serve`]).
    Serve(Serve),
    /// TERMINATE arrived; the STATS message is queued.
    Terminated,
    /// The tracker aborted the job, for this reason.
    Aborted { reason: String },
}

/// A peer rank, registering or registered.
#[derive(Debug)]
pub struct Peer {
    rank: Rank,
    /// Until the ACK.
    registering: Option<Box<Registering>>,
    /// From the ACK on.
    sides: Option<Sides>,
    /// The tracker aborted the job while this peer registered.
    aborted: bool,
    /// STATS, once terminated.
    transmits: VecDeque<Transmit>,
    events: VecDeque<PeerEvent>,
}

impl Peer {
    /// A peer that registers `registration` (see [`Registering::new`]).
    pub fn new(registration: Registration, config: PeerConfig, holdings: Holdings) -> Self {
        Peer {
            rank: config.downloader.rank,
            registering: Some(Box::new(Registering::new(registration, config, holdings))),
            sides: None,
            aborted: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// Whether the ACK arrived (its sides take messages from then on).
    pub fn is_registered(&self) -> bool {
        self.sides.is_some()
    }

    /// Whether the peer stopped: TERMINATE, or an abort (while it
    /// registered or after).
    pub fn is_stopped(&self) -> bool {
        self.aborted || self.sides.as_ref().is_some_and(|s| s.upload.is_stopped())
    }

    /// The download side, once registered.
    pub fn download(&self) -> Option<&DownloadSide> {
        self.sides.as_ref().map(|s| &s.download)
    }

    /// What this peer holds, once registered.
    pub fn holdings(&self) -> Option<&Arc<Holdings>> {
        self.download().map(DownloadSide::holdings)
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(registering) = &mut self.registering {
            return registering.poll_transmit();
        }
        let sides = self.sides.as_mut()?;
        sides
            .download
            .poll_transmit()
            .or_else(|| sides.upload.poll_transmit())
            .or_else(|| self.transmits.pop_front())
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// Feeds one message received on `channel`: the control channel's go
    /// to the registration until the ACK, then to the upload side (an
    /// abort), like the upload channel's; the download channel's to the
    /// download side once it started.
    pub fn handle_message(
        &mut self,
        now: Duration,
        from: Rank,
        channel: Channel,
        msg: Message,
    ) -> Result<(), ProtocolError> {
        let kind = msg.kind().name();
        let rank = self.rank;
        let refused = |when: &str| {
            Err(ProtocolError(format!(
                "rank {rank} got {kind} from rank {from} {when}"
            )))
        };
        let Some(sides) = &mut self.sides else {
            let registering = self.registering.as_mut().expect("a peer registers first");
            if channel != Channel::Control {
                return refused("before its REGISTER_ACK");
            }
            let handled = registering.handle_message(now, from, msg);
            self.take_registration_events();
            return handled;
        };
        match channel {
            Channel::Download if sides.download.is_started() => {
                let handled = sides.download.handle_message(now, from, msg);
                self.take_download_events();
                handled
            }
            Channel::Download => refused("before its download side started"),
            Channel::Upload | Channel::Control => {
                let handled = sides.upload.handle_message(now, from, msg);
                self.take_upload_events();
                handled
            }
            Channel::Tracker => refused("on the tracker's channel"),
        }
    }

    /// Starts the download side (at the ACK, or later for a late peer).
    pub fn start_downloads(&mut self, now: Duration) {
        if let Some(sides) = &mut self.sides {
            sides.download.start(now);
            self.take_download_events();
        }
    }

    /// The driver stored a received segment (see
    /// [`DownloadSide::segment_stored`]).
    pub fn segment_stored(
        &mut self,
        now: Duration,
        file: FileId,
        index: SegmentIdx,
        len: usize,
    ) -> Result<(), ProtocolError> {
        let sides = self.sides.as_mut().ok_or_else(|| {
            ProtocolError(format!(
                "rank {}: a segment stored before its REGISTER_ACK",
                self.rank
            ))
        })?;
        let stored = sides.download.segment_stored(now, file, index, len);
        self.take_download_events();
        stored
    }

    fn take_registration_events(&mut self) {
        let Some(registering) = &mut self.registering else {
            return;
        };
        while let Some(event) = registering.poll_event() {
            match event {
                RegistrationEvent::Registered(sides) => {
                    // Whatever it still had to send (REGISTER) went already.
                    self.registering = None;
                    self.sides = Some(*sides);
                    self.events.push_back(PeerEvent::Registered);
                    return;
                }
                RegistrationEvent::Aborted { reason } => {
                    self.aborted = true;
                    self.events.push_back(PeerEvent::Aborted { reason })
                }
            }
        }
    }

    /// Takes the download side's events; what it received may be what the
    /// upload side waits to relay.
    fn take_download_events(&mut self) {
        let Some(sides) = &mut self.sides else {
            return;
        };
        let events = std::iter::from_fn(|| sides.download.poll_event());
        self.events.extend(events.map(PeerEvent::Download));
        if sides.upload.is_waiting() {
            sides.upload.serve_arrived();
            self.take_upload_events();
        }
    }

    fn take_upload_events(&mut self) {
        let Some(sides) = &mut self.sides else {
            return;
        };
        while let Some(event) = sides.upload.poll_event() {
            let event = match event {
                UploadEvent::Serve(serve) => PeerEvent::Serve(serve),
                UploadEvent::Terminated => {
                    let stats = report(
                        (&sides.download, &sides.upload, &sides.hashes),
                        Duration::ZERO,
                        ResourceUse::default(),
                    );
                    self.transmits.push_back(stats);
                    PeerEvent::Terminated
                }
                UploadEvent::Aborted { reason } => PeerEvent::Aborted { reason },
            };
            self.events.push_back(event);
        }
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) what a
    /// message on `channel` touches: `Fields` loads this peer and the side
    /// it is for in place, the next depths ask that side.
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self, depth: Depth, channel: Channel) {
        if depth == Depth::Fields {
            prefetch::lines(self, usize::MAX);
        }
        let Some(sides) = &self.sides else {
            return;
        };
        match channel {
            Channel::Upload => sides.upload.prefetch(depth),
            Channel::Download => sides.download.prefetch(depth),
            _ => {}
        }
    }
}
