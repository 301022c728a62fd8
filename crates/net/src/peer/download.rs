//! The download thread: runs the [`Downloader`], hands verified segment
//! bytes to the [`Content`] to store, and finishes each completed file.

use super::{feed, report_failure, PeerError, PeerOptions, POLL_INTERVAL};
use crate::content::Content;
use crate::{Counting, Endpoint, Fabric, TransportError};
use mpitorrent_core::downloader::{DownloadEvent, DownloadStats, Downloader, DownloaderConfig};
use mpitorrent_core::holdings::Holdings;
use mpitorrent_core::stats::MessageCounts;
use mpitorrent_core::Channel;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a finished download thread, told to stop, still waits for the
/// tracker's answers it is owed: they were sent before TERMINATE, so they
/// arrive within moments; only after an abort may they never come.
const OWED_REPLIES_GRACE: Duration = Duration::from_secs(3);

/// What the download thread hands back when it is done.
pub(super) struct Downloaded {
    pub files_written: usize,
    pub bytes_stored: u64,
    pub stats: DownloadStats,
    pub sent: MessageCounts,
}

pub(super) fn download_thread<F: Fabric>(
    fabric: &F,
    holdings: &Arc<Holdings>,
    wanted: Vec<String>,
    content: &dyn Content,
    options: &PeerOptions,
    stop: &AtomicBool,
    clock: Instant,
) -> Result<Downloaded, PeerError> {
    let endpoint = Counting::new(fabric.endpoint());
    let rank = endpoint.rank();
    let _span = tracing::info_span!("download", rank = rank.0).entered();
    let config = DownloaderConfig {
        rank,
        wanted,
        update_every: options.update_every,
        window: options.window,
        strategy: options.strategy,
        seed: options.seed,
        verify: content.carries_bytes(),
    };
    let mut downloader = Downloader::new(config, Arc::clone(holdings));
    downloader.start(clock.elapsed());
    let mut files_written = 0;
    let mut bytes_stored = 0;
    let mut finished = false;
    let mut stopped_at = None;
    loop {
        // Store segments and finish files before sending what the
        // downloader queued with them, so the tracker never counts a peer as
        // done (or as a seed) whose file could not be written.
        while let Some(event) = downloader.poll_event() {
            let done = match event {
                DownloadEvent::Received {
                    file,
                    index,
                    payload,
                } => content
                    .store(&file, index, &payload)
                    .map_err(|e| format!("rank {rank}: {e}"))
                    .and_then(|()| {
                        bytes_stored += payload.len() as u64;
                        downloader
                            .segment_stored(clock.elapsed(), file.id, index)
                            .map_err(|e| e.to_string())
                    }),
                DownloadEvent::FileCompleted { file } => {
                    tracing::info!("completed '{}'", file.name);
                    files_written += 1;
                    content.complete(rank, &file)
                }
                DownloadEvent::Finished => {
                    tracing::info!("has all its files");
                    finished = true;
                    Ok(())
                }
            };
            if let Err(reason) = done {
                return Err(fail(&endpoint, content, reason, stop)?);
            }
        }
        while let Some(transmit) = downloader.poll_transmit() {
            if transmit.to.is_tracker() {
                tracing::debug!("to the tracker: {}", transmit.msg.kind().name());
            }
            endpoint.transmit(&transmit)?;
        }
        // Done once every file is and every answer the tracker owes this
        // thread has been taken (MPI: nothing left unreceived at
        // MPI_Finalize).
        if finished && downloader.replies_owed() == 0 {
            return Ok(Downloaded {
                files_written,
                bytes_stored,
                stats: downloader.stats().clone(),
                sent: endpoint.sent(),
            });
        }
        if stop.load(Ordering::Acquire) {
            if !finished {
                return Err(PeerError::Aborted("stopped by the tracker".into()));
            }
            // TERMINATE reached the upload thread before the answers owed
            // to this one, which the tracker sent before it: they are on
            // their way. (After an abort they may never come; this rank's
            // outcome is then the upload thread's, and waiting is bounded.)
            let since = *stopped_at.get_or_insert_with(Instant::now);
            if since.elapsed() > OWED_REPLIES_GRACE {
                tracing::warn!(
                    "{} answer(s) of the tracker never came",
                    downloader.replies_owed()
                );
                return Err(PeerError::Aborted("stopped by the tracker".into()));
            }
        }
        let Some(envelope) = endpoint.recv(&[Channel::Download], POLL_INTERVAL)? else {
            continue;
        };
        let handled = feed(rank, envelope, |from, msg| {
            downloader.handle_message(clock.elapsed(), from, msg)
        });
        if let Err(reason) = handled {
            return Err(fail(&endpoint, content, reason, stop)?);
        }
    }
}

/// This thread failed for `reason`: removes what was half written, asks the
/// tracker to abort the job, and keeps receiving (and dropping) whatever
/// still arrives for this thread until the abort reaches this rank (the
/// upload thread sets `stop`). Owners may be sending it segments right now,
/// and under MPI a large send waits for its receiver: if this thread just
/// left, an owner could wait forever and never see the abort.
fn fail<E: Endpoint>(
    endpoint: &E,
    content: &dyn Content,
    reason: String,
    stop: &AtomicBool,
) -> Result<PeerError, TransportError> {
    content.abandon();
    report_failure(endpoint, reason.clone())?;
    while !stop.load(Ordering::Acquire) {
        endpoint.recv(&[Channel::Download], POLL_INTERVAL)?;
    }
    Ok(PeerError::Failed(reason))
}
