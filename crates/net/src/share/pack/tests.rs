//! A pack hashed and served by a seeder and written by a receiver, in
//! one folder each.

use super::*;
use backlog::WAITING_BYTES;
use mpitorrent_core::holdings::Holdings;
use mpitorrent_core::tree::pack::Pack;
use mpitorrent_core::tree::{FileMeta, Mtime, TreeEntry};
use mpitorrent_core::FileId;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::Ordering;

/// Members of 3, 0, 4 and 2 bytes at 4-byte segments: `a` in segment 0,
/// `e` empty, `b` across segments 0 and 1, `c` in segment 1 and 2.
const MEMBERS: [(&str, &[u8]); 4] = [
    ("a", b"aaa"),
    ("e", b""),
    ("sub/b", b"bbbb"),
    ("sub/c", b"cc"),
];

fn layout() -> PackLayout {
    let entries: Vec<TreeEntry> = MEMBERS
        .iter()
        .map(|(name, bytes)| TreeEntry::File {
            name: name.to_string(),
            meta: FileMeta {
                size: bytes.len() as u64,
                mode: 0o640,
                mtime: Mtime {
                    secs: 1_000_000_000,
                    nanos: 7,
                },
            },
        })
        .collect();
    let pack = Pack {
        name: "/pack 1: a and 3 more".into(),
        members: vec![0, 1, 2, 3],
    };
    PackLayout::new(&pack, &entries, 4).unwrap()
}

fn packed(dir: &Path, local: bool) -> PackedFile {
    fs::create_dir_all(dir.join("sub")).unwrap();
    let place = PackPlace {
        root: Arc::new(Folder::open(dir).unwrap()),
        owner: 2,
        fsync: false,
        cache: Arc::default(),
    };
    PackedFile::new(layout(), 0, place, vec![local; MEMBERS.len()])
}

fn whole() -> Vec<u8> {
    MEMBERS
        .iter()
        .flat_map(|(_, bytes)| bytes.iter().copied())
        .collect()
}

/// The pack as a receiver's holdings see it, lacking every segment.
fn lacking(holdings: &Holdings) -> Arc<HeldFile> {
    let hashes = whole().chunks(4).map(hash_segment).collect();
    holdings.add_empty(FileId(0), layout().name, hashes)
}

#[test]
fn a_seeder_hashes_and_serves_its_members_concatenated() {
    let dir = tempfile::tempdir().unwrap();
    let seeder = packed(dir.path(), true);
    for (name, bytes) in MEMBERS {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let bytes = whole();
    let segments: Vec<&[u8]> = bytes.chunks(4).collect();
    let hashes = seeder.hash(&|_| None, &|_| None).unwrap();
    let expected: Vec<String> = segments.iter().map(|s| hash_segment(s)).collect();
    assert_eq!(hashes, expected);
    // Served from the cache the hashing filled, and from the members once
    // it is gone.
    for cache in [seeder.cache.clone(), Arc::default()] {
        let fresh = PackedFile {
            cache,
            ..packed(dir.path(), true)
        };
        for (index, segment) in segments.iter().enumerate() {
            let mut out = vec![9];
            fresh.append_segment(index as u64, &mut out).unwrap();
            assert_eq!(&out[1..], *segment, "segment {index}");
        }
    }
    // A manifest whose hash of a member differs names it.
    let listed = [hash_segment(b"not b")];
    let err = seeder
        .hash(&|name| (name == "sub/b").then_some(&listed[..]), &|_| None)
        .unwrap_err();
    assert!(
        err.starts_with("segment 1 of sub/b does not match its hash"),
        "{err}"
    );
    // A member that shrank since the plan.
    fs::write(dir.path().join("sub/c"), b"c").unwrap();
    let err = packed(dir.path(), true)
        .hash(&|_| None, &|_| None)
        .unwrap_err();
    assert!(err.contains("changed while it was shared"), "{err}");
    // The bytes the scan kept are hashed, not the file (c as it was).
    let kept = |name: &str| (name == "sub/c").then_some(&b"cc"[..]);
    let hashes = packed(dir.path(), true).hash(&|_| None, &kept).unwrap();
    assert_eq!(hashes, expected);
}

/// The names in `folder` below `dir`, sorted.
fn names(dir: &Path, folder: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join(folder))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Stores segment `index` and waits until its writer wrote it.
fn stored(receiver: &Arc<PackedFile>, file: &HeldFile, index: u64, bytes: &[u8]) {
    receiver.store(file, index, bytes).unwrap();
    receiver.backlog.wait().unwrap();
}

#[test]
fn a_receiver_renames_each_member_once_its_segments_are_in() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Arc::new(packed(dir.path(), false));
    let holdings = Holdings::new();
    let (bytes, file) = (whole(), lacking(&holdings));
    let segment = |i: usize| &bytes[i * 4..(i * 4 + 4).min(bytes.len())];
    stored(&receiver, &file, 1, segment(1));
    assert!(
        !dir.path().join("sub/b").exists(),
        "b still lacks segment 0"
    );
    stored(&receiver, &file, 0, segment(0));
    assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"aaa");
    assert_eq!(fs::read(dir.path().join("sub/b")).unwrap(), b"bbbb");
    let meta = fs::metadata(dir.path().join("sub/b")).unwrap();
    assert_eq!(
        (meta.permissions().mode() & 0o777, meta.mtime()),
        (0o640, 1_000_000_000)
    );
    assert!(!dir.path().join("sub/c").exists());
    // Served while c is written: from its temporary.
    let mut out = Vec::new();
    receiver.append_segment(1, &mut out).unwrap();
    assert_eq!(out, segment(1));
    receiver.store(&file, 2, segment(2)).unwrap();
    receiver.complete(&file).unwrap();
    for (name, bytes) in MEMBERS {
        assert_eq!(fs::read(dir.path().join(name)).unwrap(), bytes, "{name}");
    }
    assert_eq!(
        names(dir.path(), "."),
        ["a", "e", "sub"],
        "no temporary left"
    );
    assert_eq!(names(dir.path(), "sub"), ["b", "c"]);
}

