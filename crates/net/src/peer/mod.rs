//! A peer rank's driver: runs the core's peer machine
//! ([`mpitorrent_core::peer`]) on real endpoints. The registration runs on
//! the control channel; its two sides then run on a download thread and an
//! upload thread until TERMINATE; then the STATS the machine assembles go
//! to the tracker. Every check, count and message is the machine's; this
//! driver moves bytes, stores and reads segments, and keeps the time.
//!
//! Each thread takes its own endpoint and only receives on its own
//! channels: the download thread on [`Channel::Download`], the upload
//! thread on [`Channel::Upload`] and [`Channel::Control`] (where an abort
//! arrives). Any failure on a peer is sent to the tracker as `Abort`; the
//! tracker tells every peer, so the whole job ends and the reason is
//! printed once, by rank 0. What segments are made of (hashes only, or real
//! bytes) is the [`Content`]'s business; the threads are the same.
//!
//! A rank relays segments it is still receiving (with `tree`, most of
//! them): a request for one waits in the upload thread until the download
//! thread holds it. The download thread wakes the upload thread (a
//! [`Wake`]) whenever it holds a new segment, and the upload thread's
//! receive then ends at once, so a relayed segment leaves as soon as it is
//! here, while a thread with requests waiting sleeps between messages like
//! any other. (It used to look for arrivals every 100 µs instead: with
//! more ranks than cores, that took CPU the other ranks needed.)

mod download;
mod hash;
mod upload;

use crate::content::Content;
use crate::endpoint::Wake;
use crate::fault::FaultPlan;
use crate::resources::process_resources;
use crate::{Endpoint, Envelope, Fabric, TransportError};
use download::{download_thread, Downloaded};
use hash::hash_thread;
use mpitorrent_core::downloader::DownloaderConfig;
use mpitorrent_core::holdings::Holdings;
use mpitorrent_core::peer::{self, PeerConfig, Registering, RegistrationEvent, Sides};
use mpitorrent_core::stats::ResourceUse;
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::{Channel, Message, ProtocolError, Rank, Registration};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use upload::upload_thread;

/// How a peer downloads.
#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// PEER_UPDATE after this many segments (the classic 10).
    pub update_every: u32,
    /// Segment requests outstanding at once.
    pub window: u32,
    pub strategy: Strategy,
    /// Seeds the download side's random choices.
    pub seed: u64,
    /// Whether this rank is a process of its own, so its CPU and memory
    /// are worth reporting (false when every rank shares one process).
    pub own_process: bool,
    /// A fault to inject on this job's ranks (tests only).
    pub fault: Option<FaultPlan>,
    /// When this rank started (the origin of the report's
    /// `first_segment_ms`); `None`: at its REGISTER_ACK.
    pub started: Option<Instant>,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            update_every: 10,
            window: 1,
            strategy: Strategy::RoundRobin,
            seed: 0,
            own_process: false,
            fault: None,
            started: None,
        }
    }
}

/// What a peer did, once the swarm terminated.
#[derive(Clone, Debug, Default)]
pub struct PeerReport {
    pub files_written: usize,
}

/// Why a peer stopped before TERMINATE.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The tracker aborted the job (it prints the reason; peers stay quiet).
    #[error("the job was aborted: {0}")]
    Aborted(String),
    /// This peer failed and told the tracker, but the tracker had already
    /// finished: this rank must say why itself.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// The longest a thread sleeps in one receive before checking for a stop.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What a peer starts from: what it tells the tracker, and what its
/// segments are made of.
pub struct PeerSetup {
    pub registration: Registration,
    pub content: Box<dyn Content>,
}

