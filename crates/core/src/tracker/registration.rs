//! Turning every peer's registration into the tracker's file table, with
//! the checks that must pass before any download starts (two ranks
//! listing one file list the same segments, every wanted file has an
//! owner, and a `share` job shares something), and one writer for each
//! folder that several `share` ranks write into.

use super::swarm::FileSwarm;
use crate::{FileId, FileListing, Rank, Registration, SegmentIdx};
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
/// cannot run: two ranks list the same file differently, a peer wants a file nobody owns, or (in a `share`
/// job, whose `--from` template is `share_from`) no rank offers any file.
pub(super) fn build_file_table<'a>(
    registrations: impl Iterator<Item = (Rank, &'a Registration)> + Clone,
    share_from: Option<&str>,
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
    // exactly what the owners list; then that peer owns it too. One of as
    // many segments, some of them the owners', is partly held: the peer
    // resumes it, fetching only the others.
    let mut matched: Vec<Vec<bool>> = Vec::new();
    let mut partly: Vec<(&str, Rank, Vec<SegmentIdx>)> = Vec::new();
    for (rank, registration) in registrations.clone() {
        let matches = registration
            .candidates
            .iter()
            .map(|candidate| match table.get_mut(candidate.name.as_str()) {
                Some((hashes, _, owners)) if *hashes == candidate.hashes.as_slice() => {
                    owners.push(rank);
                    true
                }
                Some((hashes, _, _)) if hashes.len() == candidate.hashes.len() => {
                    let same = (0..hashes.len() as SegmentIdx)
                        .filter(|&i| hashes[i as usize] == candidate.hashes[i as usize]);
                    partly.push((&candidate.name, rank, same.collect()));
                    false
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
    if let (Some(from), true) = (share_from, table.is_empty()) {
        return Err(format!(
            "nothing to share: no rank has a file under --from {from} \
             (the folder is missing or empty on every peer rank)"
        ));
    }
    let mut by_name = HashMap::new();
    let mut files = Vec::new();
    for (index, (name, (hashes, _, owners))) in table.into_iter().enumerate() {
        by_name.insert(name.to_string(), FileId(index as u32));
        files.push(FileSwarm::new(name.to_string(), hashes.to_vec(), owners));
    }
    for (name, rank, held) in partly {
        let swarm = &mut files[by_name[name].index()];
        for index in held {
            swarm.record(rank, index);
        }
    }
    let mut acks: Vec<Ack> = registrations
        .clone()
        .zip(matched)
        .map(|((_, registration), matches)| ack(registration, &matches, &files, &by_name))
        .collect();
    for follower in followers(registrations, &acks) {
        acks[follower].wanted.clear();
    }
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

/// The registrations (by position) that fetch nothing because another
/// rank writes into the same folder: of the ranks whose destinations are
/// one folder (several ranks of a node with `--to /local/{node}`, or one
/// `--to` for every rank of `--local`), only the first that lacks a file
/// fetches and writes; the others would race it for the same final names
/// and move the same bytes again. They still serve what is complete there
/// (the candidates they registered) to every other rank.
fn followers<'a>(
    registrations: impl Iterator<Item = (Rank, &'a Registration)>,
    acks: &[Ack],
) -> Vec<usize> {
    let mut groups: HashMap<(&str, u64, u64), Vec<usize>> = HashMap::new();
    for (position, (_, registration)) in registrations.enumerate() {
        if let Some(destination) = &registration.destination {
            groups
                .entry(destination.identity())
                .or_default()
                .push(position);
        }
    }
    let mut followers = Vec::new();
    for members in groups.into_values() {
        let writer = members
            .iter()
            .copied()
            .find(|&m| !acks[m].wanted.is_empty())
            .unwrap_or(members[0]);
        followers.extend(members.into_iter().filter(|&m| m != writer));
    }
    followers.sort_unstable();
    followers
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Destination;

    fn sharer(owned: &[&str], host: &str, inode: u64) -> Registration {
        Registration {
            owned: owned
                .iter()
                .map(|name| FileListing {
                    name: name.to_string(),
                    hashes: vec!["h".into()],
                })
                .collect(),
            want_all: true,
            destination: Some(Destination {
                host: host.into(),
                device: 7,
                inode,
                path: format!("/to/{inode}"),
            }),
            ..Registration::default()
        }
    }

    fn table(
        registrations: &[Registration],
        share_from: Option<&str>,
    ) -> Result<FileTable, String> {
        let ranked = registrations
            .iter()
            .enumerate()
            .map(|(i, r)| (Rank(i as u32 + 1), r));
        build_file_table(ranked, share_from)
    }

    fn check(registrations: &[Registration], share_from: Option<&str>) -> Result<(), String> {
        table(registrations, share_from).map(|_| ())
    }

    /// How many files each registration is told to fetch.
    fn fetches(registrations: &[Registration]) -> Vec<usize> {
        let table = table(registrations, Some("src")).unwrap();
        table.acks.iter().map(|ack| ack.wanted.len()).collect()
    }

    #[test]
    fn one_rank_writes_each_folder_that_several_write_into() {
        // Ranks 2 and 3 share a folder; 4 has its own; 5 shares the
        // seeder's (1), which lacks nothing, so 5 writes it.
        let ranks = [
            sharer(&["a", "b"], "h", 1),
            sharer(&[], "h", 2),
            sharer(&[], "h", 2),
            sharer(&[], "h", 4),
            sharer(&[], "h", 1),
        ];
        assert_eq!(fetches(&ranks), [0, 2, 0, 2, 2]);
        let three = [
            sharer(&["a"], "h", 9),
            sharer(&[], "h", 5),
            sharer(&[], "h", 5),
            sharer(&[], "h", 5),
        ];
        assert_eq!(fetches(&three), [0, 1, 0, 0]);
    }

    #[test]
    fn the_same_inode_on_other_hosts_is_another_folder() {
        let hosts = [
            sharer(&["a"], "n1", 2),
            sharer(&[], "n2", 2),
            sharer(&[], "n3", 2),
        ];
        assert_eq!(fetches(&hosts), [0, 1, 1]);
    }

    #[test]
    fn a_share_that_offers_nothing_is_refused_naming_from() {
        let empty = [sharer(&[], "h", 1), sharer(&[], "h", 2)];
        let err = check(&empty, Some("/data/{rank}")).unwrap_err();
        assert!(
            err.starts_with("nothing to share: no rank has a file under --from /data/{rank}"),
            "{err}"
        );
        // A classic swarm that owns and wants nothing is still a swarm.
        let classic = [Registration::default(), Registration::default()];
        assert_eq!(check(&classic, None), Ok(()));
    }
}
