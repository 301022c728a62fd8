//! Turning every peer's registration into the tracker's file table, with
//! the checks that must pass before any download starts.

use super::swarm::FileSwarm;
use crate::{FileId, FileListing, Rank};
use std::collections::{BTreeMap, HashMap};

/// One peer's registration: what it owns and what it wants.
pub(super) type Registration = (Vec<FileListing>, Vec<String>);

/// The file table built from all registrations: files numbered in name
/// order (so ids do not depend on which registration arrived first).
pub(super) struct FileTable {
    pub files: Vec<FileSwarm>,
    pub by_name: HashMap<String, FileId>,
}

/// Builds the table from `(rank, registration)` pairs, or says why the job
/// cannot run: two ranks list the same file differently, or a peer wants a
/// file nobody owns.
pub(super) fn build_file_table<'a>(
    registrations: impl Iterator<Item = (Rank, &'a Registration)> + Clone,
) -> Result<FileTable, String> {
    let mut table: BTreeMap<&str, (&[String], Rank, Vec<Rank>)> = BTreeMap::new();
    for (rank, (owned, _)) in registrations.clone() {
        for listing in owned {
            match table.get_mut(listing.name.as_str()) {
                None => {
                    table.insert(&listing.name, (&listing.hashes, rank, vec![rank]));
                }
                Some((hashes, first, owners)) => {
                    if let Some(problem) = listing_conflict(hashes, *first, listing, rank) {
                        return Err(problem);
                    }
                    owners.push(rank);
                }
            }
        }
    }
    for (rank, (_, wanted)) in registrations {
        if let Some(name) = wanted
            .iter()
            .find(|name| !table.contains_key(name.as_str()))
        {
            return Err(format!(
                "rank {rank} wants file '{name}', which no rank owns"
            ));
        }
    }
    let mut by_name = HashMap::new();
    let mut files = Vec::new();
    for (index, (name, (hashes, _, owners))) in table.into_iter().enumerate() {
        by_name.insert(name.to_string(), FileId(index as u32));
        files.push(FileSwarm::new(name.to_string(), hashes.to_vec(), owners));
    }
    Ok(FileTable { files, by_name })
}

/// Why two registrations of the same file name disagree, if they do.
fn listing_conflict(
    first_hashes: &[String],
    first: Rank,
    listing: &FileListing,
    rank: Rank,
) -> Option<String> {
    let name = &listing.name;
    if let Some(index) = first_hashes
        .iter()
        .zip(&listing.hashes)
        .position(|(a, b)| a != b)
    {
        return Some(format!(
            "ranks {first} and {rank} both own file '{name}' with different segments: \
             segment {} is '{}' on rank {first} but '{}' on rank {rank}",
            index + 1,
            first_hashes[index],
            listing.hashes[index]
        ));
    }
    if first_hashes.len() != listing.hashes.len() {
        return Some(format!(
            "ranks {first} and {rank} both own file '{name}' with different segments: \
             {} segments on rank {first} but {} on rank {rank}",
            first_hashes.len(),
            listing.hashes.len()
        ));
    }
    None
}
