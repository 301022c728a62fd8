//! A peer rank's driver: register with the tracker, wait for its ACK, then
//! run the download thread and the upload thread until TERMINATE.
//!
//! Each thread takes its own endpoint and only receives on its own
//! channels: the download thread on [`Channel::Download`], the upload
//! thread on [`Channel::Upload`] and [`Channel::Control`] (where an abort
//! arrives). Any failure on a peer is sent to the tracker as `Abort`; the
//! tracker tells every peer, so the whole job ends and the reason is
//! printed once, by rank 0.

use crate::fault::{Fault, FaultPlan};
use crate::output::OutputDir;
use crate::resources::process_resources;
use crate::{Counting, Endpoint, Envelope, Fabric, TransportError};
use mpitorrent_core::classic::PeerInput;
use mpitorrent_core::downloader::{DownloadEvent, DownloadStats, Downloader, DownloaderConfig};
use mpitorrent_core::holdings::Holdings;
use mpitorrent_core::stats::{MessageCounts, PeerStats, ResourceUse};
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::uploader::{UploadEvent, UploadStats, Uploader};
use mpitorrent_core::{
    Channel, FileListing, Message, MessageKind, ProtocolError, Rank, Transmit, TRACKER,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// What the download thread hands back when it is done.
struct Downloaded {
    files_written: usize,
    stats: DownloadStats,
    sent: MessageCounts,
}

/// What the upload thread hands back after TERMINATE.
struct Uploaded {
    stats: UploadStats,
    sent: MessageCounts,
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

/// Runs one peer rank to the end of the swarm.
///
/// `input` is the parsed `in<R>.txt`, or the message saying why it could
/// not be read (then the peer asks the tracker to abort the job instead of
/// registering).
pub fn run_peer<F: Fabric>(
    fabric: &F,
    input: Result<PeerInput, String>,
    output: &OutputDir,
    options: &PeerOptions,
) -> Result<PeerReport, PeerError> {
    let endpoint = Counting::new(fabric.endpoint());
    let input = match input {
        Ok(input) => input,
        Err(reason) => {
            report_failure(&endpoint, reason)?;
            return Err(wait_for_abort(&endpoint)?);
        }
    };
    let holdings = Arc::new(register(&endpoint, &input)?);
    let clock = Instant::now();
    let stop = AtomicBool::new(false);
    let (downloaded, uploaded) = std::thread::scope(|scope| {
        let download = std::thread::Builder::new()
            .name("download".into())
            .spawn_scoped(scope, || {
                download_thread(fabric, &holdings, &input, output, options, &stop, clock)
            })
            .expect("spawn the download thread");
        let upload = std::thread::Builder::new()
            .name("upload".into())
            .spawn_scoped(scope, || {
                upload_thread(fabric, &holdings, options.fault, &stop, clock)
            })
            .expect("spawn the upload thread");
        // A download failure was reported to the tracker, whose abort stops
        // the upload thread; so both always end.
        (
            download.join().expect("the download thread does not panic"),
            upload.join().expect("the upload thread does not panic"),
        )
    });
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

/// Sends the owned files and wanted names, waits for the tracker's ACK, and
/// returns the peer's holdings with the tracker's file ids.
fn register<E: Endpoint>(endpoint: &E, input: &PeerInput) -> Result<Holdings, PeerError> {
    let owned: Vec<FileListing> = input
        .owned
        .iter()
        .map(|f| FileListing {
            name: f.name.clone(),
            hashes: f.hashes.clone(),
        })
        .collect();
    let msg = Message::Register {
        owned,
        wanted: input.wanted.clone(),
    };
    endpoint.transmit(&Transmit { to: TRACKER, msg })?;
    let file_ids = loop {
        let Some(envelope) = endpoint.recv(&[Channel::Control], POLL_INTERVAL)? else {
            continue;
        };
        match envelope.decode()? {
            Message::RegisterAck { file_ids } if file_ids.len() == input.owned.len() => {
                break file_ids
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
    for (file, id) in input.owned.iter().zip(file_ids) {
        holdings.add_complete(id, file.name.clone(), file.hashes.clone());
    }
    Ok(holdings)
}

/// The download thread: runs the [`Downloader`] and writes each completed
/// file.
fn download_thread<F: Fabric>(
    fabric: &F,
    holdings: &Arc<Holdings>,
    input: &PeerInput,
    output: &OutputDir,
    options: &PeerOptions,
    stop: &AtomicBool,
    clock: Instant,
) -> Result<Downloaded, PeerError> {
    let endpoint = Counting::new(fabric.endpoint());
    let rank = endpoint.rank();
    let config = DownloaderConfig {
        rank,
        wanted: input.wanted.clone(),
        update_every: options.update_every,
        window: options.window,
        strategy: options.strategy,
        seed: options.seed,
        verify: false,
    };
    let mut downloader = Downloader::new(config, Arc::clone(holdings));
    downloader.start(clock.elapsed());
    let mut written = 0;
    loop {
        // Write completed files before sending what the downloader queued
        // with them, so the tracker never counts a peer as done (or as a
        // seed) whose output could not be written.
        let mut finished = false;
        while let Some(event) = downloader.poll_event() {
            match event {
                DownloadEvent::FileCompleted { file } => {
                    if let Err(err) = output.write(rank, &file) {
                        let reason = format!("rank {rank}: {err}");
                        report_failure(&endpoint, reason.clone())?;
                        return Err(PeerError::Failed(reason));
                    }
                    written += 1;
                }
                DownloadEvent::Finished => finished = true,
                // Only a verifying downloader (share) hands over bytes, and
                // this driver does not make one yet.
                DownloadEvent::Received { .. } => {
                    let reason = format!("rank {rank}: received segment bytes it cannot store");
                    report_failure(&endpoint, reason.clone())?;
                    return Err(PeerError::Failed(reason));
                }
            }
        }
        while let Some(transmit) = downloader.poll_transmit() {
            endpoint.transmit(&transmit)?;
        }
        if finished {
            return Ok(Downloaded {
                files_written: written,
                stats: downloader.stats().clone(),
                sent: endpoint.sent(),
            });
        }
        if stop.load(Ordering::Acquire) {
            return Err(PeerError::Aborted("stopped by the tracker".into()));
        }
        let Some(envelope) = endpoint.recv(&[Channel::Download], POLL_INTERVAL)? else {
            continue;
        };
        let handled = feed(rank, &envelope, |from, msg| {
            downloader.handle_message(clock.elapsed(), from, msg)
        });
        if let Err(reason) = handled {
            report_failure(&endpoint, reason.clone())?;
            return Err(PeerError::Failed(reason));
        }
    }
}

/// The upload thread: answers segment requests until TERMINATE, or until
/// the tracker aborts the job (then it also tells the download thread).
fn upload_thread<F: Fabric>(
    fabric: &F,
    holdings: &Arc<Holdings>,
    fault: Option<FaultPlan>,
    stop: &AtomicBool,
    clock: Instant,
) -> Result<Uploaded, PeerError> {
    let endpoint = Counting::new(fabric.endpoint());
    let fault = FaultPlan::for_rank(fault, endpoint.rank());
    let mut uploader = Uploader::new(endpoint.rank(), Arc::clone(holdings));
    let result = loop {
        let Some(envelope) = endpoint.recv(&[Channel::Upload, Channel::Control], POLL_INTERVAL)?
        else {
            continue;
        };
        if envelope.channel == Channel::Upload && inject(fault, &endpoint, &envelope)? {
            continue;
        }
        let handled = feed(endpoint.rank(), &envelope, |from, msg| {
            uploader.handle_message(clock.elapsed(), from, msg)
        });
        // On a bad message, tell the tracker and keep going: its abort is
        // what ends this thread, like every other rank's.
        if let Err(reason) = handled {
            report_failure(&endpoint, reason)?;
        }
        while let Some(transmit) = uploader.poll_transmit() {
            endpoint.transmit(&transmit)?;
        }
        match uploader.poll_event() {
            Some(UploadEvent::Terminated) => {
                break Ok(Uploaded {
                    stats: uploader.stats().clone(),
                    sent: endpoint.sent(),
                })
            }
            Some(UploadEvent::Aborted { reason }) => break Err(PeerError::Aborted(reason)),
            None => {}
        }
    };
    stop.store(true, Ordering::Release);
    result
}

/// Decodes a received message and feeds it to a state machine; a problem
/// comes back as the one line the user will read, naming this rank.
fn feed(
    rank: Rank,
    envelope: &Envelope,
    handle: impl FnOnce(Rank, Message) -> Result<(), ProtocolError>,
) -> Result<(), String> {
    let msg = envelope.decode().map_err(|e| format!("rank {rank}: {e}"))?;
    handle(envelope.from, msg).map_err(|e| e.to_string())
}

/// Applies an injected fault to a received upload request; true if the
/// request was consumed by the fault.
fn inject<E: Endpoint>(
    fault: Option<Fault>,
    endpoint: &E,
    envelope: &Envelope,
) -> Result<bool, TransportError> {
    match fault {
        None => Ok(false),
        Some(Fault::SilentUpload) => Ok(!is_terminate(envelope)),
        Some(Fault::GarbageUpload) if !is_terminate(envelope) => {
            endpoint.send(envelope.from, Channel::Download, vec![0xff, 0x13, 0x37])?;
            Ok(true)
        }
        Some(Fault::GarbageUpload) => Ok(false),
        Some(Fault::CrashOnUpload) => std::process::abort(),
    }
}

fn is_terminate(envelope: &Envelope) -> bool {
    envelope.from.is_tracker()
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
