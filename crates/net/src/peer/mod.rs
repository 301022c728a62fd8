//! A peer rank's driver: register with the tracker, wait for its ACK, then
//! run the download thread and the upload thread until TERMINATE, then
//! send the tracker this peer's statistics.
//!
//! Each thread takes its own endpoint and only receives on its own
//! channels: the download thread on [`Channel::Download`], the upload
//! thread on [`Channel::Upload`] and [`Channel::Control`] (where an abort
//! arrives). Any failure on a peer is sent to the tracker as `Abort`; the
//! tracker tells every peer, so the whole job ends and the reason is
//! printed once, by rank 0. What segments are made of (hashes only, or real
//! bytes) is the [`Content`]'s business; the threads are the same.

mod download;
mod upload;

use crate::content::Content;
use crate::fault::FaultPlan;
use crate::resources::process_resources;
use crate::{Counting, Endpoint, Envelope, Fabric, TransportError};
use download::{download_thread, Downloaded};
use mpitorrent_core::holdings::Holdings;
use mpitorrent_core::stats::{PeerStats, ResourceUse};
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::{
    Channel, Message, MessageKind, ProtocolError, Rank, Registration, Transmit, TRACKER,
};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use upload::{upload_thread, Uploaded};

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
    let endpoint = Counting::new(fabric.endpoint());
    let PeerSetup {
        registration,
        content,
    } = match setup {
        Ok(setup) => setup,
        Err(reason) => {
            report_failure(&endpoint, reason)?;
            return Err(wait_for_abort(&endpoint)?);
        }
    };
    let content = content.as_ref();
    let span = tracing::info_span!("peer", rank = endpoint.rank().0).entered();
    let (holdings, wanted) = register(&endpoint, registration)?;
    tracing::info!("registered; {} file(s) to fetch", wanted.len());
    drop(span);
    let holdings = Arc::new(holdings);
    let clock = Instant::now();
    let stop = AtomicBool::new(false);
    let (downloaded, uploaded) = std::thread::scope(|scope| {
        let download = std::thread::Builder::new()
            .name("download".into())
            .spawn_scoped(scope, || {
                download_thread(fabric, &holdings, wanted, content, options, &stop, clock)
            })
            .expect("spawn the download thread");
        let upload = std::thread::Builder::new()
            .name("upload".into())
            .spawn_scoped(scope, || {
                upload_thread(fabric, &holdings, content, options.fault, &stop, clock)
            })
            .expect("spawn the upload thread");
        // A download failure was reported to the tracker, whose abort stops
        // the upload thread; so both always end.
        (
            download.join().expect("the download thread does not panic"),
            upload.join().expect("the upload thread does not panic"),
        )
    });
    // A failed download thread already cleaned up before it reported; a
    // rank told of someone else's failure cleans up here (it is idempotent).
    if downloaded.is_err() || uploaded.is_err() {
        content.abandon();
    }
    // If the tracker aborted the job (the upload thread saw it), the
    // tracker prints the reason; otherwise a download failure is this
    // rank's to print.
    let uploaded = uploaded?;
    let downloaded = downloaded?;
    let stats = peer_stats(&downloaded, &uploaded, &endpoint, options.own_process);
    endpoint.transmit(&Transmit {
        to: TRACKER,
        msg: Message::Stats(Box::new(stats)),
    })?;
    // Only now: a failed run leaves everything as it was for the user to
    // look at, and only a run that ended well knows its outputs are whole,
    // so that any temporary of its own still there is an earlier run's.
    // After the STATS, so the tracker's end does not wait for it.
    let _span = tracing::info_span!("peer", rank = endpoint.rank().0).entered();
    match content.tidy() {
        Ok(removed) => {
            for path in removed {
                tracing::info!("removed {}, left by an earlier run", path.display());
            }
        }
        Err(e) => tracing::warn!("cannot remove what an earlier run left: {e}"),
    }
    Ok(PeerReport {
        files_written: downloaded.files_written,
    })
}

