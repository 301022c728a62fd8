//! Turning every peer's registration into the tracker's file table, with
//! the checks that must pass before any download starts (two ranks
//! listing one file list the same segments, every wanted file has an
//! owner, and a `share` job shares something), and one writer for each
//! folder that several `share` ranks write into.

use super::swarm::FileSwarm;
use crate::{hash_known, FileId, FileListing, Rank, Registration, SegmentIdx};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

/// The file table built from all registrations: files numbered in name
/// order (so ids do not depend on which registration arrived first), and
/// what to tell each peer in its ACK.
pub(super) struct FileTable {
    pub files: Vec<FileSwarm>,
    pub by_name: HashMap<String, FileId>,
    /// One per registration, in the order given.
    pub acks: Vec<Ack>,
    /// The files whose hashes are still to come, with the ranks that will
    /// send them (see `late.rs`).
    pub late: Vec<(FileId, Vec<LateOwner>)>,
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

/// An owner that registered a file with hashes to come: it holds (for the
/// tracker) only the segments whose hashes it has sent, and must send the
/// rest of `part` (the whole file, or its stripe) in order from
/// `published` on.
pub(super) struct LateOwner {
    pub rank: Rank,
    pub part: Range<SegmentIdx>,
    pub published: u32,
}

/// A file being collected: every hash known so far (the listings merged),
/// and each rank's listing of it, in registration order, with the stripe
/// it reads if it reads one.
struct Entry<'a> {
    hashes: Vec<String>,
    listings: Vec<(Rank, &'a FileListing, Option<Range<SegmentIdx>>)>,
}

/// Builds the table from `(rank, registration)` pairs, or says why the job
/// cannot run: two ranks list the same file differently, or a peer wants a
/// file nobody owns. (A job that registers no file at all is fine: a
/// classic swarm of peers that own and want nothing, or a `share` rerun
/// whose files nobody fetches; `share` refuses an empty `--from` in its
/// plan, before registration.)
pub(super) fn build_file_table<'a>(
    registrations: impl Iterator<Item = (Rank, &'a Registration)> + Clone,
) -> Result<FileTable, String> {
    let mut table: BTreeMap<&str, Entry> = BTreeMap::new();
    for (rank, registration) in registrations.clone() {
        let stripes = stripes_of(rank, registration)?;
        for listing in &registration.owned {
            let stripe = stripes.get(listing.name.as_str()).cloned();
            match table.get_mut(listing.name.as_str()) {
                None => {
                    let entry = Entry {
                        hashes: listing.hashes.clone(),
                        listings: vec![(rank, listing, stripe)],
                    };
                    table.insert(&listing.name, entry);
                }
                Some(entry) => {
                    if let Some(problem) = listing_conflict(&entry.listings, listing, rank) {
                        return Err(problem);
                    }
                    // What one listing has still to send, another may know.
                    for (known, hash) in entry.hashes.iter_mut().zip(&listing.hashes) {
                        if !hash_known(known) {
                            known.clone_from(hash);
                        }
                    }
                    entry.listings.push((rank, listing, stripe));
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
                // (A hash still to come matches nothing.)
                Some(entry) if entry.hashes == candidate.hashes => {
                    entry.listings.push((rank, candidate, None));
                    true
                }
                Some(Entry { hashes, .. }) if hashes.len() == candidate.hashes.len() => {
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
    let mut by_name = HashMap::new();
    let mut files = Vec::new();
    let mut late = Vec::new();
    for (index, (name, entry)) in table.into_iter().enumerate() {
        let id = FileId(index as u32);
        by_name.insert(name.to_string(), id);
        let (swarm, owners) = swarm_of(name, entry)?;
        files.push(swarm);
        if !owners.is_empty() {
            late.push((id, owners));
        }
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
        late,
    })
}

/// The swarm of one file: the ranks that listed every hash are its seeds;
/// one that listed some still to come holds only the segments it listed a
/// hash for, and gets the others of its part (the file, or its stripe) as
/// it sends their hashes (its late owner, returned). The swarm starts
/// with every hash some listing knew; a `share` seeder lists none, so
/// there every hash is agreed in `late.rs`, once every seeder reading it
/// sent it. Refused: stripes that leave a segment nobody reads.
fn swarm_of(name: &str, entry: Entry) -> Result<(FileSwarm, Vec<LateOwner>), String> {
    let complete = |listing: &FileListing| listing.hashes.iter().all(|h| hash_known(h));
    let seeds = entry
        .listings
        .iter()
        .filter(|(_, listing, _)| complete(listing))
        .map(|&(rank, _, _)| rank)
        .collect();
    let segments = entry.hashes.len() as SegmentIdx;
    let mut swarm = FileSwarm::new(name.to_string(), entry.hashes, seeds);
    let mut late = Vec::new();
    let mut unread = vec![true; segments as usize];
    for (rank, listing, stripe) in entry.listings {
        let part = stripe.clone().unwrap_or(0..segments);
        unread[part.start as usize..part.end as usize].fill(false);
        if complete(listing) {
            continue;
        }
        swarm.join(rank);
        swarm.initial_owners.push(rank);
        for (index, hash) in listing.hashes.iter().enumerate() {
            if hash_known(hash) {
                swarm.record(rank, index as SegmentIdx);
            }
        }
        let published = listing.hashes.iter().take_while(|h| hash_known(h)).count();
        if let Some(stripe) = stripe {
            swarm.stripes.push((rank, stripe));
        }
        late.push(LateOwner {
            rank,
            published: (published as u32).max(part.start),
            part,
        });
    }
    if let Some(first) = unread.iter().position(|&u| u) {
        return Err(format!(
            "protocol error: no seeder of '{name}' reads segment {}: the seeders' stripes \
             leave it out",
            first + 1
        ));
    }
    Ok((swarm, late))
}

/// The stripes `rank` registered, by file name, each checked: of a file
/// it registered with every hash to come, within the file, not empty.
fn stripes_of(
    rank: Rank,
    registration: &Registration,
) -> Result<HashMap<&str, Range<SegmentIdx>>, String> {
    let mut stripes = HashMap::new();
    for stripe in &registration.stripes {
        let listing = registration.owned.iter().find(|l| l.name == stripe.name);
        let late = listing.filter(|l| l.hashes.iter().all(|h| !hash_known(h)));
        let segments = late.map_or(0, |l| l.hashes.len() as SegmentIdx);
        let fits = stripe.first < stripe.end && stripe.end <= segments;
        if !fits
            || stripes
                .insert(stripe.name.as_str(), stripe.segments())
                .is_some()
        {
            return Err(format!(
                "protocol error: rank {rank} registered segments {}..{} of '{}' as its \
                 stripe, which is not a part of a file it registered with hashes to come",
                stripe.first + 1,
                stripe.end,
                stripe.name
            ));
        }
    }
    Ok(stripes)
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

/// Why `listing` (of `rank`) disagrees with the listings of the same name
/// before it, if it does: another segment count, or a segment whose hash
/// both know and differ on.
fn listing_conflict(
    before: &[(Rank, &FileListing, Option<Range<SegmentIdx>>)],
    listing: &FileListing,
    rank: Rank,
) -> Option<String> {
    let (first, first_listing, _) = before[0];
    if first_listing.hashes.len() != listing.hashes.len() {
        return Some(format!(
            "ranks {first} and {rank} both own file '{}' with different segments: \
             {} segments on rank {first} but {} on rank {rank}",
            listing.name,
            first_listing.hashes.len(),
            listing.hashes.len()
        ));
    }
    let index = (0..listing.hashes.len()).find(|&i| {
        let hash = &listing.hashes[i];
        hash_known(hash)
            && before
                .iter()
                .any(|(_, other, _)| differs(&other.hashes[i], hash))
    })?;
    let (other, other_listing, _) = before
        .iter()
        .find(|(_, other, _)| differs(&other.hashes[index], &listing.hashes[index]))
        .expect("found above");
    Some(hash_conflict(
        &listing.name,
        index as SegmentIdx,
        (*other, &other_listing.hashes[index]),
        (rank, &listing.hashes[index]),
    ))
}

/// Whether two hashes of one segment are both known and differ.
fn differs(a: &str, b: &str) -> bool {
    hash_known(a) && hash_known(b) && a != b
}

/// The message for two ranks that hash segment `index` of file `name`
/// differently: the same at registration and for hashes sent later.
pub(super) fn hash_conflict(
    name: &str,
    index: SegmentIdx,
    (first, first_hash): (Rank, &str),
    (rank, hash): (Rank, &str),
) -> String {
    format!(
        "ranks {first} and {rank} both own file '{name}' with different segments: \
         segment {} is '{first_hash}' on rank {first} but '{hash}' on rank {rank}",
        index + 1
    )
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

    fn table(registrations: &[Registration]) -> Result<FileTable, String> {
        let ranked = registrations
            .iter()
            .enumerate()
            .map(|(i, r)| (Rank(i as u32 + 1), r));
        build_file_table(ranked)
    }

    fn check(registrations: &[Registration]) -> Result<(), String> {
        table(registrations).map(|_| ())
    }

    /// How many files each registration is told to fetch.
    fn fetches(registrations: &[Registration]) -> Vec<usize> {
        let table = table(registrations).unwrap();
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
    fn a_job_that_registers_no_file_is_still_a_swarm() {
        // A classic swarm that owns and wants nothing, and a share rerun
        // whose files nobody fetches (its seeders register none).
        let classic = [Registration::default(), Registration::default()];
        assert_eq!(check(&classic), Ok(()));
        let rerun = [sharer(&[], "h", 1), sharer(&[], "h", 2)];
        assert_eq!(check(&rerun), Ok(()));
    }
}
