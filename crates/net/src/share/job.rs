//! One peer's part of a `share` job: which files it offers (a folder, if it
//! is a seeder), what is already intact at its destination (a rerun), and
//! the [`ShareContent`] that stores and serves the bytes.

use super::content::{ShareContent, WriteOptions};
use super::scan::{scan_folder, ScannedFile};
use mpitorrent_core::escape::shown_path;
use mpitorrent_core::{FileListing, Rank, Registration};
use mpitorrent_fs::beneath::FolderId;
use mpitorrent_fs::Folder;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

/// What the user asked `share` for; folders may hold `{rank}`.
#[derive(Clone, Debug)]
pub struct ShareSpec {
    /// The folder of files to share, on the ranks that have it.
    pub from: String,
    /// Where each rank writes every shared file it lacks.
    pub to: String,
    /// The ranks that read `from` (default: every peer rank where it exists).
    pub seeders: Option<Vec<u32>>,
    pub segment_size: u64,
    /// How received files are written (`--fsync`, `--direct`).
    pub write: WriteOptions,
}

/// `template` with `{rank}` replaced by the rank and `{node}` by this
/// machine's host name (the node the rank runs on).
pub fn expand(template: &str, rank: Rank) -> PathBuf {
    let mut path = template.replace("{rank}", &rank.to_string());
    if path.contains("{node}") {
        path = path.replace("{node}", &super::destination::host_name());
    }
    PathBuf::from(path)
}

/// Scans what this rank (of a job of `size` ranks) offers and already
/// has, for its registration. Problems come back as the one line the user
/// reads; skipped files go to `warn`.
pub fn share_peer(
    rank: Rank,
    size: u32,
    spec: &ShareSpec,
    warn: &mut dyn FnMut(String),
) -> Result<(Registration, ShareContent), String> {
    let in_rank = |e: mpitorrent_fs::Error| format!("rank {rank}: {e}");
    let from = expand(&spec.from, rank);
    let seeder = match &spec.seeders {
        Some(seeders) => seeders.contains(&rank.0),
        None => from.is_dir(),
    };
    if seeder && !from.is_dir() {
        return Err(format!(
            "rank {rank}: --from {} is not a folder, but this rank is a seeder",
            shown_path(&from)
        ));
    }
    // The destination itself is the user's path, created as given (links
    // included); everything below it is opened through its descriptor.
    let to = expand(&spec.to, rank);
    std::fs::create_dir_all(&to)
        .map_err(|e| format!("rank {rank}: cannot create --to {}: {e}", shown_path(&to)))?;
    let to_folder = Arc::new(Folder::open(&to).map_err(in_rank)?);
    let mut complete = HashMap::new();
    let mut owned = Vec::new();
    if seeder {
        let from_folder = Arc::new(Folder::open(&from).map_err(in_rank)?);
        let skip = destinations(spec, size);
        let files = scan_folder(&from_folder, spec.segment_size, &skip, warn).map_err(in_rank)?;
        owned = listings(files, &from_folder, &mut complete);
    }
    let destination = super::destination::destination_of(&to)
        .map_err(|e| format!("rank {rank}: cannot read --to {}: {e}", shown_path(&to)))?;
    // What is already at the destination is offered as a candidate: the
    // tracker counts it as held only if it is exactly what the owners list.
    let found = scan_folder(&to_folder, spec.segment_size, &[], &mut |_| {}).map_err(in_rank)?;
    let found = found
        .into_iter()
        .filter(|f| !is_temporary(&f.name))
        .collect();
    let candidates = listings(found, &to_folder, &mut complete);
    let registration = Registration {
        owned,
        wanted: Vec::new(),
        want_all: true,
        candidates,
        destination: Some(destination),
    };
    let content = ShareContent::new(to_folder, rank, spec.segment_size, spec.write, complete);
    Ok((registration, content))
}

