//! How a download side chooses whom to ask for a segment, and in which
//! order it fetches segments.
//!
//! - `round-robin` (the classic protocol): segments in file order, owners
//!   in turn, so no owner is asked twice before every other was asked once.
//! - `least-loaded`: segments in file order; the owner is the less loaded
//!   of two picked at random (the tracker reports each owner's uploads, and
//!   this peer adds the requests it has sent since). Two random choices,
//!   not the single minimum, keep peers that share the same stale view
//!   from all piling onto the same owner.
//! - `rarest-first` (as BitTorrent): the tracker names the segments that
//!   fewest ranks hold and a holder of each; the peer fetches those first,
//!   then the rest from a random starting point, owners in turn.
//! - `paced`: rarest-first in which the tracker also paces the holders.
//!   The peer fetches only hinted segments, from the hinted holder, and asks
//!   for more hints (a PEER_UPDATE, with what it received) whenever half
//!   its window is free. It keeps every hint it is given, so the tracker
//!   counts each one as an upload its holder owes until the segment is
//!   reported, and names only holders that owe fewer than a few: no rank,
//!   the seed least of all, is asked for more than it can send. At
//!   thousands of peers this is what keeps one seed from being buried
//!   under everyone's first requests (see the simulator's results).

use crate::{Owner, Rank};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// A download strategy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    #[default]
    RoundRobin,
    LeastLoaded,
    RarestFirst,
    Paced,
}

/// The top bit of the `hints` count of a SWARM_REQUEST or PEER_UPDATE: the
/// requester uses the `paced` strategy. It keeps every hint it gets (so the
/// tracker may count each as owed by its holder until the segment is
/// reported), and wants them paced: only holders with spare capacity.
pub const PACED_HINTS: u32 = 1 << 31;

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::RoundRobin,
        Strategy::LeastLoaded,
        Strategy::RarestFirst,
        Strategy::Paced,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round-robin",
            Strategy::LeastLoaded => "least-loaded",
            Strategy::RarestFirst => "rarest-first",
            Strategy::Paced => "paced",
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
                format!("unknown strategy '{s}' (round-robin, least-loaded, rarest-first or paced)")
            })
    }
}

/// Picks the position in `owners` of the owner to ask for a new segment.
/// `cursor` is the round-robin position (advanced here); `sent` counts the
/// requests this peer sent to each rank since the owner list was refreshed.
/// `owners` must not be empty.
pub(crate) fn pick_owner(
    strategy: Strategy,
    owners: &[Owner],
    cursor: &mut usize,
    sent: &HashMap<Rank, u32>,
    rng: &mut ChaCha8Rng,
) -> usize {
    match strategy {
        // A paced peer asks the tracker's choice; it picks an owner only to
        // retry a segment after a NACK.
        Strategy::RoundRobin | Strategy::RarestFirst | Strategy::Paced => {
            let position = *cursor % owners.len();
            *cursor = cursor.wrapping_add(1);
            position
        }
        Strategy::LeastLoaded => {
            let load = |i: usize| {
                let owner = &owners[i];
                owner.load as u64 + sent.get(&owner.rank).copied().unwrap_or(0) as u64
            };
            let first = rng.gen_range(0..owners.len());
            let second = rng.gen_range(0..owners.len());
            if load(second) < load(first) {
                second
            } else {
                first
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn owners(loads: &[u32]) -> Vec<Owner> {
        loads
            .iter()
            .enumerate()
            .map(|(i, &load)| Owner {
                rank: Rank(i as u32 + 1),
                seed: true,
                held: 1,
                load,
            })
            .collect()
    }

    #[test]
    fn names_round_trip() {
        for strategy in Strategy::ALL {
            assert_eq!(strategy.name().parse::<Strategy>(), Ok(strategy));
        }
        assert!("fastest".parse::<Strategy>().is_err());
    }

    #[test]
    fn round_robin_goes_round() {
        let owners = owners(&[0, 0, 0]);
        let mut cursor = 1;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let picks: Vec<usize> = (0..4)
            .map(|_| {
                pick_owner(
                    Strategy::RoundRobin,
                    &owners,
                    &mut cursor,
                    &HashMap::new(),
                    &mut rng,
                )
            })
            .collect();
        assert_eq!(picks, vec![1, 2, 0, 1]);
    }

    #[test]
    fn least_loaded_avoids_the_busy_owner() {
        let owners = owners(&[1000, 0, 0, 0]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut cursor = 0;
        let busy = (0..400)
            .filter(|_| {
                pick_owner(
                    Strategy::LeastLoaded,
                    &owners,
                    &mut cursor,
                    &HashMap::new(),
                    &mut rng,
                ) == 0
            })
            .count();
        // Only when both random picks land on it: about 1 in 16.
        assert!(busy < 50, "picked the busy owner {busy} times of 400");
    }
}
