//! The step of a `share` job before REGISTER, over the job's own
//! transport: every peer sends rank 0 its [`TreeOffer`] (or, if it could
//! not scan its folders, an ABORT with the reason), rank 0 makes the plan
//! ([`plan_tree`]: the tree with its modes, times, folders and links,
//! what each destination already has, and the pre-flight check of free
//! space) and answers every peer with its [`TreePlan`](mpitorrent_core::tree::TreePlan), or every peer
//! with one ABORT. So a job that cannot fit, or whose peer failed,
//! ends before a single segment moves or a file is written.
//!
//! Rank 0 takes one message from every peer and every peer one from rank
//! 0, whatever happens: nothing is left unreceived.

use super::content::ShareContent;
use super::early::EarlyScan;
use super::job::{prepare, scan_source, share_peer, ShareSpec};
use super::progress::ByteView;
use crate::{Endpoint, TransportError};
use mpitorrent_core::tree::{plan_tree, RerunCounts, TreeOffer};
use mpitorrent_core::{Channel, Message, Rank, Registration, Transmit, TRACKER};
use std::time::{Duration, Instant};
use tracing::debug;

/// How long one receive waits before waiting again.
const POLL: Duration = Duration::from_millis(100);

/// Why the step ended the job.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The job cannot start, for this reason (which rank 0 prints).
    #[error("{0}")]
    Aborted(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Rank 0's part: collects every peer's offer, answers with the plans,
/// and says what they save on a rerun and (for the progress in bytes)
/// the files' sizes and the ranks' nodes; or aborts every peer.
pub fn plan_job<E: Endpoint>(
    endpoint: &E,
    spec: &ShareSpec,
) -> Result<(RerunCounts, ByteView), PlanError> {
    let peers = endpoint.size().saturating_sub(1) as usize;
    let mut offers: Vec<(Rank, TreeOffer)> = Vec::new();
    let mut failure: Option<(Rank, String)> = None;
    let mut heard = 0;
    while heard < peers {
        let Some(envelope) = endpoint.recv(&[Channel::Tracker], POLL)? else {
            continue;
        };
        let from = envelope.from;
        heard += 1;
        let problem = match envelope.decode() {
            Ok(Message::TreeOffer(offer)) => {
                offers.push((from, *offer));
                continue;
            }
            Ok(Message::Abort { reason }) => reason,
            Ok(other) => format!(
                "protocol error: rank 0 expected TREE_OFFER from rank {from}, got {}",
                other.kind().name()
            ),
            Err(e) => format!("rank 0: {e}"),
        };
        // The lowest rank's reason, whatever the order of arrival.
        if failure.as_ref().is_none_or(|(rank, _)| from < *rank) {
            failure = Some((from, problem));
        }
    }
    offers.sort_by_key(|(rank, _)| *rank);
    let planning = Instant::now();
    let planned = match failure {
        Some((_, reason)) => Err(reason),
        None if !offers.iter().any(|(_, offer)| offer.offers_a_file()) => {
            Err(nothing_to_share(&spec.from))
        }
        None => plan_tree(&offers, spec.plan_options()),
    };
    match planned {
        Ok((plans, counts)) => {
            debug!("every offer heard; planned in {:?}", planning.elapsed());
            let mut bytes = ByteView::new(&offers, spec.segment_size);
            if let Some(plan) = plans.first() {
                bytes.add_packs(plan);
            }
            for ((rank, _), plan) in offers.iter().zip(plans) {
                let msg = Message::TreePlan(Box::new(plan));
                endpoint.transmit(&Transmit { to: *rank, msg })?;
            }
            Ok((counts, bytes))
        }
        Err(reason) => {
            for peer in 1..endpoint.size() {
                let msg = Message::Abort {
                    reason: reason.clone(),
                };
                endpoint.transmit(&Transmit {
                    to: Rank(peer),
                    msg,
                })?;
            }
            Err(PlanError::Aborted(reason))
        }
    }
}

/// A peer's part: scans (or takes the `early` scan, if it was started
/// for this rank), offers, waits for its plan, and sets itself up by it. `Err` ends the job here (rank 0 prints why); `Ok(Err(reason))`
/// is a failure after the plan, which the peer reports like any other
/// (the job's tracker aborts it).
#[allow(clippy::type_complexity)]
pub fn plan_peer<E: Endpoint>(
    endpoint: &E,
    spec: &ShareSpec,
    early: Option<EarlyScan>,
    warn: &mut dyn FnMut(String),
) -> Result<Result<(Registration, ShareContent), String>, PlanError> {
    let (rank, size) = (endpoint.rank(), endpoint.size());
    let scanning = Instant::now();
    let source = match early.and_then(|scan| scan.take(rank, size, warn)) {
        Some(source) => {
            debug!("took the scan of --from made while MPI started");
            source
        }
        None => scan_source(rank, size, spec, warn),
    };
    let prepared = source.and_then(|source| prepare(rank, spec, source));
    debug!("scanned its folders in {:?}", scanning.elapsed());
    let msg = match &prepared {
        Ok((_, offer)) => Message::TreeOffer(Box::new(offer.clone())),
        Err(reason) => Message::Abort {
            reason: reason.clone(),
        },
    };
    endpoint.transmit(&Transmit { to: TRACKER, msg })?;
    let plan = loop {
        let Some(envelope) = endpoint.recv(&[Channel::Control], POLL)? else {
            continue;
        };
        match envelope.decode() {
            Ok(Message::TreePlan(plan)) => break plan,
            Ok(Message::Abort { reason }) => return Err(PlanError::Aborted(reason)),
            // Rank 0 goes on to wait for the registrations: its tracker
            // must hear why this one will not come.
            Ok(other) => {
                let kind = other.kind().name();
                let reason = format!("protocol error: rank {rank} expected TREE_PLAN, got {kind}");
                return Err(tell_tracker(endpoint, reason)?);
            }
            Err(e) => return Err(tell_tracker(endpoint, format!("rank {rank}: {e}"))?),
        }
    };
    match prepared {
        Ok((prepared, _)) => {
            let setting_up = Instant::now();
            let set_up = share_peer(prepared, *plan);
            debug!("set up by its plan in {:?}", setting_up.elapsed());
            Ok(set_up)
        }
        // Rank 0 answers a failed peer with ABORT, never with a plan.
        Err(reason) => Err(PlanError::Aborted(reason)),
    }
}

/// The error of a `share` whose `--from` (template `from`) holds no file
/// on any peer rank.
fn nothing_to_share(from: &str) -> String {
    format!(
        "nothing to share: no rank has a file under --from {from} \
         (the folder is missing or empty on every peer rank)"
    )
}

/// Asks the tracker to abort the job for `reason`, which it prints.
fn tell_tracker<E: Endpoint>(endpoint: &E, reason: String) -> Result<PlanError, PlanError> {
    let msg = Message::Abort {
        reason: reason.clone(),
    };
    endpoint.transmit(&Transmit { to: TRACKER, msg })?;
    Ok(PlanError::Aborted(reason))
}
