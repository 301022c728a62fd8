//! `round-robin`, the classic protocol: segments in file order, owners in
//! turn, so that no owner is asked twice before every other was asked once.
//! It asks the tracker for no hints, and is every [`DownloadPolicy`]
//! default.

use super::DownloadPolicy;
use crate::Owner;

/// The round-robin strategy (no state of its own: the cursor is the file's).
#[derive(Debug)]
pub(super) struct RoundRobin;

impl DownloadPolicy for RoundRobin {}

/// The position of the owner whose turn it is, advancing `cursor`.
/// `owners` must not be empty.
pub(super) fn next(owners: &[Owner], cursor: &mut usize) -> usize {
    let position = *cursor % owners.len();
    *cursor = cursor.wrapping_add(1);
    position
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::strategy::Strategy;
    use crate::Rank;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Owners ranked 1.. with the given loads.
    pub(in crate::strategy) fn owners(loads: &[u32]) -> Vec<Owner> {
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
    fn round_robin_goes_round() {
        let owners = owners(&[0, 0, 0]);
        let mut policy = Strategy::RoundRobin.download_policy();
        let mut cursor = 1;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let picks: Vec<usize> = (0..4)
            .map(|_| policy.pick_owner(&owners, &mut cursor, &mut rng))
            .collect();
        assert_eq!(picks, vec![1, 2, 0, 1]);
    }
}
