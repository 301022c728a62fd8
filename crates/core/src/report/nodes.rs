//! The run report per node: which ranks ran on each host, and how many
//! segments came into and went out of it, across its link and within it.
//! Known for `share` (each peer sends its host with its `--to` folder's
//! identity); a classic run has no nodes in its report.

use super::PeerReport;
use crate::escape::shown;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One node's part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    /// Its host name.
    pub node: String,
    pub ranks: Vec<u32>,
    /// Segments its ranks received from ranks of other nodes (over its link).
    pub segments_in: u64,
    /// Segments its ranks received from ranks of the same node.
    pub segments_in_local: u64,
    /// Segments its ranks sent to ranks of other nodes (over its link).
    pub segments_out: u64,
    /// Bytes its ranks received and stored, from anywhere.
    pub bytes_in: u64,
}

/// The nodes of `peers` (those that know theirs), by host name.
pub fn nodes(peers: &[PeerReport]) -> Vec<NodeReport> {
    let node_of: BTreeMap<u32, &str> = peers
        .iter()
        .filter_map(|p| Some((p.rank, p.node.as_deref()?)))
        .collect();
    let mut nodes: BTreeMap<&str, NodeReport> = BTreeMap::new();
    for peer in peers {
        let Some(node) = peer.node.as_deref() else {
            continue;
        };
        let report = nodes.entry(node).or_insert_with(|| NodeReport {
            node: node.to_string(),
            ranks: Vec::new(),
            segments_in: 0,
            segments_in_local: 0,
            segments_out: 0,
            bytes_in: 0,
        });
        report.ranks.push(peer.rank);
        report.bytes_in += peer.bytes_downloaded;
        for (from, &segments) in &peer.downloaded_from {
            match node_of.get(from) == Some(&node) {
                true => report.segments_in_local += segments,
                false => report.segments_in += segments,
            }
        }
        for (to, &segments) in &peer.uploaded_to {
            if node_of.get(to) != Some(&node) {
                report.segments_out += segments;
            }
        }
    }
    nodes.into_values().collect()
}

/// The summary's line for the nodes, in MiB at `segment_bytes` a segment
/// (the run's mean): e.g. `nodes (in / out over the link, MiB): n1 0 / 512, n2 512 / 0`.
pub fn nodes_line(nodes: &[NodeReport], segment_bytes: f64) -> String {
    let mib = |segments: u64| segments as f64 * segment_bytes / (1u64 << 20) as f64;
    let each: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "{} {:.0} / {:.0}",
                shown(&n.node),
                mib(n.segments_in),
                mib(n.segments_out)
            )
        })
        .collect();
    format!(
        "  nodes (MiB in / out over each node's link): {}\n",
        each.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(rank: u32, node: &str, from: &[(u32, u64)], to: &[(u32, u64)]) -> PeerReport {
        PeerReport {
            rank,
            node: Some(node.into()),
            downloaded: from.iter().map(|f| f.1).sum(),
            uploaded: to.iter().map(|t| t.1).sum(),
            downloaded_from: from.iter().copied().collect(),
            uploaded_to: to.iter().copied().collect(),
            nacks_received: 0,
            bytes_downloaded: from.iter().map(|f| f.1).sum::<u64>() << 20,
            verification_failures: 0,
            source_bytes_read: 0,
            files: Vec::new(),
            progress: Vec::new(),
            resources: Default::default(),
            start: Default::default(),
        }
    }

    #[test]
    fn segments_are_counted_across_and_within_nodes() {
        // Rank 1 (n1) seeds; rank 2 (n2) fetches from it; rank 3 (n2)
        // fetches 3 from rank 1 and 1 from rank 2, on its own node.
        let peers = [
            peer(1, "n1", &[], &[(2, 4), (3, 3)]),
            peer(2, "n2", &[(1, 4)], &[(3, 1)]),
            peer(3, "n2", &[(1, 3), (2, 1)], &[]),
        ];
        let nodes = nodes(&peers);
        assert_eq!(nodes.len(), 2);
        assert_eq!((nodes[0].segments_in, nodes[0].segments_out), (0, 7));
        let n2 = &nodes[1];
        assert_eq!(n2.ranks, [2, 3]);
        assert_eq!(
            (n2.segments_in, n2.segments_in_local, n2.segments_out),
            (7, 1, 0)
        );
        assert_eq!(n2.bytes_in, 8 << 20);
        assert_eq!(
            nodes_line(&nodes, (1u64 << 20) as f64),
            "  nodes (MiB in / out over each node's link): n1 0 / 7, n2 7 / 0\n"
        );
    }
}
