//! `tree`: the tracker plans, once, who passes each segment to whom, and
//! is told only the peers' progress from then on.
//!
//! The swarm reply of a file names, for every segment the peer lacks, the
//! rank to fetch it from: its parent in the segment's stripe ([`plan`]).
//! The peer asks its parents for segments they may still be receiving
//! (SEGMENT_BATCH; a parent answers each as it arrives), half a window at
//! a time so that the requests to one parent travel together. It tells
//! the tracker what arrived once per window of segments (a PEER_UPDATE
//! asking for nothing: the tracker's progress and report count it), and
//! needs nothing else from it. A NACK (a parent that left the swarm)
//! sends the segment to the swarm reply's owners in turn.
//!
//! Files are downloaded in name order, the same order on every peer: a
//! parent that is still busy with another file gets to this one after
//! files that no rank waiting for it can be waiting for in turn.

mod plan;

use super::{DownloadPolicy, HintKind, HintRequest, SwarmView, Window};
use crate::downloader::OwnerList;
use crate::{Hint, Owner};
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

    /// The plan is fixed: the updates only report progress, once per
    /// window of segments (0.016 messages per segment with the default
    /// window).
    fn update_after_segment(&self, since: usize, window: &Window) -> bool {
        since as u64 >= u64::from(window.size.max(window.update_every))
    }

    /// An update's answer brings no hints and names no owners: the plan's
    /// hints and the swarm reply's owners stay.
    fn refreshed(&mut self, owners: Vec<Owner>, hints: Vec<Hint>, view: SwarmView<'_>) {
        if !owners.is_empty() {
            *view.owners = OwnerList::new(owners, view.me);
        }
        view.hints.extend(hints);
    }
}
