//! The download thread: runs the peer's [`DownloadSide`], hands verified
//! segment bytes to the [`Content`] to store, wakes the upload thread
//! whenever it holds a new segment (which that thread may relay), and
//! finishes each completed file.

use super::{feed, PeerError, POLL_INTERVAL};
use crate::content::Content;
use crate::endpoint::Wake;
use crate::{Endpoint, Fabric, TransportError};
use mpitorrent_core::downloader::DownloadEvent;
use mpitorrent_core::peer::DownloadSide;
use mpitorrent_core::Channel;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a finished download thread, told to stop, still waits for the
/// tracker's answers it is owed: they were sent before TERMINATE, so they
/// arrive within moments; only after an abort may they never come.
const OWED_REPLIES_GRACE: Duration = Duration::from_secs(3);

/// What the download thread hands back when it is done.
pub(super) struct Downloaded {
    pub side: DownloadSide,
    pub files_written: usize,
}

pub(super) fn download_thread<F: Fabric>(
    fabric: &F,
    mut side: DownloadSide,
    content: &dyn Content,
    stop: &AtomicBool,
    arrived: &Wake,
    clock: Instant,
) -> Result<Downloaded, PeerError> {
    let endpoint = fabric.endpoint();
    let rank = endpoint.rank();
    let _span = tracing::info_span!("download", rank = rank.0).entered();
    side.start(clock.elapsed());
    let mut files_written = 0;
    let mut stopped_at = None;
    let mut held = 0;
    loop {
        // Store segments and finish files before sending what the
        // downloader queued with them, so the tracker never counts a peer as
        // done (or as a seed) whose file could not be written.
        while let Some(event) = side.poll_event() {
            let done = match event {
                DownloadEvent::Received {
                    file,
                    index,
                    payload,
                } => content
                    .store(&file, index, &payload)
                    .map_err(|e| format!("rank {rank}: {e}"))
                    .and_then(|()| {
                        side.segment_stored(clock.elapsed(), file.id, index, payload.len())
                            .map_err(|e| e.to_string())
                    }),
                DownloadEvent::FileCompleted { file } => {
                    tracing::info!("completed '{}'", file.name);
                    files_written += 1;
                    content.complete(rank, &file)
                }
                DownloadEvent::Finished => {
                    tracing::info!("has all its files");
                    Ok(())
                }
            };
            if let Err(reason) = done {
                return Err(fail(&endpoint, side, content, reason, stop)?);
            }
        }
        // A segment newly held (stored, or, when segments carry no bytes,
        // taken as held on its ACK) may be one the upload thread was asked
        // for and waits for.
        let now_held = side.stats().received.total();
        if now_held > held {
            held = now_held;
            arrived.wake();
        }
        while let Some(transmit) = side.poll_transmit() {
            if transmit.to.is_tracker() {
                tracing::debug!("to the tracker: {}", transmit.msg.kind().name());
            }
            endpoint.transmit(&transmit)?;
        }
        // Done once every file is and every answer the tracker owes this
        // thread has been taken (MPI: nothing left unreceived at
        // MPI_Finalize).
        let finished = side.is_finished();
        if finished && side.replies_owed() == 0 {
            return Ok(Downloaded {
                side,
                files_written,
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
                    side.replies_owed()
                );
                return Err(PeerError::Aborted("stopped by the tracker".into()));
            }
        }
        let Some(envelope) = endpoint.recv(&[Channel::Download], POLL_INTERVAL)? else {
            continue;
        };
        let handled = feed(rank, envelope, |from, msg| {
            side.handle_message(clock.elapsed(), from, msg)
        });
        if let Err(reason) = handled {
            return Err(fail(&endpoint, side, content, reason, stop)?);
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
    mut side: DownloadSide,
    content: &dyn Content,
    reason: String,
    stop: &AtomicBool,
) -> Result<PeerError, TransportError> {
    content.abandon();
    side.report_failure(reason.clone());
    while let Some(transmit) = side.poll_transmit() {
        endpoint.transmit(&transmit)?;
    }
    while !stop.load(Ordering::Acquire) {
        endpoint.recv(&[Channel::Download], POLL_INTERVAL)?;
    }
    Ok(PeerError::Failed(reason))
}
