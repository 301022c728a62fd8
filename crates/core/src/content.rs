//! Real file contents, for sharing actual bytes: a segment's hash is the
//! BLAKE3 of its bytes in lowercase hex, so a real file is listed exactly
//! like a classic one (a name and its segment hashes in order), and every
//! received segment can be checked against its hash before it is kept.
//! Also: checking a relative path that came over the wire before it is
//! used under a destination folder, and reading sizes such as `4MiB`.

use crate::escape::shown;

/// The default segment size: 1 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 1 << 20;

/// The hash of one segment's bytes: 64 lowercase hex characters.
pub fn hash_segment(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Whether `bytes` are the segment whose hash is `hash`.
pub fn verify_segment(bytes: &[u8], hash: &str) -> bool {
    // Comparing hex strings is enough: the hash of the bytes we hold is
    // computed here, never taken from the sender.
    hash_segment(bytes) == hash
}

/// How many segments a file of `size` bytes has (an empty file has none;
/// the last segment may be shorter than the rest).
pub fn segment_count(size: u64, segment_size: u64) -> u64 {
    size.div_ceil(segment_size.max(1))
}

/// Why a relative path (components separated by `/`) must not be used
/// under a destination folder, or `None` if it is safe: no absolute path,
/// no `.` or `..` component, no empty component, no `\` or control
/// characters. A path from another rank is checked before it is used.
pub fn relative_path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("the path is empty".into());
    }
    if path.starts_with('/') {
        return Some(format!("'{}' is absolute", shown(path)));
    }
    for component in path.split('/') {
        if let Some(problem) = crate::classic::file_name_problem(component) {
            return Some(format!("'{}': {problem}", shown(path)));
        }
    }
    None
}

/// Reads a size such as `1048576`, `512KiB`, `4MiB`, `1GiB` (binary
/// units; `K`, `M`, `G` mean the same, `KB`, `MB`, `GB` are decimal).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size (try 1048576, 512KiB or 4MiB)"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("'{other}' is not a size unit (B, KiB, MiB, GiB)")),
    };
    number
        .checked_mul(scale)
        .filter(|&size| size > 0)
        .ok_or_else(|| format!("'{text}' must be a size above 0 that fits in 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_blake3_hex_and_verify() {
        let hash = hash_segment(b"abc");
        assert_eq!(
            hash,
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        assert!(verify_segment(b"abc", &hash));
        assert!(!verify_segment(b"abd", &hash));
    }

    #[test]
    fn counts_segments_with_a_short_last_one() {
        assert_eq!(segment_count(0, 4), 0);
        assert_eq!(segment_count(1, 4), 1);
        assert_eq!(segment_count(8, 4), 2);
        assert_eq!(segment_count(9, 4), 3);
    }

    #[test]
    fn relative_paths_stay_inside() {
        assert_eq!(relative_path_problem("a/b/c.bin"), None);
        assert_eq!(relative_path_problem("file"), None);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/./b",
            "a\\b",
            "a/\u{1}",
        ] {
            assert!(relative_path_problem(bad).is_some(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn parses_sizes_with_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("4 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }
}