/// The folders every peer rank of the job writes to (`--to` for ranks
/// 1..`size`) that exist here, by identity: a seeder whose `--from`
/// holds one of them skips it, so a rerun never offers (and copies) the
/// output into itself. Compared by device and inode, which no spelling of
/// a path (links, `..`, bind mounts) can hide.
fn destinations(spec: &ShareSpec, size: u32) -> Vec<FolderId> {
    let mut paths: Vec<PathBuf> = (1..size).map(|r| expand(&spec.to, Rank(r))).collect();
    paths.dedup();
    let mut ids: Vec<FolderId> = paths
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .filter(|meta| meta.is_dir())
        .map(|meta| (meta.dev(), meta.ino()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Listings for the tracker; remembers which folder each file is under.
fn listings(
    files: Vec<ScannedFile>,
    root: &Arc<Folder>,
    roots: &mut HashMap<String, Arc<Folder>>,
) -> Vec<FileListing> {
    files
        .into_iter()
        .map(|file| {
            roots.insert(file.name.clone(), Arc::clone(root));
            FileListing {
                name: file.name,
                hashes: file.hashes,
            }
        })
        .collect()
}

/// A temporary file of a run, this one's or an interrupted one's
/// ([`mpitorrent_fs::temp`]'s pattern, any rank).
fn is_temporary(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    mpitorrent_fs::temp::parse(base.as_ref()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn expands_the_rank_and_the_node() {
        assert_eq!(
            expand("/local/{rank}/data", Rank(3)),
            PathBuf::from("/local/3/data")
        );
        let host = super::super::destination::host_name();
        assert_eq!(
            expand("/local/{node}/{rank}", Rank(2)),
            PathBuf::from(format!("/local/{host}/2"))
        );
    }

    #[test]
    fn a_seeder_offers_its_folder_and_everyone_offers_what_is_intact() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        fs::create_dir_all(dir.path().join("src/1/sub")).unwrap();
        fs::write(dir.path().join("src/1/sub/a"), b"aaaa").unwrap();
        fs::create_dir_all(dir.path().join("dst/2")).unwrap();
        fs::write(dir.path().join("dst/2/b"), b"b").unwrap();
        fs::write(dir.path().join("dst/2/.c.2-0123456789abcdef.part"), b"half").unwrap();
        let spec = ShareSpec {
            from: format!("{root}/src/{{rank}}"),
            to: format!("{root}/dst/{{rank}}"),
            seeders: None,
            segment_size: 2,
            write: WriteOptions::default(),
        };
        let (seeder, _) = share_peer(Rank(1), 3, &spec, &mut |_| {}).unwrap();
        assert_eq!(seeder.owned[0].name, "sub/a");
        assert_eq!(seeder.owned[0].hashes.len(), 2);
        assert!(seeder.want_all);
        let (other, _) = share_peer(Rank(2), 3, &spec, &mut |_| {}).unwrap();
        assert!(other.owned.is_empty());
        let names: Vec<&str> = other.candidates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["b"],
            "the .part file of an interrupted run is not offered"
        );
        let named = ShareSpec {
            seeders: Some(vec![2]),
            ..spec
        };
        let err = share_peer(Rank(2), 3, &named, &mut |_| {}).unwrap_err();
        assert!(
            err.contains("is not a folder, but this rank is a seeder"),
            "{err}"
        );
    }

    #[test]
    fn a_seeder_skips_every_ranks_destination_inside_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        fs::create_dir_all(dir.path().join("data/copies/2")).unwrap();
        fs::write(dir.path().join("data/a"), b"a").unwrap();
        fs::write(dir.path().join("data/copies/2/a"), b"a").unwrap();
        fs::write(dir.path().join("data/copies/kept"), b"k").unwrap();
        let spec = ShareSpec {
            from: format!("{root}/data"),
            to: format!("{root}/data/copies/{{rank}}"),
            seeders: Some(vec![1]),
            segment_size: 2,
            write: WriteOptions::default(),
        };
        let (seeder, _) = share_peer(Rank(1), 3, &spec, &mut |_| {}).unwrap();
        let names: Vec<&str> = seeder.owned.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["a", "copies/kept"],
            "copies/1 and copies/2 are skipped"
        );
    }
}
