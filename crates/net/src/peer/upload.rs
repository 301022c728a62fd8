//! The upload thread: answers segment requests (with the segment's bytes,
//! read through the [`Content`], when segments carry bytes) until
//! TERMINATE, or until the tracker aborts the job (then it also tells the
//! download thread to stop). Injected faults strike here.

use super::{feed, report_failure, PeerError, POLL_INTERVAL};
use crate::content::Content;
use crate::fault::{Fault, FaultPlan};
use crate::{Counting, Endpoint, Envelope, Fabric, TransportError};
use mpitorrent_core::holdings::Holdings;
use mpitorrent_core::stats::MessageCounts;
use mpitorrent_core::uploader::{UploadEvent, UploadStats, Uploader};
use mpitorrent_core::{wire, Channel, Message, Transmit};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What the upload thread hands back after TERMINATE.
pub(super) struct Uploaded {
    pub stats: UploadStats,
    pub sent: MessageCounts,
}

pub(super) fn upload_thread<F: Fabric>(
    fabric: &F,
    holdings: &Arc<Holdings>,
    content: &dyn Content,
    fault: Option<FaultPlan>,
    stop: &AtomicBool,
    clock: Instant,
) -> Result<Uploaded, PeerError> {
    let endpoint = Counting::new(fabric.endpoint());
    let rank = endpoint.rank();
    let _span = tracing::info_span!("upload", rank = rank.0).entered();
    let fault = FaultPlan::for_rank(fault, rank);
    let mut uploader = Uploader::new(rank, Arc::clone(holdings));
    let result = loop {
        let Some(envelope) = endpoint.recv(&[Channel::Upload, Channel::Control], POLL_INTERVAL)?
        else {
            continue;
        };
        if envelope.channel == Channel::Upload && inject(fault, &endpoint, &envelope)? {
            continue;
        }
        let handled = feed(rank, envelope, |from, msg| {
            uploader.handle_message(clock.elapsed(), from, msg)
        });
        // On a bad message, tell the tracker and keep going: its abort is
        // what ends this thread, like every other rank's.
        if let Err(reason) = handled {
            report_failure(&endpoint, reason)?;
        }
        while let Some(transmit) = uploader.poll_transmit() {
            match encode(&transmit, holdings, content, fault) {
                Ok(bytes) => endpoint.transmit_encoded(&transmit, bytes)?,
                Err(reason) => report_failure(&endpoint, format!("rank {rank}: {reason}"))?,
            }
        }
        match uploader.poll_event() {
            Some(UploadEvent::Terminated) => {
                let segments = uploader.stats().sent.total();
                tracing::info!("TERMINATE after uploading {segments} segments");
                break Ok(Uploaded {
                    stats: uploader.stats().clone(),
                    sent: endpoint.sent(),
                });
            }
            Some(UploadEvent::Aborted { reason }) => break Err(PeerError::Aborted(reason)),
            None => {}
        }
    };
    stop.store(true, Ordering::Release);
    result
}

/// Encodes what the uploader sends: an ACK through the [`Content`], which
/// reads the segment's bytes straight into it (and spoils them if this rank
/// is to corrupt its uploads), anything else as it is.
fn encode(
    transmit: &Transmit,
    holdings: &Holdings,
    content: &dyn Content,
    fault: Option<Fault>,
) -> Result<Vec<u8>, String> {
    let Message::SegmentAck { file, index, .. } = transmit.msg else {
        return Ok(wire::encode(&transmit.msg));
    };
    let held = holdings
        .get(file)
        .ok_or_else(|| format!("asked for {file}, which it acknowledged but does not know"))?;
    let mut bytes = content.encode_ack(&held, index)?;
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
