//! One peer's part of a `share` job: which files it offers (a folder, if it
//! is a seeder), what is already intact at its destination (a rerun), and
//! the [`ShareContent`] that stores and serves the bytes.

use super::content::{ShareContent, WriteOptions};
use super::scan::{scan_folder, ScannedFile};
use mpitorrent_core::{FileListing, Rank, Registration};
use std::collections::HashMap;
use std::path::PathBuf;

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

/// `template` with `{rank}` replaced by the rank.
pub fn expand(template: &str, rank: Rank) -> PathBuf {
    PathBuf::from(template.replace("{rank}", &rank.to_string()))
}

/// Scans what this rank offers and already has, for its registration.
/// Problems come back as the one line the user reads; skipped files go to
/// `warn`.
pub fn share_peer(
    rank: Rank,
    spec: &ShareSpec,
    warn: &mut dyn FnMut(String),
) -> Result<(Registration, ShareContent), String> {
    let from = expand(&spec.from, rank);
    let seeder = match &spec.seeders {
        Some(seeders) => seeders.contains(&rank.0),
        None => from.is_dir(),
    };
    let mut complete = HashMap::new();
    let mut owned = Vec::new();
    if seeder {
        if !from.is_dir() {
            return Err(format!(
                "rank {rank}: --from {} is not a folder, but this rank is a seeder",
                from.display()
            ));
        }
        let files = scan_folder(&from, spec.segment_size, warn)
            .map_err(|e| format!("rank {rank}: cannot read {}: {e}", from.display()))?;
        owned = listings(files, &mut complete);
    }
    let to = expand(&spec.to, rank);
    std::fs::create_dir_all(&to)
        .map_err(|e| format!("rank {rank}: cannot create --to {}: {e}", to.display()))?;
    let destination = super::destination::destination_of(&to)
        .map_err(|e| format!("rank {rank}: cannot read --to {}: {e}", to.display()))?;
    // What is already at the destination is offered as a candidate: the
    // tracker counts it as held only if it is exactly what the owners list.
    let found = scan_folder(&to, spec.segment_size, &mut |_| {})
        .map_err(|e| format!("rank {rank}: cannot read {}: {e}", to.display()))?;
    let found = found.into_iter().filter(|f| !is_partial(&f.name)).collect();
    let candidates = listings(found, &mut complete);
    let registration = Registration {
        owned,
        wanted: Vec::new(),
        want_all: true,
        candidates,
        destination: Some(destination),
    };
    Ok((
        registration,
        ShareContent::new(to, spec.segment_size, spec.write, complete),
    ))
}

/// Listings for the tracker; remembers where each file is.
fn listings(files: Vec<ScannedFile>, paths: &mut HashMap<String, PathBuf>) -> Vec<FileListing> {
    files
        .into_iter()
        .map(|file| {
            paths.insert(file.name.clone(), file.path);
            FileListing {
                name: file.name,
                hashes: file.hashes,
            }
        })
        .collect()
}

/// A temporary file of an interrupted run (`.name.part-<pid>`).
fn is_partial(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.starts_with('.') && base.contains(".part-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn expands_the_rank() {
        assert_eq!(
            expand("/local/{rank}/data", Rank(3)),
            PathBuf::from("/local/3/data")
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
        fs::write(dir.path().join("dst/2/.c.part-77"), b"half").unwrap();
        let spec = ShareSpec {
            from: format!("{root}/src/{{rank}}"),
            to: format!("{root}/dst/{{rank}}"),
            seeders: None,
            segment_size: 2,
            write: WriteOptions::default(),
        };
        let (seeder, _) = share_peer(Rank(1), &spec, &mut |_| {}).unwrap();
        assert_eq!(seeder.owned[0].name, "sub/a");
        assert_eq!(seeder.owned[0].hashes.len(), 2);
        assert!(seeder.want_all);
        let (other, _) = share_peer(Rank(2), &spec, &mut |_| {}).unwrap();
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
        let err = share_peer(Rank(2), &named, &mut |_| {}).unwrap_err();
        assert!(
            err.contains("is not a folder, but this rank is a seeder"),
            "{err}"
        );
    }
}
