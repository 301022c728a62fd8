//! Who fetches how many segments from whom: the traffic matrix of a swarm
//! run, read from its report (`peers[].downloaded_from`) or given by hand,
//! and the order in which a peer's download thread sends its requests.

use anyhow::{bail, Context, Result};
use mpitorrent_core::report::RunReport;
use mpitorrent_core::Rank;
use std::collections::BTreeMap;
use std::path::Path;

/// For each peer, the segments it fetches from each other rank.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoundTrips {
    /// fetches[rank][source] = round trips from `rank` to `source`.
    fetches: BTreeMap<u32, BTreeMap<u32, u64>>,
}

impl RoundTrips {
    /// The matrix of a run report, and the window the run used.
    pub fn from_report(path: &Path) -> Result<(RoundTrips, u32)> {
        let json = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let report: RunReport = serde_json::from_str(&json)
            .with_context(|| format!("{} is not an mpitorrent run report", path.display()))?;
        let mut trips = RoundTrips::default();
        for peer in &report.peers {
            for (&source, &count) in &peer.downloaded_from {
                trips.add(peer.rank, source, count);
            }
        }
        Ok((trips, report.settings.window))
    }

    /// Adds `count` round trips from `rank` to `source`.
    pub fn add(&mut self, rank: u32, source: u32, count: u64) {
        if count > 0 {
            *self
                .fetches
                .entry(rank)
                .or_default()
                .entry(source)
                .or_default() += count;
        }
    }

    /// Fails unless every rank and source is a peer of a job of `ranks`
    /// ranks (1..ranks) and no peer fetches from itself.
    pub fn check(&self, ranks: u32) -> Result<()> {
        for (&rank, sources) in &self.fetches {
            for &source in sources.keys() {
                let peer = 1..ranks;
                if !peer.contains(&rank) || !peer.contains(&source) || rank == source {
                    bail!(
                        "rank {rank} cannot fetch from rank {source} in a job of {ranks} \
                         ranks (both must be peers, 1..{}, and differ)",
                        ranks.saturating_sub(1)
                    );
                }
            }
        }
        Ok(())
    }

    /// The source of each request of `rank`'s download thread, in the
    /// order it sends them. Each source's requests are spread evenly over
    /// the whole download (the k-th of c at (k + ½) / c), so every source
    /// is busy until the end, as in a swarm; a tie goes first to the source
    /// that comes soonest after `rank` in rank order, so peers with the
    /// same sources do not all start on the same one.
    pub fn schedule(&self, rank: u32, ranks: u32) -> Vec<Rank> {
        let Some(sources) = self.fetches.get(&rank) else {
            return Vec::new();
        };
        let mut slots: Vec<(f64, u32, u32)> = Vec::new();
        for (&source, &count) in sources {
            let turn = (source + ranks - rank) % ranks.max(1);
            slots.extend((0..count).map(|k| ((k as f64 + 0.5) / count as f64, turn, source)));
        }
        slots.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        slots
            .into_iter()
            .map(|(_, _, source)| Rank(source))
            .collect()
    }
}

/// Parses `RANK:SOURCE:COUNT` (rank RANK fetches COUNT segments from
/// SOURCE), the form of `--fetch`.
pub fn parse_fetch(text: &str) -> Result<(u32, u32, u64), String> {
    let parts: Vec<&str> = text.split(':').collect();
    let bad = || format!("expected RANK:SOURCE:COUNT (e.g. 2:1:500), found '{text}'");
    let [rank, source, count] = parts[..] else {
        return Err(bad());
    };
    Ok((
        rank.parse().map_err(|_| bad())?,
        source.parse().map_err(|_| bad())?,
        count.parse().map_err(|_| bad())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranks(order: &[Rank]) -> Vec<u32> {
        order.iter().map(|r| r.0).collect()
    }

    #[test]
    fn equal_sources_take_turns_starting_after_the_rank() {
        let mut trips = RoundTrips::default();
        for source in [1, 2, 4] {
            trips.add(3, source, 2);
        }
        assert_eq!(ranks(&trips.schedule(3, 5)), [4, 1, 2, 4, 1, 2]);
        assert!(trips.schedule(1, 5).is_empty());
    }

    #[test]
    fn each_source_is_spread_over_the_whole_download() {
        let mut trips = RoundTrips::default();
        trips.add(1, 2, 1);
        trips.add(1, 3, 4);
        let order = ranks(&trips.schedule(1, 4));
        assert_eq!(order, [3, 3, 2, 3, 3]);
    }

    #[test]
    fn checks_ranks_against_the_job() {
        let mut trips = RoundTrips::default();
        trips.add(2, 1, 3);
        trips.add(1, 2, 0);
        assert!(trips.check(3).is_ok());
        assert!(trips.check(2).is_err());
        trips.add(1, 1, 1);
        assert!(trips.check(3).is_err());
        let mut from_tracker = RoundTrips::default();
        from_tracker.add(1, 0, 1);
        assert!(from_tracker.check(3).is_err());
    }

    #[test]
    fn parses_fetches() {
        assert_eq!(parse_fetch("2:1:500"), Ok((2, 1, 500)));
        assert!(parse_fetch("2:1").is_err());
        assert!(parse_fetch("2:x:5").is_err());
    }
}
