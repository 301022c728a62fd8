//! Every message the protocol sends, and the channel each travels on.
//!
//! A rank runs up to four receivers at once (the tracker loop on rank 0; the
//! start-up/control path, the download thread and the upload thread on a
//! peer). Each message kind belongs to exactly one of them, so a transport
//! can keep their traffic apart (MPI tags, separate queues) and no thread
//! ever receives another thread's message.

use crate::payload::Payload;
use crate::stats::PeerStats;
use crate::strategy::HintRequest;
use crate::tree::{TreeOffer, TreePlan};
use crate::{FileId, Rank, SegmentIdx};
use serde::{Deserialize, Serialize};

/// Which receiver on the destination rank a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The tracker's loop on rank 0.
    Tracker,
    /// A peer's start-up path (registration ACK), then its upload thread
    /// (abort), so an abort reaches a peer in every phase.
    Control,
    /// A peer's download thread: swarm answers, segment ACK/NACK.
    Download,
    /// A peer's upload thread: segment requests and TERMINATE.
    Upload,
}

impl Channel {
    /// Every channel, in tag order.
    pub const ALL: [Channel; 4] = [
        Channel::Tracker,
        Channel::Control,
        Channel::Download,
        Channel::Upload,
    ];

    /// A small integer per channel (used as the MPI tag).
    pub fn tag(self) -> i32 {
        match self {
            Channel::Tracker => 1,
            Channel::Control => 2,
            Channel::Download => 3,
            Channel::Upload => 4,
        }
    }
}

/// One file a peer registers: its name and every segment hash in order.
///
/// A hash may be [`HASH_TO_COME`] (empty): a `share` seeder registers a
/// large file with its size alone (one empty hash per segment) and sends
/// the hashes in HASHES batches while it serves, so that nothing waits for
/// the whole source to be read first (see [`Message::Hashes`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileListing {
    pub name: String,
    pub hashes: Vec<String>,
}

/// The hash of a segment that is not known yet: its seeder publishes it
/// later (HASHES). No real hash is empty (a classic input's hashes are
/// tokens, a `share` hash is 64 hex digits), and an empty hash never
/// verifies any bytes, so a segment is never taken on it.
pub const HASH_TO_COME: &str = "";

/// Whether `hash` is known (not [`HASH_TO_COME`]).
pub fn hash_known(hash: &str) -> bool {
    !hash.is_empty()
}

/// What a peer tells the tracker at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The files it owns, which it will serve.
    pub owned: Vec<FileListing>,
    /// The names of the files it wants.
    pub wanted: Vec<String>,
    /// It also wants every file another peer owns (`share`).
    pub want_all: bool,
    /// Files already at its destination (a rerun): each one whose segments
    /// match the owners' listing counts as held, and is not downloaded.
    pub candidates: Vec<FileListing>,
    /// The folder a `share` peer writes into (`None` for a classic peer,
    /// whose outputs carry its rank in their names).
    pub destination: Option<Destination>,
    /// Owned files of which this rank reads, hashes and serves only a
    /// part: several seeders offer them from one shared source, and each
    /// reads its own stripe (see [`Stripe`]).
    pub stripes: Vec<Stripe>,
}

/// A contiguous run of segments of an owned file, `first..end`, that one
/// of several seeders of the same source reads, hashes and serves; the
/// others read the rest. `share` gives every seeder of a file with the
/// same size and modification time one such stripe (in rank order,
/// together covering the file once), so the shared filesystem sees the
/// file read once in all. For the tracker such a seeder holds its stripe
/// only, never the whole file, and sends the hashes of its stripe only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stripe {
    pub name: String,
    pub first: SegmentIdx,
    pub end: SegmentIdx,
}

impl Stripe {
    /// The stripe's segments.
    pub fn segments(&self) -> std::ops::Range<SegmentIdx> {
        self.first..self.end
    }
}

