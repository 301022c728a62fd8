//! Rank 0's driver: receive on the tracker channel, feed the [`Tracker`],
//! send what it asks, until it terminates or aborts the job.

use crate::{Endpoint, TransportError};
use mpitorrent_core::tracker::{RunData, Tracker, TrackerConfig, TrackerEvent};
use mpitorrent_core::Channel;
use std::time::{Duration, Instant};

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

/// Runs the tracker until every peer is terminated and reported its
/// statistics (the run's data comes back), or the job aborts.
pub fn run_tracker<E: Endpoint>(
    endpoint: &E,
    config: TrackerConfig,
) -> Result<RunData, TrackerError> {
    let start = Instant::now();
    let mut tracker = Tracker::new(config, Duration::ZERO);
    loop {
        let now = start.elapsed();
        let wait = tracker.poll_timeout().map_or(POLL_INTERVAL, |at| {
            at.saturating_sub(now).min(POLL_INTERVAL)
        });
        match endpoint.recv(&[Channel::Tracker], wait)? {
            Some(envelope) => match envelope.decode() {
                Ok(msg) => tracker.handle_message(start.elapsed(), envelope.from, msg),
                Err(err) => tracker.abort(format!("protocol error: {err}")),
            },
            None => tracker.handle_timeout(start.elapsed()),
        }
        while let Some(transmit) = tracker.poll_transmit() {
            endpoint.transmit(&transmit)?;
        }
        while let Some(event) = tracker.poll_event() {
            match event {
                TrackerEvent::AllRegistered => {}
                TrackerEvent::Terminated => {
                    return Ok(tracker
                        .take_run_data()
                        .expect("terminated with every report"))
                }
                TrackerEvent::Aborted { reason } => return Err(TrackerError::Aborted(reason)),
            }
        }
    }
}
