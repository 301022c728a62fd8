//! The hash thread of a seeder that registered files with hashes to come
//! (`share` starting at once): the [`Content`] hashes them on every core,
//! and each batch goes to the tracker as HASHES through the peer's
//! [`HashPublisher`] the moment it is ready. A thread of its own, with its
//! own endpoint: the download thread sleeps in its receives, and must not
//! make the swarm wait for hashes.

use super::PeerError;
use crate::content::Content;
use crate::fault::{Fault, FaultPlan};
use crate::{Endpoint, Fabric};
use mpitorrent_core::peer::HashPublisher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long each batch waits under the `slow-hashing` fault: long enough
/// that a test sees segments move between batches.
const SLOW_HASHING: Duration = Duration::from_millis(150);

/// Hashes and publishes until every late file is done, or the job ends
/// (`stop`: TERMINATE or an abort, which the upload thread saw; hashes
/// nobody waits for any more are not sent). A failure is sent to the
/// tracker as ABORT, whose abort then ends every rank.
pub(super) fn hash_thread<F: Fabric>(
    fabric: &F,
    mut publisher: HashPublisher,
    content: &dyn Content,
    fault: Option<FaultPlan>,
    stop: &AtomicBool,
    clock: Instant,
) -> Result<HashPublisher, PeerError> {
    let hashed = hash_and_publish(fabric, &mut publisher, content, fault, stop, clock);
    // What it read of its source, whatever became of the hashing.
    publisher.read_source(content.source_bytes_read());
    hashed.map(|()| publisher)
}

/// [`hash_thread`]'s work, on `publisher`.
fn hash_and_publish<F: Fabric>(
    fabric: &F,
    publisher: &mut HashPublisher,
    content: &dyn Content,
    fault: Option<FaultPlan>,
    stop: &AtomicBool,
    clock: Instant,
) -> Result<(), PeerError> {
    if !publisher.is_pending() {
        return Ok(());
    }
    let endpoint = fabric.endpoint();
    let rank = endpoint.rank();
    let _span = tracing::info_span!("hash", rank = rank.0).entered();
    let slow = FaultPlan::for_rank(fault, rank) == Some(Fault::SlowHashing);
    let mut sent = Ok(());
    let hashed = content.hash_late(&mut |name, first, hashes| {
        if stop.load(Ordering::Acquire) {
            return Err(String::new());
        }
        let transmit = publisher.publish(clock.elapsed(), name, first, hashes)?;
        if let Err(e) = endpoint.transmit(&transmit) {
            sent = Err(e);
            return Err(String::new());
        }
        if slow {
            std::thread::sleep(SLOW_HASHING);
        }
        Ok(())
    });
    sent?;
    match hashed {
        Ok(()) => {
            tracing::info!("sent the last hashes");
            Ok(())
        }
        // Stopped: the upload thread's outcome is the rank's.
        Err(_) if stop.load(Ordering::Acquire) => Ok(()),
        Err(reason) => {
            endpoint.transmit(&publisher.failure(reason.clone()))?;
            Err(PeerError::Failed(reason))
        }
    }
}
