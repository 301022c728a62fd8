//! Finding the files under a folder and listing each as a classic file:
//! its relative path (with `/` separators), its size, mode and time, and
//! (if asked) the BLAKE3 hash of every segment, read one segment at a
//! time; and the folders (empty ones included) and, with `--links`, the
//! symbolic links of the tree. The walk opens every folder and file
//! beneath the root without following links ([`mpitorrent_fs::beneath`]),
//! on several threads ([`mpitorrent_fs::walk`]).

use mpitorrent_core::content::{hash_segment, relative_path_problem};
use mpitorrent_core::escape::shown_path;
use mpitorrent_core::tree::{FileMeta, TreeEntry};
use mpitorrent_fs::beneath::{FolderId, Kind, Visitor};
use mpitorrent_fs::bounded::{open_regular, ReadError};
use mpitorrent_fs::meta::{meta_of, open_with_meta, read_link};
use mpitorrent_fs::walk::walk_parallel;
use mpitorrent_fs::{Error, Folder};
use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// A regular file found under a shared folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedFile {
    /// The path relative to the folder, `/`-separated: the file's name in
    /// the swarm, and where it is below the folder on this rank.
    pub name: String,
    pub meta: FileMeta,
    /// Empty unless the scan hashes ([`ScanOptions::hash`]).
    pub hashes: Vec<String>,
    /// The bytes of a file smaller than a segment, read while it was
    /// open, if the scan keeps them ([`ScanOptions::keep_small`]).
    pub bytes: Option<Vec<u8>>,
}

/// The most bytes of small files a scan keeps ([`ScanOptions::keep_small`]);
/// those past it are read again when their packs are hashed.
pub const KEEP_SMALL_BYTES: u64 = 16 << 20;

/// What a scan looks at.
#[derive(Clone, Copy, Debug)]
pub struct ScanOptions {
    pub segment_size: u64,
    /// Hash every file (a seeder's `--from`); a destination is only
    /// listed by size and time until the plan says what to hash.
    pub hash: bool,
    /// List symbolic links (`--links`) instead of skipping them.
    pub links: bool,
    /// With `hash`, hash files smaller than a segment too (a seeder of
    /// `share` leaves them to its packs: see [`super::pack`]).
    pub hash_small: bool,
    /// Keep the bytes of files smaller than a segment, up to
    /// [`KEEP_SMALL_BYTES`] in all: a seeder's packs hash them without
    /// opening each file again (20,000 files of 150 bytes: 100,000 system
    /// calls fewer before the swarm starts).
    pub keep_small: bool,
}

impl ScanOptions {
    /// Names, sizes, modes and times alone: nothing hashed, no links, no
    /// bytes kept (a destination's scan).
    pub fn listing(segment_size: u64) -> ScanOptions {
        ScanOptions {
            segment_size,
            hash: false,
            links: false,
            hash_small: false,
            keep_small: false,
        }
    }
}

/// Everything a scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    /// Regular files, sorted by name.
    pub files: Vec<ScannedFile>,
    /// Folders below the root and (with `links`) links, sorted by name.
    pub others: Vec<TreeEntry>,
}

/// Hashes the regular file at `path` (a path the user named) segment by
/// segment: its size and the segment hashes. Anything else (a device, a
/// FIFO) is refused: it may never end.
pub fn hash_file(path: &Path, segment_size: u64) -> Result<(u64, Vec<String>), ReadError> {
    let file = open_regular(path)?;
    hash_open(file, segment_size).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Hashes an open file (or its first bytes: `Read::take`) segment by
/// segment, on every core this process may use. BLAKE3 runs at about 3 GB/s
/// on one core, and reading from the page cache costs about as much again
/// in the kernel, so a seeder that reads and hashes a large source on one
/// thread makes every rank wait for it: here one thread reads batches of
/// segments (about [`HASH_BATCH`] bytes, at least one segment per core)
/// while the others hash the batch before, in order.
pub fn hash_open(file: impl Read + Send, segment_size: u64) -> io::Result<(u64, Vec<String>)> {
    let mut hashes = Vec::new();
    let size = hash_batches(file, segment_size, usize::MAX, &mut |batch| {
        hashes.extend(batch);
        Ok(())
    })?;
    Ok((size, hashes))
}

/// [`hash_open`] a batch at a time: hands the hashes of each batch of at
/// most `most` segments (fewer if [`HASH_BATCH`] bytes come first, more if
/// the cores outnumber them) to `done` as soon as they are ready, in
/// order, while the next batch is read; returns the bytes hashed. An error
/// of `done` stops it.
pub fn hash_batches(
    file: impl Read + Send,
    segment_size: u64,
    most: usize,
    done: &mut dyn FnMut(Vec<String>) -> io::Result<()>,
) -> io::Result<u64> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let segment = segment_size.max(1) as usize;
    let batch = (HASH_BATCH / segment).min(most).max(threads).max(1);
    // Two sets of buffers go round: one being read, one being hashed.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Batch>(1);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Batch>(2);
    for _ in 0..2 {
        empty_tx.send(Batch::default()).expect("room for two");
    }
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_batches(file, segment, batch, empty_rx, full_tx));
        let mut size = 0;
        let mut stopped = Ok(());
        for read in full_rx {
            size += read.lengths.iter().map(|&n| n as u64).sum::<u64>();
            stopped = done(hash_in_parallel(&read.buffers, &read.lengths, threads));
            if stopped.is_err() {
                // Dropping the channels ends the reader.
                break;
            }
            // The reader may have ended (an error, or the file's end).
            let _ = empty_tx.send(read);
        }
        drop(empty_tx);
        let read = reader.join().expect("reading does not panic");
        stopped?;
        read?;
        Ok(size)
    })
}

