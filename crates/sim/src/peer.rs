//! One simulated peer: the core's [`Peer`] machine (what a real peer runs,
//! on two threads there), plus what the simulator knows about it (how fast
//! it uploads, when it starts, whether it leaves).

use crate::config::SimConfig;
use mpitorrent_core::classic::PeerInput;
use mpitorrent_core::downloader::DownloaderConfig;
use mpitorrent_core::holdings::{Holdings, SharedHashes};
use mpitorrent_core::peer::{Peer, PeerConfig};
use mpitorrent_core::{Rank, Registration};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

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

/// One peer rank.
pub(crate) struct SimPeer {
    pub traits: Traits,
    pub peer: Peer,
    /// The tick its download side finished.
    pub finished_at: Option<u64>,
}

impl SimPeer {
    /// Rank `rank` of `input`, set up as `config` says; its holdings keep
    /// file hashes in `shared` (one copy for every peer, where a real peer
    /// has its own).
    pub fn new(
        rank: Rank,
        input: &PeerInput,
        traits: Traits,
        config: &SimConfig,
        shared: &Arc<SharedHashes>,
    ) -> Self {
        let config = PeerConfig {
            downloader: DownloaderConfig {
                window: config.window,
                update_every: config.update_every,
                strategy: config.strategy,
                seed: config.seed,
                ..DownloaderConfig::classic(rank, Vec::new())
            },
            leaves: traits.leaves,
        };
        let holdings = Holdings::sharing(Arc::clone(shared));
        SimPeer {
            traits,
            peer: Peer::new(Registration::classic(input), config, holdings),
            finished_at: None,
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
