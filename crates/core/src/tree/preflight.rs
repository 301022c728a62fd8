//! The pre-flight of a `share` plan: before any byte moves, every
//! filesystem written to must have the room its ranks need, or the job is
//! refused with one message naming the ranks, node, paths and bytes.

use super::TreeOffer;
use crate::Rank;
use std::collections::BTreeMap;

/// One folder that ranks write into: which of them lack something, one
/// of their offers (the path and free space are the same for all), and
/// the most any of them lacks (they write one copy between them).
struct Writers<'a> {
    ranks: Vec<Rank>,
    offer: &'a TreeOffer,
    need: u64,
}

/// Checks that every filesystem has the room its ranks need: ranks that
/// write one folder write one copy (the most any of them lacks), and
/// folders on one filesystem (one host, one device) share its free space.
pub(super) fn preflight(needs: &[(Rank, &TreeOffer, u64)]) -> Result<(), String> {
    let mut folders: BTreeMap<(&str, u64, u64), Writers> = BTreeMap::new();
    for &(rank, offer, need) in needs {
        let folder = folders
            .entry(offer.destination.identity())
            .or_insert(Writers {
                ranks: Vec::new(),
                offer,
                need: 0,
            });
        if need > 0 {
            folder.ranks.push(rank);
        }
        folder.need = folder.need.max(need);
    }
    let mut filesystems: BTreeMap<(&str, u64), Vec<Writers>> = BTreeMap::new();
    // Folders that need nothing are not named.
    for ((host, device, _), folder) in folders.into_iter().filter(|(_, f)| f.need > 0) {
        filesystems.entry((host, device)).or_default().push(folder);
    }
    for ((host, _), mut folders) in filesystems {
        // Named in rank order, not in the order of their inodes.
        folders.sort_by_key(|folder| folder.ranks.first().copied());
        let need: u64 = folders.iter().map(|folder| folder.need).sum();
        let available = folders.iter().map(|folder| folder.offer.available).min();
        let available = available.unwrap_or(0);
        if need <= available {
            continue;
        }
        let ranks: Vec<String> = folders
            .iter()
            .flat_map(|folder| folder.ranks.iter().map(|r| r.to_string()))
            .collect();
        let paths: Vec<&str> = folders
            .iter()
            .map(|folder| folder.offer.destination.path.as_str())
            .collect();
        let who = match ranks.len() {
            1 => format!("rank {}", ranks[0]),
            _ => format!("ranks {}", ranks.join(", ")),
        };
        return Err(format!(
            "{who} (node {host}): not enough room in {}: {} to write, {} available \
             (nothing was transferred)",
            paths.join(", "),
            bytes(need),
            bytes(available)
        ));
    }
    Ok(())
}

/// A byte count for a message: exact, and in MiB for the eye.
fn bytes(n: u64) -> String {
    format!("{n} bytes ({:.1} MiB)", n as f64 / (1024.0 * 1024.0))
}
