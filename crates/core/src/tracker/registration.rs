//! Turning every peer's registration into the tracker's file table, with
//! the checks that must pass before any download starts.

use super::swarm::FileSwarm;
use crate::{FileId, FileListing, Rank, Registration};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The file table built from all registrations: files numbered in name
/// order (so ids do not depend on which registration arrived first), and
/// what to tell each peer in its ACK.
pub(super) struct FileTable {
    pub files: Vec<FileSwarm>,
    pub by_name: HashMap<String, FileId>,
    /// One per registration, in the order given.
    pub acks: Vec<Ack>,
}

/// What one peer's REGISTER_ACK says.
pub(super) struct Ack {
    /// The id of each owned file, in the order registered.
    pub file_ids: Vec<FileId>,
    /// The id of each candidate that matched the owners' listing.
    pub candidate_ids: Vec<Option<FileId>>,
    /// The files to fetch (or, for a classic peer, to write), in order.
    pub wanted: Vec<String>,
}

/// A file being collected: its listing, who listed it first, its owners.
type Entry<'a> = (&'a [String], Rank, Vec<Rank>);

/// Builds the table from `(rank, registration)` pairs, or says why the job
/// cannot run: two ranks list the same file differently, or a peer wants a
/// file nobody owns.
pub(super) fn build_file_table<'a>(
    registrations: impl Iterator<Item = (Rank, &'a Registration)> + Clone,
) -> Result<FileTable, String> {
    let mut table: BTreeMap<&str, Entry> = BTreeMap::new();
    for (rank, registration) in registrations.clone() {
        for listing in &registration.owned {
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
    // A candidate already at a peer's destination counts only if it is
    // exactly what the owners list; then that peer owns it too.
    let mut matched: Vec<Vec<bool>> = Vec::new();
    for (rank, registration) in registrations.clone() {
        let matches = registration
            .candidates
            .iter()
            .map(|candidate| match table.get_mut(candidate.name.as_str()) {
                Some((hashes, _, owners)) if *hashes == candidate.hashes.as_slice() => {
                    owners.push(rank);
                    true
                }
                _ => false,
            })
            .collect();
        matched.push(matches);
    }
    for (rank, registration) in registrations.clone() {
        let unowned = registration
            .wanted
            .iter()
            .find(|name| !table.contains_key(name.as_str()));
        if let Some(name) = unowned {
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
    let acks = registrations
        .zip(matched)
        .map(|((_, registration), matches)| ack(registration, &matches, &files, &by_name))
        .collect();
    Ok(FileTable {
        files,
        by_name,
        acks,
    })
}

/// The ACK for one registration, once every file has its id.
fn ack(
    registration: &Registration,
    matches: &[bool],
    files: &[FileSwarm],
    by_name: &HashMap<String, FileId>,
) -> Ack {
    let file_ids = registration
        .owned
        .iter()
        .map(|listing| by_name[&listing.name])
        .collect();
    let candidate_ids: Vec<Option<FileId>> = registration
        .candidates
        .iter()
        .zip(matches)
        .map(|(candidate, &matched)| matched.then(|| by_name[&candidate.name]))
        .collect();
    let wanted = if registration.want_all {
        let held: BTreeSet<&str> = registration
            .owned
            .iter()
            .chain(
                registration
                    .candidates
                    .iter()
                    .zip(&candidate_ids)
                    .filter(|(_, id)| id.is_some())
                    .map(|(candidate, _)| candidate),
            )
            .map(|listing| listing.name.as_str())
            .collect();
        files
            .iter()
            .map(|file| file.name.clone())
            .filter(|name| !held.contains(name.as_str()))
            .collect()
    } else {
        registration.wanted.clone()
    };
    Ack {
        file_ids,
        candidate_ids,
        wanted,
    }
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
