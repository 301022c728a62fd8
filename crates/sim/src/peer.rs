//! One simulated peer: the download and upload state machines of a real
//! peer around one [`Holdings`], wired exactly as the threads of
//! `mpitorrent-net` wire them, plus what the simulator knows about it (how
//! fast it uploads, when it starts, whether it leaves, what it sent).

use mpitorrent_core::classic::PeerInput;
use mpitorrent_core::downloader::{Downloader, DownloaderConfig};
use mpitorrent_core::holdings::Holdings;
use mpitorrent_core::stats::{MessageCounts, PeerStats};
use mpitorrent_core::uploader::Uploader;
use mpitorrent_core::{FileId, MessageKind, Rank, Registration};
use std::sync::Arc;

/// Messages a rank sent, by kind: a flat array rather than
/// [`MessageCounts`]' map, whose insert per message shows at 10^7 messages.
#[derive(Clone, Debug, Default)]
pub(crate) struct SentCounts {
    counts: [u64; 32],
    kinds: [Option<MessageKind>; 32],
}

impl SentCounts {
    pub fn add(&mut self, kind: MessageKind) {
        let slot = kind as usize;
        self.counts[slot] += 1;
        self.kinds[slot] = Some(kind);
    }

    pub fn to_counts(&self) -> MessageCounts {
        let mut counts = MessageCounts::default();
        for (kind, &count) in self.kinds.iter().zip(&self.counts) {
            if let Some(kind) = kind {
                counts.0.insert(*kind, count);
            }
        }
        counts
    }
}

/// How one peer differs from the others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Traits {
    /// Its uplink starts a segment every this many ticks (1: full speed).
    pub upload_every: u64,
    /// Its download side starts this many ticks after the ACK.
    pub start_delay: u64,
    /// It leaves the swarms of the files it downloaded once it has them all.
    pub leaves: bool,
}

/// Where a peer is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// REGISTER sent, waiting for the ACK.
    Registering,
    /// ACKed; its download side starts at the given tick (a late peer).
    Waiting,
    /// Both sides run.
    Running,
    /// TERMINATE arrived and STATS went to the tracker.
    Terminated,
}

/// One peer rank.
pub(crate) struct SimPeer {
    pub rank: Rank,
    pub traits: Traits,
    pub stage: Stage,
    /// What it registers (its owned listings are needed again at the ACK).
    pub registration: Registration,
    pub holdings: Arc<Holdings>,
    pub uploader: Uploader,
    /// Built at the ACK (the ACK says which files to fetch).
    pub downloader: Option<Downloader>,
    /// Messages this rank sent, by kind.
    pub sent: SentCounts,
    /// Files it downloaded (not owned from the start), for leaving.
    pub downloaded: Vec<FileId>,
    /// The tick its download side finished.
    pub finished_at: Option<u64>,
}

impl SimPeer {
    pub fn new(rank: Rank, input: &PeerInput, traits: Traits) -> Self {
        let holdings = Arc::new(Holdings::new());
        let registration = Registration::classic(input);
        SimPeer {
            rank,
            traits,
            stage: Stage::Registering,
            registration,
            uploader: Uploader::new(rank, Arc::clone(&holdings)),
            holdings,
            downloader: None,
            sent: SentCounts::default(),
            downloaded: Vec::new(),
            finished_at: None,
        }
    }

    /// The registration ACK arrived: the owned files go into the holdings
    /// (their listings are not kept twice) and the download side is built.
    pub fn acked(&mut self, file_ids: Vec<FileId>, config: DownloaderConfig) {
        let owned = std::mem::take(&mut self.registration.owned);
        for (listing, id) in owned.into_iter().zip(file_ids) {
            self.holdings.add_complete(id, listing.name, listing.hashes);
        }
        self.downloader = Some(Downloader::new(config, Arc::clone(&self.holdings)));
        self.stage = Stage::Waiting;
    }

    /// What this peer reports to the tracker after TERMINATE, as a real
    /// peer reports it (the STATS message itself counted).
    pub fn stats(&mut self) -> PeerStats {
        let download = self.downloader.as_ref().map(|d| d.stats());
        let upload = self.uploader.stats();
        let mut sent = self.sent.to_counts();
        sent.add(MessageKind::Stats);
        PeerStats {
            downloads: download.map(|d| d.received.to_list()).unwrap_or_default(),
            uploads: upload.sent.to_list(),
            nacks_received: download.map_or(0, |d| d.nacks_received),
            corrupt_received: download.map_or(0, |d| d.corrupt_received),
            completed: download.map(|d| d.completed.clone()).unwrap_or_default(),
            progress: download.map(|d| d.progress.clone()).unwrap_or_default(),
            messages_sent: sent,
            ..PeerStats::default()
        }
    }
}