/// Runs one peer rank to the end of the swarm.
///
/// `setup` is what this peer offers and wants, or the message saying why
/// its input could not be read (then the peer asks the tracker to abort the
/// job instead of registering).
pub fn run_peer<F: Fabric>(
    fabric: &F,
    setup: Result<PeerSetup, String>,
    options: &PeerOptions,
) -> Result<PeerReport, PeerError> {
    let endpoint = fabric.endpoint();
    let rank = endpoint.rank();
    let (registering, content) = match setup {
        Ok(PeerSetup {
            registration,
            content,
        }) => {
            let config = peer_config(rank, options, content.carries_bytes());
            let registering = Registering::new(registration, config, Holdings::new());
            (registering, content)
        }
        Err(reason) => {
            let config = peer_config(rank, options, false);
            // It never registers: the tracker's abort is what ends it.
            return match register(&endpoint, Registering::unable(config, reason)) {
                Err(e) => Err(e),
                Ok(_) => Err(PeerError::Failed(format!(
                    "rank {rank} was registered without an input"
                ))),
            };
        }
    };
    let content = content.as_ref();
    let span = tracing::info_span!("peer", rank = rank.0).entered();
    let Sides {
        download,
        upload,
        hashes,
    } = *register(&endpoint, registering)?;
    drop(span);
    let clock = Instant::now();
    let registered = options.started.map_or(Duration::ZERO, |t| clock - t);
    let stop = AtomicBool::new(false);
    let arrived = Wake::default();
    let (downloaded, uploaded, hashed) = std::thread::scope(|scope| {
        let hashing = std::thread::Builder::new()
            .name("hash".into())
            .spawn_scoped(scope, || {
                hash_thread(fabric, hashes, content, options.fault, &stop, clock)
            })
            .expect("spawn the hash thread");
        let download = std::thread::Builder::new()
            .name("download".into())
            .spawn_scoped(scope, || {
                download_thread(fabric, download, content, &stop, &arrived, clock)
            })
            .expect("spawn the download thread");
        let upload = std::thread::Builder::new()
            .name("upload".into())
            .spawn_scoped(scope, || {
                upload_thread(
                    fabric,
                    upload,
                    content,
                    options.fault,
                    &stop,
                    &arrived,
                    clock,
                )
            })
            .expect("spawn the upload thread");
        // A download failure was reported to the tracker, whose abort stops
        // the upload thread; so both always end.
        (
            download.join().expect("the download thread does not panic"),
            upload.join().expect("the upload thread does not panic"),
            hashing.join().expect("the hash thread does not panic"),
        )
    });
    // A failed download thread already cleaned up before it reported; a
    // rank told of someone else's failure cleans up here (it is idempotent).
    if downloaded.is_err() || uploaded.is_err() || hashed.is_err() {
        content.abandon();
    }
    // If the tracker aborted the job (the upload thread saw it), the
    // tracker prints the reason; otherwise a download failure is this
    // rank's to print.
    let uploaded = uploaded?;
    let hashes = hashed?;
    let Downloaded {
        side,
        files_written,
    } = downloaded?;
    let resources = ResourceUse {
        // This STATS included, like the protocol's counts.
        transport_sends: fabric.sent() + 1,
        ..match options.own_process {
            true => process_resources(),
            false => ResourceUse::default(),
        }
    };
    let sides = (&side, &uploaded, &hashes);
    endpoint.transmit(&peer::report(sides, registered, resources))?;
    // Only now: a failed run leaves everything as it was for the user to
    // look at, and only a run that ended well knows its outputs are whole,
    // so that any temporary of its own still there is an earlier run's.
    // After the STATS, so the tracker's end does not wait for it.
    let _span = tracing::info_span!("peer", rank = rank.0).entered();
    match content.tidy() {
        Ok(removed) => {
            for path in removed {
                tracing::info!("removed {}, left by an earlier run", path.display());
            }
        }
        Err(e) => tracing::warn!("cannot remove what an earlier run left: {e}"),
    }
    Ok(PeerReport { files_written })
}

/// How this rank's peer machine runs, from the options.
fn peer_config(rank: Rank, options: &PeerOptions, verify: bool) -> PeerConfig {
    PeerConfig {
        downloader: DownloaderConfig {
            rank,
            wanted: Vec::new(),
            update_every: options.update_every,
            window: options.window,
            strategy: options.strategy,
            seed: options.seed,
            verify,
        },
        leaves: false,
    }
}

/// Runs the registration to its end on the control channel: the peer's
/// two sides once the tracker's ACK checked out, or the tracker's abort.
fn register<E: Endpoint>(endpoint: &E, mut peer: Registering) -> Result<Box<Sides>, PeerError> {
    let start = Instant::now();
    loop {
        while let Some(transmit) = peer.poll_transmit() {
            endpoint.transmit(&transmit)?;
        }
        match peer.poll_event() {
            Some(RegistrationEvent::Registered(sides)) => {
                tracing::info!("registered; {} file(s) to fetch", sides.download.wanted());
                return Ok(sides);
            }
            Some(RegistrationEvent::Aborted { reason }) => return Err(PeerError::Aborted(reason)),
            None => {}
        }
        let Some(envelope) = endpoint.recv(&[Channel::Control], POLL_INTERVAL)? else {
            continue;
        };
        let from = envelope.from;
        let msg = match envelope.decode() {
            Ok(msg) => msg,
            // Only the tracker's abort matters any more.
            Err(_) if peer.waits_for_abort() => continue,
            Err(e) => return Err(e.into()),
        };
        // A message out of place was reported to the tracker by the
        // machine (ABORT queued above): its abort ends this rank.
        let _ = peer.handle_message(start.elapsed(), from, msg);
    }
}

/// Decodes a received message (or each of a bundle's) and feeds it to a
/// state machine; a problem comes back as the one line the user will read,
/// naming this rank.
fn feed(
    rank: Rank,
    envelope: Envelope,
    mut handle: impl FnMut(Rank, Message) -> Result<(), ProtocolError>,
) -> Result<(), String> {
    let from = envelope.from;
    let messages = envelope
        .decode_all()
        .map_err(|e| format!("rank {rank}: {e}"))?;
    for msg in messages {
        handle(from, msg).map_err(|e| e.to_string())?;
    }
    Ok(())
}
