//! `tree`: the tracker plans, once, who passes each segment to whom, and
//! is told nothing more until a file is complete.
//!
//! The swarm reply of a file names, for every segment the peer lacks, the
//! rank to fetch it from: its parent in the segment's stripe ([`plan`]).
//! The peer asks its parents for segments they may still be receiving
//! (SEGMENT_BATCH; a parent answers each as it arrives), half a window at
//! a time so that the requests to one parent travel together, and sends
//! the tracker no PEER_UPDATE at all: per file, only the swarm request and
//! the completion. A NACK (a parent that left the swarm) sends the
//! segment to the swarm reply's owners in turn.
//!
//! Files are downloaded in name order, the same order on every peer: a
//! parent that is still busy with another file gets to this one after
//! files that no rank waiting for it can be waiting for in turn.

mod plan;

use super::{DownloadPolicy, HintKind, HintRequest, Window};
pub(super) use plan::TreeHints;
pub(crate) use plan::TreePlan;

/// The tree strategy's download side.
#[derive(Debug, Default)]
pub(super) struct Tree;

impl DownloadPolicy for Tree {
    fn hint_request(&self, window: &Window) -> HintRequest {
        HintRequest {
            kind: HintKind::Tree,
            count: window.size.max(1),
        }
    }

    fn batches(&self) -> bool {
        true
    }

    fn refill_at(&self, window: usize) -> usize {
        (window / 2).max(1)
    }

    fn in_name_order(&self) -> bool {
        true
    }

    /// The plan is fixed: nothing to report before the file is complete.
    fn update_after_segment(&self, _since: usize, _window: &Window) -> bool {
        false
    }
}