/// Which folder a `share` peer's `--to` is, as the tracker compares them:
/// ranks with the same destination (the ranks of a node with `--to
/// /local/{node}`, or every rank of `--local` with one `--to`) would write
/// the same files into one folder, so the tracker has one of them fetch and
/// write, and the others fetch nothing: one copy per folder.
///
/// On a filesystem shared between hosts (NFS, Lustre) the same folder seen
/// from two hosts has different identities (`st_dev` differs between
/// clients), so there each rank needs a folder of its own (`{rank}` or
/// `{node}` in `--to`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// The name of the rank's host: device and inode numbers only identify
    /// a folder on one machine.
    pub host: String,
    /// The folder's device (`st_dev`), once every link in the path is
    /// followed.
    pub device: u64,
    /// The folder's inode (`st_ino`): with the host and device, the same
    /// for every spelling of the path.
    pub inode: u64,
    /// The folder as the rank named it (`--to`, `{rank}` filled in), for
    /// the message; not part of the identity.
    pub path: String,
}

impl Destination {
    /// What two ranks' destinations have in common when they are the same
    /// folder: the host, the device and the inode.
    pub fn identity(&self) -> (&str, u64, u64) {
        (&self.host, self.device, self.inode)
    }
}

impl Registration {
    /// A classic peer's registration: its owned files with their hashes,
    /// and the names it wants.
    pub fn classic(input: &crate::classic::PeerInput) -> Self {
        Registration {
            owned: input
                .owned
                .iter()
                .map(|f| FileListing {
                    name: f.name.clone(),
                    hashes: f.hashes.clone(),
                })
                .collect(),
            wanted: input.wanted.clone(),
            ..Registration::default()
        }
    }
}

/// A rank that can serve segments of a file, as the tracker last knew it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub rank: Rank,
    /// Holds the whole file (a seed) rather than part of it (a peer).
    pub seed: bool,
    /// Segments the tracker knows this rank holds.
    pub held: u32,
    /// Segments this rank has uploaded so far (of any file), as the
    /// tracker learned from the downloaders' updates: its load.
    pub load: u32,
}

/// A segment a downloader received, and the rank that sent it; updates
/// carry these so the tracker knows who holds what and who served whom.
pub type Received = (SegmentIdx, Rank);

/// A segment the tracker suggests fetching next, and the rank to fetch it
/// from, chosen by the hint policy the request named (`HintKind`).
pub type Hint = (SegmentIdx, Rank);