/// Segments read and waiting to be hashed: `buffers[i][..lengths[i]]`.
#[derive(Default)]
struct Batch {
    buffers: Vec<Vec<u8>>,
    lengths: Vec<usize>,
}

/// Fills the batches it is given with up to `batch` segments each, in
/// order, and hands them on, until the file ends.
fn read_batches(
    mut file: impl Read,
    segment: usize,
    batch: usize,
    empty: std::sync::mpsc::Receiver<Batch>,
    full: std::sync::mpsc::SyncSender<Batch>,
) -> io::Result<()> {
    for mut next in empty {
        next.lengths.clear();
        let mut ended = false;
        while next.lengths.len() < batch && !ended {
            if next.buffers.len() == next.lengths.len() {
                next.buffers.push(vec![0; segment]);
            }
            let at = next.lengths.len();
            let filled = read_full(&mut file, &mut next.buffers[at])?;
            ended = filled < segment;
            if filled > 0 {
                next.lengths.push(filled);
            }
        }
        if full.send(next).is_err() || ended {
            return Ok(());
        }
    }
    Ok(())
}

/// Bytes read before a batch is hashed: enough that starting the threads
/// costs little next to hashing (8 MiB take about 3 ms on one core).
const HASH_BATCH: usize = 8 << 20;

/// The hashes of `buffers[i][..lengths[i]]`, in order, spread over up to
/// `threads` threads.
fn hash_in_parallel(buffers: &[Vec<u8>], lengths: &[usize], threads: usize) -> Vec<String> {
    let segments: Vec<&[u8]> = buffers.iter().zip(lengths).map(|(b, &n)| &b[..n]).collect();
    if threads <= 1 || segments.len() <= 1 {
        return segments.into_iter().map(hash_segment).collect();
    }
    let per_thread = segments.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = segments
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || part.iter().map(|s| hash_segment(s)).collect::<Vec<_>>())
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().expect("hashing a segment does not panic"))
            .collect()
    })
}

/// Reads until `buffer` is full or the file ends; returns the bytes read.
fn read_full(file: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Every regular file and folder under `root` (sub-folders included, but
/// not those whose identity is in `skip`: the destinations of a job, so
/// that a rerun never offers its own output), sorted by name. Symbolic
/// links (unless `options.links`) and special files are skipped, each
/// with a line given to `warn`; so are names that could not be used
/// safely on another rank (see [`relative_path_problem`]).
pub fn scan_folder(
    root: &Folder,
    options: ScanOptions,
    skip: &[FolderId],
    warn: &mut dyn FnMut(String),
) -> Result<Scanned, Error> {
    let kept = AtomicU64::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(SCAN_THREADS));
    let mut scans: Vec<Scan> = (0..threads)
        .map(|_| Scan {
            options,
            skip,
            warnings: Vec::new(),
            found: Scanned::default(),
            kept: &kept,
        })
        .collect();
    walk_parallel(root, &mut scans)?;
    let (mut found, mut warnings) = (Scanned::default(), Vec::new());
    for scan in scans {
        found.files.extend(scan.found.files);
        found.others.extend(scan.found.others);
        warnings.extend(scan.warnings);
    }
    found.files.sort_by(|a, b| a.name.cmp(&b.name));
    found.others.sort_by(|a, b| a.name().cmp(b.name()));
    // Which thread saw what is not determined; the order said is.
    warnings.sort();
    warnings.into_iter().for_each(warn);
    Ok(found)
}

/// The most threads a scan lists and reads on: each waits for the kernel
/// (and on a parallel filesystem for its metadata servers) most of the
/// time, so more than the cores help there; beyond this, little.
const SCAN_THREADS: usize = 8;

/// What one thread of [`scan_folder`] has found so far.
struct Scan<'a> {
    options: ScanOptions,
    skip: &'a [FolderId],
    warnings: Vec<String>,
    found: Scanned,
    /// The bytes of small files kept so far, by every thread.
    kept: &'a AtomicU64,
}

