//! One simulated peer: the download and upload state machines of a real
//! peer around one [`Holdings`], wired exactly as the threads of
//! `mpitorrent-net` wire them, plus what the simulator knows about it (how
//! fast it uploads, when it starts, whether it leaves, what it sent).

use crate::config::SimConfig;
use mpitorrent_core::classic::PeerInput;
use mpitorrent_core::downloader::{Downloader, DownloaderConfig};
use mpitorrent_core::holdings::{Holdings, SharedHashes};
use mpitorrent_core::prefetch::{self, Depth};
use mpitorrent_core::stats::{MessageCounts, PeerStats};
use mpitorrent_core::uploader::Uploader;
use mpitorrent_core::{Channel, FileId, MessageKind, Rank, Registration};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// Messages a rank sent, by kind: a flat array rather than
/// [`MessageCounts`]' map, whose insert per message shows at 10^7 messages.
#[derive(Clone, Debug, Default)]
pub(crate) struct SentCounts {
    counts: [u64; 32],
    /// The kind of each slot, written at its first message only (so that
    /// counting touches one cache line).
    kinds: [Option<MessageKind>; 32],
}

impl SentCounts {
    pub fn add(&mut self, kind: MessageKind) {
        let slot = kind as usize;
        if self.counts[slot] == 0 {
            self.kinds[slot] = Some(kind);
        }
        self.counts[slot] += 1;
    }

    /// Prefetch hint: what [`SentCounts::add`] of `kind` writes.
    pub fn prefetch(&self, kind: MessageKind) {
        prefetch::line(&self.counts[kind as usize]);
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
    /// Rank `rank` of `input`; its holdings keep file hashes in `shared`
    /// (one copy for every peer, where a real peer has its own).
    pub fn new(rank: Rank, input: &PeerInput, traits: Traits, shared: &Arc<SharedHashes>) -> Self {
        let holdings = Arc::new(Holdings::sharing(Arc::clone(shared)));
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

    /// Prefetch hint (see [`mpitorrent_core::prefetch`]) for a message on
    /// `channel`: the stage and counts, and the machine it is for.
    pub fn prefetch(&self, depth: Depth, channel: Channel) {
        if depth == Depth::Fields {
            prefetch::line(&self.stage);
            // What it most likely answers with.
            let answers: &[MessageKind] = match channel {
                Channel::Upload => &[MessageKind::SegmentAck],
                _ => &[MessageKind::SegmentRequest, MessageKind::PeerUpdate],
            };
            for &kind in answers {
                self.sent.prefetch(kind);
            }
        }
        match channel {
            Channel::Upload => self.uploader.prefetch(depth),
            // Whether there is a downloader yet (it is built at the ACK)
            // is in this peer's memory, which `Fields` is loading: so
            // `Fields` loads all of it in place, and the next depths ask it.
            Channel::Download if depth == Depth::Fields => {
                prefetch::lines(&self.downloader, usize::MAX)
            }
            Channel::Download => {
                if let Some(downloader) = &self.downloader {
                    downloader.prefetch(depth);
                }
            }
            _ => {}
        }
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

/// Which peers are slow, late and leaving: exact shares of the peers,
/// drawn from the run's seed (its own stream, apart from the machines').
pub(crate) fn draw_traits(peers: usize, config: &SimConfig) -> Vec<Traits> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(0x5117);
    let mut pick = |fraction: f64| {
        let count = ((fraction * peers as f64).round() as usize).min(peers);
        let mut chosen = vec![false; peers];
        for index in rand::seq::index::sample(&mut rng, peers, count) {
            chosen[index] = true;
        }
        chosen
    };
    let slow = pick(config.slow.map_or(0.0, |s| s.fraction));
    let late = pick(config.late.map_or(0.0, |l| l.fraction));
    let leaves = pick(config.leave_fraction);
    (0..peers)
        .map(|i| Traits {
            upload_every: if slow[i] {
                config.slow.map_or(1, |s| s.every)
            } else {
                1
            },
            start_delay: if late[i] {
                config.late.map_or(0, |l| l.by)
            } else {
                0
            },
            leaves: leaves[i],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traits_are_exact_shares_drawn_from_the_seed() {
        let config = SimConfig {
            slow: Some(crate::SlowPeers {
                fraction: 0.25,
                every: 3,
            }),
            leave_fraction: 0.5,
            ..SimConfig::default()
        };
        let traits = draw_traits(8, &config);
        assert_eq!(traits.iter().filter(|t| t.upload_every == 3).count(), 2);
        assert_eq!(traits.iter().filter(|t| t.leaves).count(), 4);
        assert!(traits.iter().all(|t| t.start_delay == 0));
        assert_eq!(traits, draw_traits(8, &config));
        let other = SimConfig { seed: 1, ..config };
        assert_ne!(traits, draw_traits(8, &other), "another seed, other peers");
    }
}