/// A protocol message. Names follow the classic protocol where it has one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Peer → tracker at start-up: the files it owns and those it wants.
    Register(Registration),
    /// Tracker → peer once every peer registered: the id of each owned file
    /// (in the order registered), the id of each candidate that matched
    /// (`None` for one that did not), and the files to download, in order.
    RegisterAck {
        file_ids: Vec<FileId>,
        candidate_ids: Vec<Option<FileId>>,
        wanted: Vec<String>,
    },
    /// Any rank → tracker, then tracker → every peer: the job must end.
    Abort { reason: String },
    /// SWARM_REQUEST: download thread → tracker, the first time it wants a
    /// file; `hints` says how many hints it wants, chosen how.
    SwarmRequest { name: String, hints: HintRequest },
    /// Tracker → download thread: the file's id, hashes and current owners.
    SwarmReply {
        file: FileId,
        hashes: Vec<String>,
        owners: Vec<Owner>,
        hints: Vec<Hint>,
    },
    /// PEER_UPDATE: download thread → tracker after every few segments,
    /// with what it received from whom; it also asks for a fresh owner list
    /// (unless its hint policy says otherwise) and for `hints`.
    PeerUpdate {
        file: FileId,
        received: Vec<Received>,
        hints: HintRequest,
    },
    /// Tracker → download thread: the owners of a file, answering PeerUpdate.
    SwarmRefresh {
        file: FileId,
        owners: Vec<Owner>,
        hints: Vec<Hint>,
    },
    /// SINGLE_FILE_DOWNLOAD_COMPLETED: the peer now seeds this file; carries
    /// the segments received since the last update.
    FileCompleted {
        file: FileId,
        received: Vec<Received>,
    },
    /// CLIENT_GOT_ALL_FILES: the peer's download thread is done.
    AllFilesCompleted,
    /// Download thread → an owner's upload thread: send me this segment.
    SegmentRequest { file: FileId, index: SegmentIdx },
    /// SEGMENT_BATCH: download thread → an owner's upload thread: send me
    /// each of these segments (one ACK each). The tracker may have named
    /// the owner for a segment it is still receiving (a relay): then the
    /// owner answers once it holds it, and NACKs only what it never will.
    SegmentBatch {
        file: FileId,
        indices: Vec<SegmentIdx>,
    },
    /// Upload thread → download thread: here it is (ACK). The payload is
    /// empty in classic mode, where a segment is only its hash.
    SegmentAck {
        file: FileId,
        index: SegmentIdx,
        /// Not in the serde header: the wire codec sends it raw after the
        /// header, so it is never copied into or out of a message.
        #[serde(skip)]
        payload: Payload,
    },
    /// Upload thread → download thread: I do not hold that segment (NACK).
    SegmentNack { file: FileId, index: SegmentIdx },
    /// TERMINATE: tracker → every upload thread once all peers are done.
    Terminate,
    /// Peer → tracker after TERMINATE: what it did, for the run report.
    Stats(Box<PeerStats>),
    /// LEAVE: peer → tracker, after it finished downloading a file: it
    /// leaves that file's swarm and takes its segments with it (its upload
    /// side answers NACK for them from now on). The tracker stops naming it.
    Leave { file: FileId },
    /// `share`, before REGISTER: peer → tracker, what its folders hold
    /// (see [`crate::tree`]).
    TreeOffer(Box<TreeOffer>),
    /// `share`: tracker → peer, the agreed tree and what this peer keeps.
    TreePlan(Box<TreePlan>),
    /// HASHES: the hashes of segments `first..first + hashes.len()` of
    /// `file`, registered as [`HASH_TO_COME`]. A seeder sends them to the
    /// tracker as it hashes its source (in file order, a batch at a time);
    /// the tracker checks them against every other seeder's, and passes
    /// the ones it learns on to the file's downloaders, which may only then
    /// ask for those segments. In `share` only.
    Hashes {
        file: FileId,
        first: SegmentIdx,
        hashes: Vec<String>,
    },
}

impl Message {
    /// A short name for counting and logging.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Register(_) => MessageKind::Register,
            Message::RegisterAck { .. } => MessageKind::RegisterAck,
            Message::Abort { .. } => MessageKind::Abort,
            Message::SwarmRequest { .. } => MessageKind::SwarmRequest,
            Message::SwarmReply { .. } => MessageKind::SwarmReply,
            Message::PeerUpdate { .. } => MessageKind::PeerUpdate,
            Message::SwarmRefresh { .. } => MessageKind::SwarmRefresh,
            Message::FileCompleted { .. } => MessageKind::FileCompleted,
            Message::AllFilesCompleted => MessageKind::AllFilesCompleted,
            Message::SegmentRequest { .. } => MessageKind::SegmentRequest,
            Message::SegmentBatch { .. } => MessageKind::SegmentBatch,
            Message::SegmentAck { .. } => MessageKind::SegmentAck,
            Message::SegmentNack { .. } => MessageKind::SegmentNack,
            Message::Terminate => MessageKind::Terminate,
            Message::Stats(_) => MessageKind::Stats,
            Message::Leave { .. } => MessageKind::Leave,
            Message::TreeOffer(_) => MessageKind::TreeOffer,
            Message::TreePlan(_) => MessageKind::TreePlan,
            Message::Hashes { .. } => MessageKind::Hashes,
        }
    }
}