impl Scan<'_> {
    /// Takes `size` bytes of the budget for kept small files, if they fit.
    fn keep(&self, size: u64) -> bool {
        let fits = |kept: u64| (kept + size <= KEEP_SMALL_BYTES).then_some(kept + size);
        self.kept
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, fits)
            .is_ok()
    }

    /// The swarm name of `relative`, or `None` (and a warning about
    /// `path`) if it cannot be used on another rank.
    fn usable_name(&mut self, path: &Path, relative: &Path) -> Option<String> {
        let skip = |why: &str| format!("skipping {}: {why}", shown_path(path));
        let Some(name) = swarm_name(relative) else {
            self.warnings.push(skip("its name is not UTF-8"));
            return None;
        };
        if let Some(problem) = relative_path_problem(&name) {
            self.warnings.push(skip(&problem));
            return None;
        }
        Some(name)
    }
}

impl Visitor for Scan<'_> {
    fn enter(&mut self, folder: &Folder, relative: &Path) -> Result<bool, Error> {
        if self.skip.contains(&folder.id()?) {
            return Ok(false);
        }
        let Some(name) = self.usable_name(folder.path(), relative) else {
            return Ok(false);
        };
        let meta = meta_of(folder).map_err(|e| Error::io("stat", folder.path(), e))?;
        self.found.others.push(TreeEntry::Folder {
            name,
            mode: meta.mode,
            mtime: meta.mtime,
        });
        Ok(true)
    }

    fn visit(
        &mut self,
        folder: &Folder,
        name: &OsStr,
        relative: &Path,
        kind: Kind,
    ) -> Result<(), Error> {
        let path = folder.path().join(name);
        let skip = |why: &str| format!("skipping {}: {why}", shown_path(&path));
        let wanted = kind == Kind::File || (kind == Kind::Link && self.options.links);
        if !wanted {
            let why = match kind {
                Kind::Link => "a symbolic link (--links recreates links)",
                _ => "not a regular file",
            };
            self.warnings.push(skip(why));
            return Ok(());
        }
        let Some(name_in_swarm) = self.usable_name(&path, relative) else {
            return Ok(());
        };
        if kind == Kind::Link {
            let target = read_link(folder, name)?;
            let Some(target) = target.to_str() else {
                self.warnings.push(skip("its link target is not UTF-8"));
                return Ok(());
            };
            self.found.others.push(TreeEntry::Link {
                name: name_in_swarm,
                target: target.to_string(),
            });
            return Ok(());
        }
        let (file, mut meta) = match open_with_meta(folder, Path::new(name)) {
            Ok(opened) => opened,
            // Replaced by a link or a FIFO since the listing.
            Err(Error::Link { .. } | Error::NotAFile { .. } | Error::IsAFolder { .. }) => {
                self.warnings.push(skip("not a regular file"));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let (mut hashes, mut bytes) = (Vec::new(), None);
        let small = meta.size < self.options.segment_size;
        if self.options.hash && (self.options.hash_small || !small) {
            let (size, hashed) = hash_open(file, self.options.segment_size)
                .map_err(|e| Error::io("read", &path, e))?;
            // The size the hashes cover (the file may have grown since).
            (meta.size, hashes) = (size, hashed);
        } else if small && self.options.keep_small && self.keep(meta.size) {
            let mut read = Vec::with_capacity(meta.size as usize);
            file.take(meta.size)
                .read_to_end(&mut read)
                .map_err(|e| Error::io("read", &path, e))?;
            // One that shrank since its stat is read again when its pack
            // is hashed, which says so.
            if read.len() as u64 == meta.size {
                bytes = Some(read);
            }
        }
        self.found.files.push(ScannedFile {
            name: name_in_swarm,
            meta,
            hashes,
            bytes,
        });
        Ok(())
    }
}

/// A relative path with `/` separators, if every component is UTF-8.
fn swarm_name(relative: &Path) -> Option<String> {
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    Some(parts?.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::content::segment_count;
    use std::fs;

    #[test]
    fn hashing_in_batches_on_several_threads_gives_the_hashes_in_order() {
        // Sizes around a segment and across several batches of 8 MiB.
        let bytes: Vec<u8> = (0..(HASH_BATCH * 2 + 12_345) as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        for (len, segment) in [
            (0, 4096),
            (1, 4096),
            (4095, 4096),
            (4096, 4096),
            (4097, 4096),
            (bytes.len(), 4096),
            (bytes.len(), 1 << 20),
            (HASH_BATCH, 1 << 20),
        ] {
            let (size, hashes) = hash_open(&bytes[..len], segment as u64).unwrap();
            let one_by_one: Vec<String> = bytes[..len].chunks(segment).map(hash_segment).collect();
            assert_eq!(
                (size, &hashes),
                (len as u64, &one_by_one),
                "{len} bytes, {segment}"
            );
        }
    }

    #[test]
    fn hashes_segment_by_segment_with_a_short_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"0123456789").unwrap();
        let (size, hashes) = hash_file(&path, 4).unwrap();
        assert_eq!(size, 10);
        assert_eq!(hashes.len() as u64, segment_count(10, 4));
        assert_eq!(hashes[2], hash_segment(b"89"));
        fs::write(&path, b"").unwrap();
        assert_eq!(hash_file(&path, 4).unwrap(), (0, vec![]));
    }

    #[test]
    fn keeps_the_bytes_of_small_files_up_to_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("tiny"), b"t").unwrap();
        fs::write(dir.path().join("whole"), b"0123").unwrap();
        // Sparse: as many bytes as are kept in all, so tiny and big do not
        // both fit (which goes first is the folder's order).
        let big = fs::File::create(dir.path().join("big")).unwrap();
        big.set_len(KEEP_SMALL_BYTES).unwrap();
        let options = ScanOptions {
            segment_size: 4,
            hash: false,
            links: false,
            hash_small: false,
            keep_small: true,
        };
        let root = Folder::open(dir.path()).unwrap();
        let big_segments = ScanOptions {
            segment_size: KEEP_SMALL_BYTES + 1,
            ..options
        };
        let found = scan_folder(&root, big_segments, &[], &mut |_| {}).unwrap();
        let kept: Vec<(&str, usize)> = found
            .files
            .iter()
            .filter_map(|f| Some((f.name.as_str(), f.bytes.as_ref()?.len())))
            .collect();
        assert!(kept.contains(&("whole", 4)), "{kept:?}");
        let total: usize = kept.iter().map(|(_, len)| len).sum();
        assert!(total as u64 <= KEEP_SMALL_BYTES, "{kept:?}");
        assert_eq!(kept.len(), 2, "tiny or big, not both: {kept:?}");
        // A file of a segment or more is never kept.
        let found = scan_folder(&root, options, &[], &mut |_| {}).unwrap();
        let bytes = |name: &str| {
            let file = found.files.iter().find(|f| f.name == name).unwrap();
            file.bytes.clone()
        };
        assert_eq!(bytes("tiny"), Some(b"t".to_vec()));
        assert_eq!((bytes("whole"), bytes("big")), (None, None));
    }

    #[test]
    fn scans_sub_folders_and_skips_links() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
        fs::write(dir.path().join("a.bin"), b"a").unwrap();
        fs::write(dir.path().join("sub/deeper/b.bin"), b"bb").unwrap();
        std::os::unix::fs::symlink("a.bin", dir.path().join("link")).unwrap();
        fs::create_dir(dir.path().join("empty")).unwrap();
        let mut warnings = Vec::new();
        let root = Folder::open(dir.path()).unwrap();
        let mut options = ScanOptions {
            segment_size: 1024,
            hash: true,
            links: false,
            hash_small: true,
            keep_small: false,
        };
        let found = scan_folder(&root, options, &[], &mut |w| warnings.push(w)).unwrap();
        let names: Vec<&str> = found.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["a.bin", "sub/deeper/b.bin"]);
        assert_eq!(found.files[1].meta.size, 2);
        assert_eq!(found.files[1].hashes, [hash_segment(b"bb")]);
        let others: Vec<&str> = found.others.iter().map(|e| e.name()).collect();
        assert_eq!(others, ["empty", "sub", "sub/deeper"]);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("link: a symbolic link (--links recreates links)"),
            "{warnings:?}"
        );
        (options.links, options.hash) = (true, false);
        let found = scan_folder(&root, options, &[], &mut |w| warnings.push(w)).unwrap();
        assert!(found.files[1].hashes.is_empty());
        let link = TreeEntry::Link {
            name: "link".into(),
            target: "a.bin".into(),
        };
        assert!(found.others.contains(&link), "{:?}", found.others);
        assert_eq!(warnings.len(), 1, "no new warning");
    }
}
