//! How a download side chooses whom to ask for a segment and in which
//! order it fetches segments, and how the tracker answers it with hints.
//!
//! - `round-robin` (the classic protocol): segments in file order, owners
//!   in turn, so no owner is asked twice before every other was asked once.
//! - `least-loaded`: segments in file order; the owner is the less loaded
//!   of two picked at random.
//! - `rarest-first` (as BitTorrent): the tracker names the segments that
//!   fewest ranks hold and a holder of each; the peer fetches those first,
//!   then the rest from a random starting point, owners in turn.
//! - `paced`: rarest-first in which the tracker also paces the holders, so
//!   that no rank, the seed least of all, is asked for more than it can
//!   send.
//! - `relay`: paced in which a rank may be named as the source of a segment
//!   it is still receiving, and passes it on as it arrives; hints come in
//!   large batches and the requests to one holder travel together
//!   (SEGMENT_BATCH), so the tracker sees few messages per segment.
//! - `tree`: the tracker plans once who passes each segment to whom
//!   (interleaved trees, one per stripe of the file), and is told only
//!   the peers' progress, once per window of segments.
//!
//! A strategy is a type with up to two sides: a `DownloadPolicy`, which
//! the [`crate::downloader::Downloader`] consults at each of its choices,
//! and a `HintPolicy`, with which the tracker chooses the hints it
//! answers a request with. A request names the hint policy it wants on the
//! wire ([`HintRequest`]), so the tracker serves each requester by its own
//! strategy. Each strategy is one module; [`Strategy`] is the list of
//! their names, and the one place that maps a name to its type.

mod least_loaded;
mod paced;
mod rarest_first;
mod relay;
mod round_robin;
mod tree;

pub(crate) use paced::Pacing;
pub(crate) use tree::TreePlan;

use crate::downloader::OwnerList;
use crate::tracker::FileSwarm;
use crate::{Hint, Owner, Rank, SegmentIdx};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

/// `relay`'s request window unless one is given.
pub const RELAY_WINDOW: u32 = 32;
/// `tree`'s request window unless one is given: a quarter of it per
/// parent, asked half a window at a time.
pub const TREE_WINDOW: u32 = 64;

/// A download strategy, by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    #[default]
    RoundRobin,
    LeastLoaded,
    RarestFirst,
    Paced,
    Relay,
    Tree,
}

impl Strategy {
    pub const ALL: [Strategy; 6] = [
        Strategy::RoundRobin,
        Strategy::LeastLoaded,
        Strategy::RarestFirst,
        Strategy::Paced,
        Strategy::Relay,
        Strategy::Tree,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round-robin",
            Strategy::LeastLoaded => "least-loaded",
            Strategy::RarestFirst => "rarest-first",
            Strategy::Paced => "paced",
            Strategy::Relay => "relay",
            Strategy::Tree => "tree",
        }
    }

    /// The request window used with this strategy unless one is given.
    /// `relay` batches the requests of one choice to one holder, and asks
    /// the tracker for hints once half its window is free: a larger window
    /// is fewer, larger batches and fewer tracker messages per segment
    /// (see the README's simulator and benchmark tables). The others were
    /// measured fastest with 8 in the one-host benchmark.
    pub fn default_window(self) -> u32 {
        match self {
            Strategy::Relay => RELAY_WINDOW,
            Strategy::Tree => TREE_WINDOW,
            _ => 8,
        }
    }

    /// A fresh download side of this strategy, for one downloader.
    pub(crate) fn download_policy(self) -> Box<dyn DownloadPolicy> {
        match self {
            Strategy::RoundRobin => Box::new(round_robin::RoundRobin),
            Strategy::LeastLoaded => Box::<least_loaded::LeastLoaded>::default(),
            Strategy::RarestFirst => Box::new(rarest_first::RarestFirst),
            Strategy::Paced => Box::new(paced::Paced::new(HintKind::Paced)),
            Strategy::Relay => Box::new(paced::Paced::new(HintKind::Relay)),
            Strategy::Tree => Box::new(tree::Tree),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Strategy::ALL
            .into_iter()
            .find(|strategy| strategy.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
                let (last, others) = names.split_last().expect("a strategy");
                format!("unknown strategy '{s}' ({} or {last})", others.join(", "))
            })
    }
}

/// Which tracker-side `HintPolicy` a request asks to be answered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HintKind {
    /// The rarest segments the requester lacks, each with a lightly loaded
    /// holder; the requester may leave some unused.
    Rarest,
    /// Hints the requester uses, every one, so each is an upload its holder
    /// owes until it is reported; only holders with room are named.
    Paced,
    /// Paced hints that may name a holder still receiving the segment.
    Relay,
    /// The file's tree plan: a source for every segment, at the first
    /// request.
    Tree,
}

impl HintKind {
    /// The tracker's side of this kind of hints.
    pub(crate) fn policy(self) -> &'static dyn HintPolicy {
        match self {
            HintKind::Rarest => &rarest_first::RarestHints,
            HintKind::Paced => &paced::PacedHints { relay: false },
            HintKind::Relay => &relay::RELAY_HINTS,
            HintKind::Tree => &tree::TreeHints,
        }
    }
}

/// The hints a SWARM_REQUEST or PEER_UPDATE asks for: how many, chosen how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HintRequest {
    pub kind: HintKind,
    pub count: u32,
}

