//! `share --manifest FILE`: the hashes of a seeder's files, from the
//! output of `mpitorrent manifest` (a `<name> <segment count>` line, then
//! one hash per segment, for each file), so that a seeder registers them
//! instead of hashing its `--from` (a release pipeline hashes once).
//! Every receiver still verifies every segment against them.
//!
//! The manifest must describe the source exactly: the same files, each
//! with the segment count its size gives at the job's `--segment-size`.
//! A manifest does not say its segment size, so a seeder hashes one
//! segment to check it (the first of the first file of more than one
//! segment; segments are counted from 1, as in every message: at another segment size its length, and so its hash, would
//! differ). Names are those `manifest` printed (escaped, see
//! [`mpitorrent_core::escape`]), relative to `--from`; a leading `./` is
//! ignored, so `cd DIR && mpitorrent manifest ./a ./sub/b` fits
//! `share --from DIR`.

use super::scan::{hash_open, ScannedFile};
use mpitorrent_core::content::segment_count;
use mpitorrent_core::escape::{shown, shown_path};
use mpitorrent_fs::bounded::{read_text, Limit};
use mpitorrent_fs::Folder;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A manifest: 256 MiB, as an `in<R>.txt` (a hash and its newline take 65
/// bytes, so about 4 million segments: 4 TiB at 1 MiB segments).
pub const MANIFEST: Limit = Limit {
    bytes: 256 << 20,
    what: "a manifest",
};

/// The files of a manifest, by their name as printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    path: PathBuf,
    files: BTreeMap<String, Vec<String>>,
}

impl Manifest {
    /// Reads and parses the manifest at `path` (with the [`MANIFEST`]
    /// bound). The error names the file and the line.
    pub fn read(path: &Path) -> Result<Manifest, String> {
        let text = read_text(path, MANIFEST).map_err(|e| e.to_string())?;
        Manifest::parse(path, &text)
    }

    /// Parses the text of the manifest at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, String> {
        let at = |line: usize, what: String| format!("{} line {line}: {what}", shown_path(path));
        let mut files = BTreeMap::new();
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        while let Some((line, header)) = lines.next() {
            let parsed = header
                .rsplit_once(' ')
                .and_then(|(name, count)| Some((name, count.parse::<u64>().ok()?)));
            let Some((name, count)) = parsed.filter(|(name, _)| !name.is_empty()) else {
                let found = format!("found '{}'", shown(header));
                return Err(at(
                    line,
                    format!("expected '<name> <segment count>', {found}"),
                ));
            };
            let name = strip_dot(name);
            let mut hashes = Vec::with_capacity(count.min(1 << 16) as usize);
            for index in 0..count {
                let end = line + 1 + index as usize;
                let Some((line, hash)) = lines.next() else {
                    let what = format!("segment {} of {name}", index + 1);
                    return Err(at(
                        end,
                        format!("expected the hash of {what}, found the end"),
                    ));
                };
                if !is_hash(hash) {
                    let what = format!("segment {} of {name}", index + 1);
                    let found = format!("found '{}'", shown(hash));
                    return Err(at(line, format!("expected the hash of {what}, {found}")));
                }
                hashes.push(hash.to_string());
            }
            if files.insert(name.to_string(), hashes).is_some() {
                return Err(at(line, format!("{name} is listed twice")));
            }
        }
        Ok(Manifest {
            path: path.to_path_buf(),
            files,
        })
    }

    /// Gives every file of a seeder's `--from` (`root`) its hashes, or
    /// says, naming the file, how the manifest does not match the source.
    /// Returns the segments it hashed to check the segment size (0 or 1).
    pub fn apply(
        &self,
        files: &mut [ScannedFile],
        root: &Folder,
        segment_size: u64,
    ) -> Result<u64, String> {
        let problem = |what: String| format!("manifest {}: {what}", shown_path(&self.path));
        let mut unmatched: BTreeMap<&str, &Vec<String>> =
            self.files.iter().map(|(n, h)| (n.as_str(), h)).collect();
        for file in files.iter_mut() {
            let name = shown(&file.name);
            let Some(hashes) = unmatched.remove(name.as_ref()) else {
                return Err(problem(format!(
                    "{name} is in --from but not in the manifest"
                )));
            };
            let segments = segment_count(file.meta.size, segment_size);
            if hashes.len() as u64 != segments {
                return Err(problem(format!(
                    "{name} has {} segment(s) in the manifest but {segments} in --from \
                     ({} bytes at --segment-size {segment_size}): the file changed, or the \
                     manifest was made with another --segment-size",
                    hashes.len(),
                    file.meta.size
                )));
            }
            file.hashes.clone_from(hashes);
        }
        if let Some(name) = unmatched.keys().next() {
            return Err(problem(format!(
                "{name} is in the manifest but not in --from"
            )));
        }
        let Some(file) = files.iter().find(|f| f.hashes.len() > 1) else {
            return Ok(0);
        };
        let path = root.path().join(&file.name);
        let opened = root
            .open_file(Path::new(&file.name))
            .map_err(|e| e.to_string())?;
        let (_, first) = hash_open(opened.take(segment_size), segment_size)
            .map_err(|e| mpitorrent_fs::Error::io("read", &path, e).to_string())?;
        if first.first() != file.hashes.first() {
            return Err(problem(format!(
                "segment 1 of {} does not match its hash in the manifest: the file changed, \
                 or the manifest was made with another --segment-size than {segment_size} bytes",
                shown(&file.name)
            )));
        }
        Ok(1)
    }
}

