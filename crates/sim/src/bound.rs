//! The lower bound a run is measured against.
//!
//! In the simulator's model a rank uploads at most one segment per tick and
//! receives at most one, and a segment received during a tick can be passed
//! on from the next tick. For `k` seeds of a file of `S` segments and `P`
//! other ranks that want it, no schedule delivers everything before tick
//!
//! ```text
//!     S + ceil(log2((P + k) / k)) - 1
//! ```
//!
//! Proof: let `U_j` be the ranks that received any segment in ticks
//! `0..=j`. Only seeds and members of `U_{j-1}` can send in tick `j`, one
//! segment each, so `|U_j| + k <= 2 (|U_{j-1}| + k)`, hence
//! `|U_j| <= k (2^(j+1) - 1)`. Every wanter is in `U_j` only once
//! `j >= ceil(log2((P + k) / k)) - 1`, and the last wanter to get its first
//! segment (in tick `j`) needs `S - 1` more ticks for the rest, holding the
//! last one at the end of tick `j + S - 1`, i.e. at tick `j + S`. For one
//! seed this is the classic `S + ceil(log2(P + 1)) - 1` (Bar-Noy & Kipnis
//! 1994; Mundinger, Weber & Weiss 2008), which optimal schedules reach.
//!
//! Slow, late and leaving peers only slow a schedule down, so the bound
//! still holds for them (it is just further from what is possible). For
//! scenarios with several files it is not computed.

use mpitorrent_core::scenario::Scenario;

/// The bound for a scenario of exactly one file, or `None` (several files,
/// or nothing to download).
pub fn lower_bound(scenario: &Scenario) -> Option<u64> {
    let mut names = scenario
        .inputs
        .iter()
        .flat_map(|input| input.owned.iter().map(|f| f.name.as_str()));
    let name = names.next()?;
    if names.any(|other| other != name) {
        return None;
    }
    let segments = scenario.hashes_of(name)?.len() as u64;
    let owns =
        |input: &mpitorrent_core::classic::PeerInput| input.owned.iter().any(|f| f.name == name);
    let seeds = scenario.inputs.iter().filter(|i| owns(i)).count() as u64;
    let wanters = scenario
        .inputs
        .iter()
        .filter(|i| !owns(i) && i.wanted.iter().any(|w| w == name))
        .count() as u64;
    (segments > 0 && wanters > 0).then(|| broadcast_bound(segments, seeds, wanters))
}

/// `S + ceil(log2((P + k) / k)) - 1` for `S` segments, `k >= 1` seeds and
/// `P >= 1` wanters.
pub fn broadcast_bound(segments: u64, seeds: u64, wanters: u64) -> u64 {
    let seeds = seeds.max(1);
    // The smallest j with k 2^j >= P + k.
    let mut doublings = 0;
    while seeds << doublings < wanters + seeds {
        doublings += 1;
    }
    segments + doublings - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::scenario::ScenarioParams;

    #[test]
    fn the_classic_one_seed_bound() {
        // 1,000 segments to 9,999 others: 1000 + ceil(log2 10,000) - 1.
        assert_eq!(broadcast_bound(1000, 1, 9999), 1013);
        assert_eq!(broadcast_bound(1, 1, 1), 1);
        assert_eq!(broadcast_bound(1, 1, 3), 2);
        assert_eq!(broadcast_bound(10, 1, 4), 12);
        assert_eq!(broadcast_bound(1000, 1, 99), 1006);
        assert_eq!(broadcast_bound(1000, 1, 999), 1009);
    }

    #[test]
    fn more_seeds_lower_it() {
        assert_eq!(broadcast_bound(100, 2, 14), 102);
        assert_eq!(broadcast_bound(100, 4, 4), 100);
        assert_eq!(broadcast_bound(100, 10, 1), 100);
    }

    #[test]
    fn it_applies_to_one_file_only() {
        let one = |files, seeds| {
            let params = ScenarioParams {
                ranks: 9,
                files,
                segments: 20,
                seeds_per_file: seeds,
                wanters_per_file: 5,
                seed: 3,
            };
            lower_bound(&Scenario::generate(&params).unwrap())
        };
        assert_eq!(one(1, 1), Some(20 + 3 - 1));
        assert_eq!(one(1, 2), Some(20 + 2 - 1));
        assert_eq!(one(2, 1), None);
    }
}