/// Everything this peer counted, for the tracker's run report.
fn peer_stats<E: Endpoint>(
    downloaded: &Downloaded,
    uploaded: &Uploaded,
    main: &Counting<E>,
    own_process: bool,
) -> PeerStats {
    let mut sent = main.sent();
    sent.merge(&downloaded.sent);
    sent.merge(&uploaded.sent);
    // The STATS message itself, sent right after this.
    sent.add(MessageKind::Stats);
    PeerStats {
        downloads: downloaded.stats.received.to_list(),
        uploads: uploaded.stats.sent.to_list(),
        nacks_received: downloaded.stats.nacks_received,
        corrupt_received: downloaded.stats.corrupt_received,
        bytes_received: downloaded.bytes_stored,
        completed: downloaded.stats.completed.clone(),
        progress: downloaded.stats.progress.clone(),
        messages_sent: sent,
        resources: if own_process {
            process_resources()
        } else {
            ResourceUse::default()
        },
    }
}

/// Sends the registration, waits for the tracker's ACK, and returns the
/// peer's holdings (owned files and matched candidates, with the tracker's
/// file ids) and the files to download.
fn register<E: Endpoint>(
    endpoint: &E,
    registration: Registration,
) -> Result<(Holdings, Vec<String>), PeerError> {
    let msg = Message::Register(registration.clone());
    endpoint.transmit(&Transmit { to: TRACKER, msg })?;
    let (file_ids, candidate_ids, wanted) = loop {
        let Some(envelope) = endpoint.recv(&[Channel::Control], POLL_INTERVAL)? else {
            continue;
        };
        match envelope.decode()? {
            Message::RegisterAck {
                file_ids,
                candidate_ids,
                wanted,
            } if file_ids.len() == registration.owned.len()
                && candidate_ids.len() == registration.candidates.len() =>
            {
                break (file_ids, candidate_ids, wanted)
            }
            Message::Abort { reason } => return Err(PeerError::Aborted(reason)),
            other => {
                let reason = format!(
                    "protocol error: rank {} expected REGISTER_ACK, got {}",
                    endpoint.rank(),
                    other.kind().name()
                );
                report_failure(endpoint, reason)?;
                return Err(wait_for_abort(endpoint)?);
            }
        }
    };
    let holdings = Holdings::new();
    let held = registration
        .owned
        .into_iter()
        .zip(file_ids.into_iter().map(Some))
        .chain(registration.candidates.into_iter().zip(candidate_ids));
    for (listing, id) in held {
        match id {
            Some(id) => drop(holdings.add_complete(id, listing.name, listing.hashes)),
            // Partly intact, maybe: its matching segments are not fetched.
            None => holdings.found_partly(listing.name, listing.hashes),
        }
    }
    Ok((holdings, wanted))
}

/// Decodes a received message and feeds it to a state machine; a problem
/// comes back as the one line the user will read, naming this rank.
fn feed(
    rank: Rank,
    envelope: Envelope,
    handle: impl FnOnce(Rank, Message) -> Result<(), ProtocolError>,
) -> Result<(), String> {
    let from = envelope.from;
    let msg = envelope.decode().map_err(|e| format!("rank {rank}: {e}"))?;
    handle(from, msg).map_err(|e| e.to_string())
}

/// Asks the tracker to abort the job for `reason`.
fn report_failure<E: Endpoint>(endpoint: &E, reason: String) -> Result<(), TransportError> {
    endpoint.transmit(&Transmit {
        to: TRACKER,
        msg: Message::Abort { reason },
    })
}

/// After reporting a failure before the threads start: wait for the
/// tracker's abort, so this rank ends with the rest of the job.
fn wait_for_abort<E: Endpoint>(endpoint: &E) -> Result<PeerError, TransportError> {
    loop {
        if let Some(envelope) = endpoint.recv(&[Channel::Control], POLL_INTERVAL)? {
            if let Ok(Message::Abort { reason }) = envelope.decode() {
                return Ok(PeerError::Aborted(reason));
            }
        }
    }
}