#[test]
fn a_segment_is_served_while_it_waits_to_be_written_and_written_here_when_too_much_waits() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Arc::new(packed(dir.path(), false));
    let holdings = Holdings::new();
    let (bytes, file) = (whole(), lacking(&holdings));
    // Queued, and the cache lost it: served from the backlog.
    receiver.writing(&mut receiver.lock(), &file).unwrap();
    let queued = receiver.backlog.push(0, Arc::from(&bytes[..4])).unwrap();
    assert_eq!(queued, Pushed::Queued { start: true });
    let mut out = Vec::new();
    receiver.append_segment(0, &mut out).unwrap();
    assert_eq!(out, bytes[..4]);
    receiver.write_backlog();
    assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"aaa");
    // With the rank's backlog full, the segment is written at once.
    receiver
        .cache
        .waiting
        .store(WAITING_BYTES, Ordering::Relaxed);
    receiver.store(&file, 1, &bytes[4..8]).unwrap();
    assert_eq!(fs::read(dir.path().join("sub/b")).unwrap(), b"bbbb");
    receiver.cache.waiting.store(0, Ordering::Relaxed);
}

#[test]
fn a_member_that_cannot_be_written_fails_the_pack_and_leaves_no_half_file() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Arc::new(packed(dir.path(), false));
    // A folder (not empty) where b goes: b's final name cannot be had.
    fs::create_dir_all(dir.path().join("sub/b/inside")).unwrap();
    let holdings = Holdings::new();
    let (bytes, file) = (whole(), lacking(&holdings));
    for (index, segment) in bytes.chunks(4).enumerate() {
        // The error may come back from a later store or at the end.
        if receiver.store(&file, index as u64, segment).is_err() {
            break;
        }
    }
    let err = receiver.complete(&file).unwrap_err();
    assert!(err.contains("sub/b is a folder"), "{err}");
    receiver.abandon();
    assert_eq!(
        names(dir.path(), "sub"),
        ["b"],
        "c not written after the error"
    );
    assert_eq!(names(dir.path(), "sub/b"), ["inside"]);
    assert_eq!(
        fs::read(dir.path().join("a")).unwrap(),
        b"aaa",
        "a was whole"
    );
}

#[test]
fn abandoning_while_segments_wait_leaves_whole_members_only() {
    // Racy by nature (the writer runs on its own thread): many times.
    for _ in 0..200 {
        let dir = tempfile::tempdir().unwrap();
        let receiver = Arc::new(packed(dir.path(), false));
        let holdings = Holdings::new();
        let (bytes, file) = (whole(), lacking(&holdings));
        receiver.store(&file, 0, &bytes[..4]).unwrap();
        receiver.store(&file, 2, &bytes[8..]).unwrap();
        receiver.abandon();
        // Segment 0 completes a (and e, empty, within it), never b or c.
        for (name, bytes) in MEMBERS {
            let path = dir.path().join(name);
            if path.exists() {
                assert!(name == "a" || name == "e", "{name} is not whole");
                assert_eq!(fs::read(path).unwrap(), bytes, "{name}");
            }
        }
        assert!(names(dir.path(), "sub").is_empty(), "no temporary");
        let top = names(dir.path(), ".");
        assert!(
            top.iter().all(|n| ["a", "e", "sub"].contains(&&n[..])),
            "{top:?}"
        );
    }
}

#[test]
fn abandoning_removes_the_members_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Arc::new(packed(dir.path(), false));
    let holdings = Holdings::new();
    let file = lacking(&holdings);
    stored(&receiver, &file, 1, &whole()[4..8]);
    receiver.abandon();
    assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 0);
    assert!(!dir.path().join("a").exists());
}