/// The kind of a [`Message`], without its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MessageKind {
    Register,
    RegisterAck,
    Abort,
    SwarmRequest,
    SwarmReply,
    PeerUpdate,
    SwarmRefresh,
    FileCompleted,
    AllFilesCompleted,
    SegmentRequest,
    SegmentAck,
    SegmentNack,
    Terminate,
    Stats,
    Leave,
    TreeOffer,
    TreePlan,
    SegmentBatch,
    Hashes,
}

impl MessageKind {
    /// The classic protocol's name for this kind (or ours where it has none).
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Register => "REGISTER",
            MessageKind::RegisterAck => "REGISTER_ACK",
            MessageKind::Abort => "ABORT",
            MessageKind::SwarmRequest => "SWARM_REQUEST",
            MessageKind::SwarmReply => "SWARM_REPLY",
            MessageKind::PeerUpdate => "PEER_UPDATE",
            MessageKind::SwarmRefresh => "SWARM_REFRESH",
            MessageKind::FileCompleted => "SINGLE_FILE_DOWNLOAD_COMPLETED",
            MessageKind::AllFilesCompleted => "CLIENT_GOT_ALL_FILES",
            MessageKind::SegmentRequest => "SEGMENT_REQUEST",
            MessageKind::SegmentAck => "ACK",
            MessageKind::SegmentNack => "NACK",
            MessageKind::Terminate => "TERMINATE",
            MessageKind::Stats => "STATS",
            MessageKind::Leave => "LEAVE",
            MessageKind::TreeOffer => "TREE_OFFER",
            MessageKind::TreePlan => "TREE_PLAN",
            MessageKind::SegmentBatch => "SEGMENT_BATCH",
            MessageKind::Hashes => "HASHES",
        }
    }

    /// True for messages between two peers (segment traffic).
    pub fn is_between_peers(self) -> bool {
        matches!(
            self,
            MessageKind::SegmentRequest
                | MessageKind::SegmentBatch
                | MessageKind::SegmentAck
                | MessageKind::SegmentNack
        )
    }
}

/// A message a state machine wants sent, and to whom.
#[derive(Clone, Debug, PartialEq)]
pub struct Transmit {
    pub to: Rank,
    pub msg: Message,
}

impl Transmit {
    /// The receiver this message is for on the destination rank.
    pub fn channel(&self) -> Channel {
        match &self.msg {
            // Everything sent to rank 0 is for the tracker loop, including a
            // peer's request to abort.
            _ if self.to.is_tracker() => Channel::Tracker,
            Message::Register(_)
            | Message::SwarmRequest { .. }
            | Message::PeerUpdate { .. }
            | Message::FileCompleted { .. }
            | Message::AllFilesCompleted
            | Message::Stats(_)
            | Message::Leave { .. }
            | Message::TreeOffer(_) => Channel::Tracker,
            Message::RegisterAck { .. } | Message::Abort { .. } | Message::TreePlan(_) => {
                Channel::Control
            }
            Message::SwarmReply { .. }
            | Message::SwarmRefresh { .. }
            | Message::Hashes { .. }
            | Message::SegmentAck { .. }
            | Message::SegmentNack { .. } => Channel::Download,
            Message::SegmentRequest { .. } | Message::SegmentBatch { .. } | Message::Terminate => {
                Channel::Upload
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abort_goes_to_the_tracker_loop_or_a_peer_control_channel() {
        let abort = Message::Abort { reason: "x".into() };
        let to = |rank, msg: &Message| Transmit {
            to: Rank(rank),
            msg: msg.clone(),
        };
        assert_eq!(to(0, &abort).channel(), Channel::Tracker);
        assert_eq!(to(3, &abort).channel(), Channel::Control);
        assert_eq!(to(3, &Message::Terminate).channel(), Channel::Upload);
        let ack = Message::SegmentNack {
            file: FileId(0),
            index: 0,
        };
        assert_eq!(to(2, &ack).channel(), Channel::Download);
    }
}