/// `name` without leading `./` components.
fn strip_dot(mut name: &str) -> &str {
    while let Some(rest) = name.strip_prefix("./") {
        name = rest.trim_start_matches('/');
    }
    name
}

/// A BLAKE3 hash as [`mpitorrent_core::content::hash_segment`] writes it.
fn is_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::content::hash_segment;
    use mpitorrent_core::tree::FileMeta;

    fn scanned(name: &str, size: u64) -> ScannedFile {
        ScannedFile {
            name: name.into(),
            meta: FileMeta {
                size,
                ..FileMeta::default()
            },
            hashes: Vec::new(),
            bytes: None,
        }
    }

    #[test]
    fn parses_what_manifest_prints_and_refuses_the_rest() {
        let (a, b) = (hash_segment(b"a"), hash_segment(b"b"));
        let path = Path::new("m.txt");
        let text = format!("./sub/x y.bin 2\n{a}\n{b}\nempty 0\n");
        let manifest = Manifest::parse(path, &text).unwrap();
        assert_eq!(manifest.files["sub/x y.bin"], [a.clone(), b]);
        assert!(manifest.files["empty"].is_empty());
        let bad = |text: &str| Manifest::parse(path, text).unwrap_err();
        assert_eq!(
            bad("f 2\nabc\n"),
            "m.txt line 2: expected the hash of segment 1 of f, found 'abc'"
        );
        assert_eq!(
            bad(&format!("f 2\n{a}\n")),
            "m.txt line 3: expected the hash of segment 2 of f, found the end"
        );
        assert_eq!(
            bad("f\n"),
            "m.txt line 1: expected '<name> <segment count>', found 'f'"
        );
        assert_eq!(bad("f 0\n./f 0\n"), "m.txt line 2: f is listed twice");
    }

    #[test]
    fn applies_to_a_matching_source_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"0123456789ab").unwrap();
        let root = Folder::open(dir.path()).unwrap();
        let hashes = ["0123", "4567", "89ab"].map(|s| hash_segment(s.as_bytes()));
        let text = format!("f 3\n{}\n", hashes.join("\n"));
        let manifest = Manifest::parse(Path::new("m"), &text).unwrap();
        let mut files = vec![scanned("f", 12)];
        assert_eq!(manifest.apply(&mut files, &root, 4), Ok(1));
        assert_eq!(files[0].hashes, hashes);
        let apply = |files: &mut [ScannedFile], size| manifest.apply(files, &root, size);
        let err = apply(&mut [scanned("f", 12), scanned("g", 1)], 4).unwrap_err();
        assert_eq!(err, "manifest m: g is in --from but not in the manifest");
        assert_eq!(
            apply(&mut [], 4).unwrap_err(),
            "manifest m: f is in the manifest but not in --from"
        );
        let err = apply(&mut [scanned("f", 12)], 8).unwrap_err();
        assert!(
            err.starts_with("manifest m: f has 3 segment(s) in the manifest but 2"),
            "{err}"
        );
        // Another segment size with the same count: the hash check finds it.
        let err = apply(&mut [scanned("f", 12)], 5).unwrap_err();
        let mismatch = "manifest m: segment 1 of f does not match its hash in the manifest";
        assert!(err.starts_with(mismatch), "{err}");
        std::fs::write(dir.path().join("f"), b"x123456789ab").unwrap();
        let err = apply(&mut [scanned("f", 12)], 4).unwrap_err();
        assert!(err.starts_with(mismatch), "{err}");
    }
}