impl HintRequest {
    /// No hints (a count of 0 draws nothing from the tracker's choices).
    pub const NONE: HintRequest = HintRequest {
        kind: HintKind::Rarest,
        count: 0,
    };
}

/// What the download side's choices can see of its download.
pub(crate) struct Window {
    /// Send PEER_UPDATE after this many segments (the configured interval).
    pub update_every: u32,
    /// How many requests may be outstanding at once, as configured (the
    /// downloader takes 0 for 1).
    pub size: u32,
    /// Slots of the window taken by no request in flight, segment being
    /// stored or hint waiting to be used.
    pub free: u32,
}

/// A strategy's download side: the downloader asks it at each choice, and
/// does what it says. Every method has the classic protocol's answer as
/// its default.
pub(crate) trait DownloadPolicy: fmt::Debug + Send {
    /// The hints a SWARM_REQUEST, or a PEER_UPDATE, asks for.
    fn hint_request(&self, _window: &Window) -> HintRequest {
        HintRequest::NONE
    }

    /// A new file of `segments` segments starts: where its scan starts.
    fn start_file(&mut self, _segments: SegmentIdx, _rng: &mut ChaCha8Rng) -> SegmentIdx {
        0
    }

    /// Whether segments nobody hinted are fetched too, in scan order.
    fn scans(&self) -> bool {
        true
    }

    /// The position in `owners` (not empty) of the owner to ask for a new
    /// segment nobody hinted. `cursor` is the file's round-robin position.
    fn pick_owner(&mut self, owners: &[Owner], cursor: &mut usize, _rng: &mut ChaCha8Rng) -> usize {
        round_robin::next(owners, cursor)
    }

    /// A segment request went to `owner`.
    fn requested(&mut self, _owner: Rank) {}

    /// Whether the requests of one choice that go to one owner travel
    /// together, as one SEGMENT_BATCH (which a relay answers as the
    /// segments arrive), rather than one SEGMENT_REQUEST each.
    fn batches(&self) -> bool {
        false
    }

    /// Requests are sent once at least this many slots of the window (of
    /// `window` slots) are free, or nothing is in flight.
    fn refill_at(&self, _window: usize) -> usize {
        1
    }

    /// Whether the wanted files are downloaded in name order (the same on
    /// every peer) rather than in the order given.
    fn in_name_order(&self) -> bool {
        false
    }

    /// Whether a PEER_UPDATE is due after a segment arrived, `since`
    /// segments after the last one.
    fn update_after_segment(&self, since: usize, window: &Window) -> bool {
        since as u64 >= u64::from(window.update_every)
    }

    /// Whether to send a PEER_UPDATE asking for work now, between the
    /// periodic ones (asked after a swarm reply, a refresh or a segment,
    /// while the file is not complete).
    fn ask_for_work(&mut self, _window: &Window) -> bool {
        false
    }

    /// A SWARM_REFRESH brought `owners` and `hints`: takes them into the
    /// download's view of its swarm.
    fn refreshed(&mut self, owners: Vec<Owner>, hints: Vec<Hint>, view: SwarmView<'_>) {
        view.replace(owners, hints);
    }
}

/// What a download knows of its file's swarm, which a refresh updates.
pub(crate) struct SwarmView<'a> {
    /// This peer's rank (left out of the owner list).
    pub me: Rank,
    /// The owners it may ask.
    pub owners: &'a mut OwnerList,
    /// The tracker's hints not yet used.
    pub hints: &'a mut VecDeque<Hint>,
}

impl SwarmView<'_> {
    /// The classic way to take a refresh: its owners and hints replace the
    /// ones held.
    pub fn replace(self, owners: Vec<Owner>, hints: Vec<Hint>) {
        *self.owners = OwnerList::new(owners, self.me);
        *self.hints = hints.into();
    }
}

/// A request for hints, as the tracker's `HintPolicy` sees it.
#[derive(Clone, Copy)]
pub(crate) struct Ask<'a> {
    pub requester: Rank,
    /// The most hints wanted.
    pub count: usize,
    /// Each rank's uploads so far, by rank.
    pub load: &'a [u32],
    /// The other ranks on the requester's node (none when the nodes are
    /// not known): a segment from one of them crosses no network link.
    pub mates: &'a [Rank],
}

/// A strategy's tracker side: the hints that answer a request.
pub(crate) trait HintPolicy: Sync {
    /// Up to `ask.count` hints of `swarm` for `ask.requester`.
    fn hints(&self, swarm: &mut FileSwarm, ask: Ask<'_>, rng: &mut ChaCha8Rng) -> Vec<Hint>;

    /// Whether a SWARM_REFRESH names owners as well as hints.
    fn refresh_names_owners(&self) -> bool {
        true
    }

    /// Whether a request that gets no hint waits at the tracker until it
    /// can get one, rather than being answered with nothing.
    fn waits(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for strategy in Strategy::ALL {
            assert_eq!(strategy.name().parse::<Strategy>(), Ok(strategy));
        }
        let error = "fastest".parse::<Strategy>().unwrap_err();
        assert_eq!(
            error,
            "unknown strategy 'fastest' (round-robin, least-loaded, rarest-first, paced, relay or tree)"
        );
    }
}
