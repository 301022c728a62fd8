//! The share job's set-up: what each rank offers and registers.

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

/// Prepares ranks 1..`size`, plans the tree as rank 0 would, and
/// returns every peer's registration.
fn registrations(spec: &ShareSpec, size: u32) -> Result<Vec<Registration>, String> {
    let mut prepared = Vec::new();
    let mut offers = Vec::new();
    for rank in 1..size {
        let source = scan_source(Rank(rank), size, spec, &mut |_| {})?;
        let (peer, offer) = prepare(Rank(rank), spec, source)?;
        prepared.push(peer);
        offers.push((Rank(rank), offer));
    }
    let (plans, _) = mpitorrent_core::tree::plan_tree(&offers, spec.plan_options())?;
    prepared
        .into_iter()
        .zip(plans)
        .map(|(peer, plan)| share_peer(peer, plan).map(|(registration, _)| registration))
        .collect()
}

#[test]
fn a_seeder_offers_its_folder_and_everyone_offers_what_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    fs::create_dir_all(dir.path().join("src/1/sub")).unwrap();
    fs::write(dir.path().join("src/1/sub/a"), b"aaaa").unwrap();
    fs::create_dir_all(dir.path().join("dst/2")).unwrap();
    fs::create_dir_all(dir.path().join("dst/2/sub")).unwrap();
    fs::write(dir.path().join("dst/2/sub/a"), b"bbbb").unwrap();
    // Written within the same clock tick as the source: another time.
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
    let stale = fs::File::options()
        .write(true)
        .open(dir.path().join("dst/2/sub/a"));
    stale.unwrap().set_modified(old).unwrap();
    fs::write(dir.path().join("dst/2/b"), b"b").unwrap();
    let part = "dst/2/sub/.a.2-0123456789abcdef.part";
    fs::write(dir.path().join(part), b"aaaa").unwrap();
    let spec = ShareSpec {
        segment_size: 2,
        ..ShareSpec::for_test(
            format!("{root}/src/{{rank}}"),
            format!("{root}/dst/{{rank}}"),
            None,
        )
    };
    let ranks = registrations(&spec, 3).unwrap();
    let (seeder, other) = (&ranks[0], &ranks[1]);
    assert_eq!(seeder.owned[0].name, "sub/a");
    assert_eq!(seeder.owned[0].hashes.len(), 2);
    assert!(seeder.wanted.is_empty());
    assert!(other.owned.is_empty());
    assert_eq!(other.wanted, ["sub/a"]);
    let names: Vec<&str> = other.candidates.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["sub/a"],
        "the file of the source's size is hashed; neither the .part file of an \
         interrupted run nor a file the source lacks is"
    );
    let named = ShareSpec {
        seeders: Some(vec![2]),
        ..spec
    };
    let err = scan_source(Rank(2), 3, &named, &mut |_| {}).unwrap_err();
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
    // Of a segment each (smaller ones would be packed).
    fs::write(dir.path().join("data/a"), b"aa").unwrap();
    fs::write(dir.path().join("data/copies/2/a"), b"aa").unwrap();
    // Another time than the source's, or rank 2's copy would count as
    // complete (same size and time), nobody would fetch `a` and the
    // seeder would rightly not register it.
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
    let copy = fs::File::options()
        .write(true)
        .open(dir.path().join("data/copies/2/a"));
    copy.unwrap().set_modified(old).unwrap();
    fs::write(dir.path().join("data/copies/kept"), b"kk").unwrap();
    let spec = ShareSpec {
        segment_size: 2,
        ..ShareSpec::for_test(
            format!("{root}/data"),
            format!("{root}/data/copies/{{rank}}"),
            Some(vec![1]),
        )
    };
    let ranks = registrations(&spec, 3).unwrap();
    let names: Vec<&str> = ranks[0].owned.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["a", "copies/kept"],
        "copies/1 and copies/2 are skipped"
    );
}
