//! The upload thread: runs the peer's [`Uploader`] and serves the segments
//! it says to (with their bytes, read through the [`Content`] straight into
//! the message, when segments carry bytes) until TERMINATE, or until the
//! tracker aborts the job (then it also tells the download thread to stop).
//! A segment requested before this rank has it waits in the [`Uploader`]
//! and is served once the download thread holds it and has woken this one
//! (see the [parent module](super)). The ACKs of one pass go out
//! together where they are small (an [`Outbox`]). Injected faults strike
//! here.

use super::{feed, PeerError, POLL_INTERVAL};
use crate::content::Content;
use crate::endpoint::Wake;
use crate::fault::{Fault, FaultPlan};
use crate::outbox::Outbox;
use crate::{Endpoint, Envelope, Fabric, TransportError};
use mpitorrent_core::uploader::{Serve, UploadEvent, Uploader};
use mpitorrent_core::{Channel, TRACKER};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Runs the upload side; hands it back after TERMINATE.
pub(super) fn upload_thread<F: Fabric>(
    fabric: &F,
    mut uploader: Uploader,
    content: &dyn Content,
    fault: Option<FaultPlan>,
    stop: &AtomicBool,
    arrived: &Wake,
    clock: Instant,
) -> Result<Uploader, PeerError> {
    let endpoint = fabric.endpoint();
    let rank = endpoint.rank();
    let _span = tracing::info_span!("upload", rank = rank.0).entered();
    let fault = FaultPlan::for_rank(fault, rank);
    let mut outbox = Outbox::default();
    loop {
        let mut ended = None;
        // Segments it relays are served as the download thread gets them:
        // while some wait, each new one ends the wait. (One that came since
        // the last look ends it at once: none is missed in between.)
        let wake = uploader.is_waiting().then_some(arrived);
        let channels = [Channel::Upload, Channel::Control];
        let received = endpoint.recv_until_woken(&channels, POLL_INTERVAL, wake)?;
        uploader.serve_arrived();
        if let Some(envelope) = received {
            if envelope.channel == Channel::Upload && inject(fault, &endpoint, &envelope)? {
                continue;
            }
            let handled = feed(rank, envelope, |from, msg| {
                uploader.handle_message(clock.elapsed(), from, msg)
            });
            // On a bad message, tell the tracker and keep going: its abort
            // is what ends this thread, like every other rank's.
            if let Err(reason) = handled {
                uploader.report_failure(reason);
            }
        }
        while let Some(event) = uploader.poll_event() {
            match event {
                UploadEvent::Serve(serve) => match encode(&serve, content, fault) {
                    // Where every ACK goes.
                    Ok(bytes) => outbox.send(&endpoint, serve.to, Channel::Download, bytes)?,
                    Err(reason) => uploader.report_failure(format!("rank {rank}: {reason}")),
                },
                UploadEvent::Terminated => {
                    let segments = uploader.stats().sent.total();
                    tracing::info!("TERMINATE after uploading {segments} segments");
                    if fault == Some(Fault::StrayAtEnd) {
                        endpoint.send(TRACKER, Channel::Download, vec![0xff, 0x13, 0x37])?;
                    }
                    ended = Some(Ok(()));
                }
                UploadEvent::Aborted { reason } => ended = Some(Err(PeerError::Aborted(reason))),
            }
        }
        outbox.flush(&endpoint)?;
        while let Some(transmit) = uploader.poll_transmit() {
            endpoint.transmit(&transmit)?;
        }
        if let Some(ended) = ended {
            stop.store(true, Ordering::Release);
            return ended.map(|()| uploader);
        }
    }
}

/// The ACK that serves `serve`: the [`Content`] reads the segment's bytes
/// straight into it (and they are spoilt if this rank is to corrupt its
/// uploads).
fn encode(serve: &Serve, content: &dyn Content, fault: Option<Fault>) -> Result<Vec<u8>, String> {
    let mut bytes = content.encode_ack(serve)?;
    if fault == Some(Fault::CorruptUpload) && content.carries_bytes() {
        // The payload ends the message (and a real segment is never empty).
        if let Some(last) = bytes.last_mut() {
            *last ^= 0xff;
        }
    }
    Ok(bytes)
}

/// Applies an injected fault to a received upload request; true if the
/// request was consumed by the fault.
fn inject<E: Endpoint>(
    fault: Option<Fault>,
    endpoint: &E,
    envelope: &Envelope,
) -> Result<bool, TransportError> {
    let from_tracker = envelope.from.is_tracker();
    match fault {
        Some(Fault::SilentUpload) => Ok(!from_tracker),
        Some(Fault::GarbageUpload) if !from_tracker => {
            endpoint.send(envelope.from, Channel::Download, vec![0xff, 0x13, 0x37])?;
            Ok(true)
        }
        Some(Fault::CrashOnUpload) => std::process::abort(),
        _ => Ok(false),
    }
}
