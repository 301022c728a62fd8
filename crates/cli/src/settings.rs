//! Settings that cannot work, refused before anything starts: a segment
//! size outside what the tracker and MPI can carry, and `--seeders` naming
//! ranks the job does not have as peers. (`sim`'s numbers are checked in
//! `mpitorrent-sim`; a share that offers nothing and two ranks writing into
//! one `--to` folder are the tracker's checks, at registration.)

use mpitorrent_core::content::parse_size;

/// The smallest segment `share` and `manifest` accept.
pub const MIN_SEGMENT_SIZE: u64 = 4 << 10;
/// The largest: a segment is one MPI message (whose count is a C `int`), and
/// an upload thread holds up to 8 of them in memory.
pub const MAX_SEGMENT_SIZE: u64 = 1 << 30;

/// `--segment-size`: a size (`1MiB`, `4096`) from 4 KiB to 1 GiB.
pub fn parse_segment_size(text: &str) -> Result<u64, String> {
    let size = parse_size(text)?;
    if size < MIN_SEGMENT_SIZE {
        return Err(format!(
            "{size} byte(s) is below the smallest segment, 4KiB: a number without a unit \
             is in bytes (for one mebibyte write 1MiB), and segments that small make the \
             tracker keep an entry per few bytes (millions for a large file)"
        ));
    }
    if size > MAX_SEGMENT_SIZE {
        return Err(format!(
            "{size} bytes is above the largest segment, 1GiB: a segment travels as one MPI \
             message, and an uploader holds several in memory"
        ));
    }
    Ok(size)
}

/// `--seeders`: the ranks that read `--from`, or `all` of the peer ranks
/// on which it exists (the default, spelt out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seeders {
    All,
    Ranks(Vec<u32>),
}

impl Seeders {
    /// The ranks named, if some are (`None`: every rank with `--from`).
    pub fn ranks(&self) -> Option<Vec<u32>> {
        match self {
            Seeders::All => None,
            Seeders::Ranks(ranks) => Some(ranks.clone()),
        }
    }
}

/// `--seeders`: `all`, or rank numbers separated by commas (`1,3`).
pub fn parse_seeders(text: &str) -> Result<Seeders, String> {
    if text == "all" {
        return Ok(Seeders::All);
    }
    let rank = |r: &str| {
        r.trim()
            .parse::<u32>()
            .map_err(|_| format!("expected 'all' or rank numbers separated by commas, found '{r}'"))
    };
    text.split(',')
        .map(rank)
        .collect::<Result<_, _>>()
        .map(Seeders::Ranks)
}

/// Why `--seeders` cannot work in a job of `ranks` ranks, if it cannot:
/// seeders are peers, ranks 1 to `ranks - 1` (rank 0 is the tracker).
pub fn seeders_problem(seeders: &[u32], ranks: u32) -> Option<String> {
    let peers = match ranks {
        0..=2 => "the only peer rank is 1".to_string(),
        _ => format!("the peer ranks are 1 to {}", ranks - 1),
    };
    if seeders.contains(&0) {
        return Some(format!(
            "--seeders names rank 0, which is the tracker and holds no files: {peers}"
        ));
    }
    let beyond = seeders.iter().find(|&&rank| rank >= ranks)?;
    Some(format!(
        "--seeders names rank {beyond}, but the job has {ranks} ranks: {peers}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_from_4kib_to_1gib() {
        assert_eq!(parse_segment_size("4KiB"), Ok(4096));
        assert_eq!(parse_segment_size("4096"), Ok(4096));
        assert_eq!(parse_segment_size("1GiB"), Ok(1 << 30));
        let tiny = parse_segment_size("1").unwrap_err();
        assert!(tiny.starts_with("1 byte(s) is below the smallest segment, 4KiB"));
        assert!(tiny.contains("write 1MiB"), "{tiny}");
        assert!(parse_segment_size("4095").is_err());
        assert!(parse_segment_size("2GiB").unwrap_err().contains("1GiB"));
        assert!(parse_segment_size("0").is_err());
        assert!(parse_segment_size("1 parsec").is_err());
    }

    #[test]
    fn seeders_are_all_or_a_list_of_ranks() {
        assert_eq!(parse_seeders("all"), Ok(Seeders::All));
        assert_eq!(parse_seeders("1,3"), Ok(Seeders::Ranks(vec![1, 3])));
        assert_eq!(Seeders::All.ranks(), None);
        let err = parse_seeders("1,x").unwrap_err();
        assert_eq!(
            err,
            "expected 'all' or rank numbers separated by commas, found 'x'"
        );
    }

    #[test]
    fn seeders_are_peer_ranks_of_this_job() {
        assert_eq!(seeders_problem(&[1, 3], 4), None);
        assert_eq!(
            seeders_problem(&[1, 0], 4).unwrap(),
            "--seeders names rank 0, which is the tracker and holds no files: \
             the peer ranks are 1 to 3"
        );
        assert_eq!(
            seeders_problem(&[2, 4], 4).unwrap(),
            "--seeders names rank 4, but the job has 4 ranks: the peer ranks are 1 to 3"
        );
        assert!(seeders_problem(&[2], 2)
            .unwrap()
            .ends_with("the only peer rank is 1"));
    }
}
