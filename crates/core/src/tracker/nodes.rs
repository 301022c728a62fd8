//! Which ranks share a node, for strategies that prefer a holder whose
//! segments cross no network link.

use crate::Rank;
use std::collections::HashMap;

/// By rank, the other ranks with the same node; `nodes` lists each rank's
/// node, the tracker's first. A rank with no node has no mates, and when
/// every rank is on one node no rank has any: there, no holder is nearer
/// than another.
pub(super) fn mates_by_rank<'a>(nodes: impl Iterator<Item = Option<&'a str>>) -> Vec<Vec<Rank>> {
    let nodes: Vec<Option<&str>> = nodes.collect();
    let mut by_node: HashMap<&str, Vec<Rank>> = HashMap::new();
    for (rank, node) in nodes.iter().enumerate() {
        if let Some(node) = node {
            by_node.entry(node).or_default().push(Rank(rank as u32));
        }
    }
    if by_node.len() < 2 {
        return Vec::new();
    }
    nodes
        .iter()
        .enumerate()
        .map(|(rank, node)| match node {
            Some(node) => by_node[node]
                .iter()
                .copied()
                .filter(|&mate| mate != Rank(rank as u32))
                .collect(),
            None => Vec::new(),
        })
        .collect()
}

/// The other ranks on `rank`'s node.
pub(super) fn node_mates(mates: &[Vec<Rank>], rank: Rank) -> &[Rank] {
    mates.get(rank.index()).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mates_are_the_other_ranks_of_a_node() {
        let nodes = [None, Some("a"), Some("b"), Some("a"), None, Some("a")];
        let mates = mates_by_rank(nodes.into_iter());
        assert_eq!(node_mates(&mates, Rank(1)), [Rank(3), Rank(5)]);
        assert_eq!(node_mates(&mates, Rank(3)), [Rank(1), Rank(5)]);
        assert!(node_mates(&mates, Rank(2)).is_empty());
        assert!(node_mates(&mates, Rank(4)).is_empty());
        assert!(node_mates(&mates, Rank(9)).is_empty(), "beyond the job");
    }

    #[test]
    fn on_one_node_nobody_is_nearer() {
        let mates = mates_by_rank([None, Some("a"), Some("a"), Some("a")].into_iter());
        assert!((0..4).all(|r| node_mates(&mates, Rank(r)).is_empty()));
    }
}
