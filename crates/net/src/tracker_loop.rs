//! Rank 0's driver: receive on the tracker channel, feed the [`Tracker`],
//! send what it asks, until it terminates or aborts the job.
//!
//! While it runs, the loop hands the tracker to an observer now and then
//! (to read its [`Tracker::progress`] and [`Tracker::missing`]), so the
//! binary can draw a progress display; this crate draws nothing itself.

use crate::{Endpoint, TransportError};
use mpitorrent_core::tracker::{RunData, Tracker, TrackerConfig, TrackerEvent};
use mpitorrent_core::{Channel, Message};
use std::time::{Duration, Instant};
use tracing::{debug, info};

/// How a job ended, from the tracker's side, when it did not end well.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The job was aborted; every peer was told. The reason is for the user.
    #[error("{0}")]
    Aborted(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// The longest the loop sleeps in one receive, so timeouts fire promptly.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How often the observer hears of progress: often enough for a smooth
/// display, rarely enough that [`Tracker::progress`] (a walk over every
/// peer's files) costs the loop nothing.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Runs the tracker until every peer is terminated and reported its
/// statistics (the run's data comes back), or the job aborts.
///
/// `refuse` is a reason this rank found before the job started why it
/// cannot work (a `--report` path that cannot be written): the job is
/// aborted with it at once, before any peer is answered.
///
/// `observe` sees the tracker at most every [`PROGRESS_INTERVAL`]
/// (and at least that often, messages or not), once when every peer is
/// registered (so before any download is reported), and once more,
/// complete, when every peer has all its files.
pub fn run_tracker<E: Endpoint>(
    endpoint: &E,
    config: TrackerConfig,
    refuse: Option<String>,
    observe: &mut dyn FnMut(&Tracker),
) -> Result<RunData, TrackerError> {
    let _span = tracing::info_span!("tracker", rank = endpoint.rank().0).entered();
    let start = Instant::now();
    let mut tracker = Tracker::new(config, Duration::ZERO);
    if let Some(reason) = refuse {
        tracker.abort(reason.clone());
        while let Some(transmit) = tracker.poll_transmit() {
            endpoint.transmit(&transmit)?;
        }
        return Err(TrackerError::Aborted(reason));
    }
    let mut next_observation = start;
    loop {
        let now = start.elapsed();
        let wait = tracker.poll_timeout().map_or(POLL_INTERVAL, |at| {
            at.saturating_sub(now).min(POLL_INTERVAL)
        });
        match endpoint.recv(&[Channel::Tracker], wait)? {
            Some(envelope) => match (envelope.from, envelope.decode()) {
                (from, Ok(msg)) => {
                    debug!("received {} from rank {from}", msg.kind().name());
                    if matches!(msg, Message::AllFilesCompleted) {
                        info!("rank {from} has all its files");
                    }
                    tracker.handle_message(start.elapsed(), from, msg)
                }
                (_, Err(err)) => tracker.abort(format!("protocol error: {err}")),
            },
            None => tracker.handle_timeout(start.elapsed()),
        }
        while let Some(transmit) = tracker.poll_transmit() {
            endpoint.transmit(&transmit)?;
        }
        if Instant::now() >= next_observation {
            observe(&tracker);
            next_observation = Instant::now() + PROGRESS_INTERVAL;
        }
        while let Some(event) = tracker.poll_event() {
            match event {
                TrackerEvent::AllRegistered => {
                    // Before any download is reported: what each peer
                    // must download in all.
                    observe(&tracker);
                    let progress = tracker.progress();
                    info!(
                        "every peer registered: {} peers, {} segments to download",
                        progress.peers, progress.segments_total
                    );
                }
                TrackerEvent::Terminated => {
                    observe(&tracker);
                    info!("every peer terminated and sent its statistics");
                    return Ok(tracker
                        .take_run_data()
                        .expect("terminated with every report"));
                }
                TrackerEvent::Aborted { reason } => {
                    info!("the job was aborted: {reason}");
                    return Err(TrackerError::Aborted(reason));
                }
            }
        }
    }
}
