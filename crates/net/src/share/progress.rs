//! A `share` job's progress in bytes, for rank 0's display: what each
//! peer rank still lacks, from the tracker's view by segment
//! ([`Tracker::missing`]) and the file sizes and nodes rank 0 learnt from
//! the offers of the plan ([`super::plan`]).

use mpitorrent_core::tracker::Tracker;
use mpitorrent_core::tree::{TreeEntry, TreeOffer, TreePlan};
use mpitorrent_core::Rank;
use std::collections::HashMap;

/// Of one peer rank: the bytes it still lacks, and its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RankBytes<'a> {
    pub rank: Rank,
    /// Its host, as its offer named it.
    pub node: &'a str,
    pub missing: u64,
}

/// What rank 0 needs to turn the tracker's segments into bytes.
#[derive(Clone, Debug, Default)]
pub struct ByteView {
    sizes: HashMap<String, u64>,
    /// By rank (rank 0's entry is empty).
    nodes: Vec<String>,
    segment_size: u64,
}

impl ByteView {
    /// From the offers of every peer (by rank) and the job's segment size.
    pub fn new(offers: &[(Rank, TreeOffer)], segment_size: u64) -> Self {
        let mut view = ByteView {
            segment_size,
            ..ByteView::default()
        };
        for (rank, offer) in offers {
            let index = rank.0 as usize;
            if view.nodes.len() <= index {
                view.nodes.resize(index + 1, String::new());
            }
            view.nodes[index].clone_from(&offer.destination.host);
            for entry in &offer.entries {
                if let TreeEntry::File { name, meta } = entry {
                    view.sizes.entry(name.clone()).or_insert(meta.size);
                }
            }
        }
        view
    }

    /// Adds the sizes of the packs of `plan` (every plan lists them all),
    /// which the tracker counts like files.
    pub fn add_packs(&mut self, plan: &TreePlan) {
        for pack in &plan.packs {
            let size = pack
                .members
                .iter()
                .filter_map(|&index| match plan.entries.get(index as usize) {
                    Some(TreeEntry::File { meta, .. }) => Some(meta.size),
                    _ => None,
                })
                .sum();
            self.sizes.insert(pack.name.clone(), size);
        }
    }

    /// Every peer rank's missing bytes, rank 1 first. A file it lacks
    /// whole counts its size; one it holds part of, a segment per segment
    /// it lacks (at most its size: which segments, the tracker does not
    /// say, so a short last one may count whole).
    pub fn missing(&self, tracker: &Tracker) -> Vec<RankBytes<'_>> {
        let mut ranks: Vec<RankBytes> = (1..self.nodes.len())
            .map(|rank| RankBytes {
                rank: Rank(rank as u32),
                node: &self.nodes[rank],
                missing: 0,
            })
            .collect();
        for file in tracker.missing() {
            let size = self.sizes.get(file.name).copied().unwrap_or(0);
            let bytes = match file.lacking == file.segments {
                true => size,
                false => size.min(file.lacking.saturating_mul(self.segment_size)),
            };
            if let Some(entry) = ranks.get_mut((file.rank.0 as usize).wrapping_sub(1)) {
                entry.missing += bytes;
            }
        }
        ranks
    }
}
