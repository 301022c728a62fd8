//! A seeder's scan of `--from`, started before MPI is: `MPI_Init` takes
//! a launch's first few tenths of a second (longer on a big job), most
//! of it waiting for the other processes, and the scan of a tree of
//! many files takes as long again before any rank can offer (the plan
//! waits for every offer). So a process that its launcher says is a
//! seeder scans in a thread while MPI starts.
//!
//! What the launcher says is only a guess: the rank and job size come
//! from its variables (Open MPI, MPICH's Hydra, Slurm) before MPI can
//! tell. Once MPI has started, the scan is used only if MPI gives the
//! same rank and size; if not it is thrown away and the rank scans
//! again. The scan only reads, so a wrong guess costs time, never a
//! file; its warnings are held until the guess is confirmed.

use super::job::{scan_source, ShareSpec, Source};
use mpitorrent_core::Rank;
use std::thread::JoinHandle;

/// What a scan found, and the warnings it would have printed.
type Scanned = (Result<Option<Source>, String>, Vec<String>);

/// A scan started for the rank and size the launcher gave.
#[derive(Debug)]
pub struct EarlyScan {
    rank: Rank,
    size: u32,
    scan: JoinHandle<Scanned>,
}

impl EarlyScan {
    /// Starts the scan for `spec` as rank `rank` of `size`, if that rank
    /// would scan at all: not the tracker (rank 0), and a seeder
    /// (`--seeders` names it, or with no `--seeders` any peer rank may
    /// be one). `None` if not, or if no thread could be had.
    pub fn start(spec: &ShareSpec, rank: u32, size: u32) -> Option<EarlyScan> {
        let seeder = spec.seeders.as_ref().is_none_or(|s| s.contains(&rank));
        if rank == 0 || rank >= size || !seeder {
            return None;
        }
        let spec = spec.clone();
        let scan = std::thread::Builder::new()
            .name("early scan".into())
            .spawn(move || {
                let mut warnings = Vec::new();
                let found = scan_source(Rank(rank), size, &spec, &mut |w| warnings.push(w));
                (found, warnings)
            })
            .ok()?;
        Some(EarlyScan {
            rank: Rank(rank),
            size,
            scan,
        })
    }

    /// The scan's result for rank `rank` of `size` (as MPI says), its
    /// warnings given to `warn`; `None` if it was started for another rank
    /// or size (or its thread died), and the rank must scan itself.
    pub fn take(
        self,
        rank: Rank,
        size: u32,
        warn: &mut dyn FnMut(String),
    ) -> Option<Result<Option<Source>, String>> {
        let guessed = (self.rank, self.size) == (rank, size);
        // Joined either way: a wrong guess's scan must not outlive it.
        let (found, warnings) = self.scan.join().ok()?;
        if !guessed {
            return None;
        }
        warnings.into_iter().for_each(warn);
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn spec(from: &str, to: &str, seeders: Option<Vec<u32>>) -> ShareSpec {
        ShareSpec::for_test(from.into(), to.into(), seeders)
    }

    #[test]
    fn only_a_seeder_scans_early() {
        let spec = spec("/nonexistent", "/nonexistent/{rank}", Some(vec![2]));
        assert!(EarlyScan::start(&spec, 0, 4).is_none(), "the tracker");
        assert!(EarlyScan::start(&spec, 1, 4).is_none(), "not a seeder");
        assert!(EarlyScan::start(&spec, 4, 4).is_none(), "not in the job");
        assert!(EarlyScan::start(&spec, 2, 4).is_some());
    }

    #[test]
    fn the_scan_is_used_only_for_the_rank_and_size_it_guessed() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::create_dir(&from).unwrap();
        fs::write(from.join("a"), b"abc").unwrap();
        let from = from.to_str().unwrap();
        let to = format!("{}/to/{{rank}}", dir.path().display());
        let spec = spec(from, &to, None);
        let mut warned = Vec::new();
        let early = EarlyScan::start(&spec, 1, 3).unwrap();
        assert!(early.take(Rank(2), 3, &mut |w| warned.push(w)).is_none());
        let early = EarlyScan::start(&spec, 1, 3).unwrap();
        assert!(early.take(Rank(1), 4, &mut |w| warned.push(w)).is_none());
        let early = EarlyScan::start(&spec, 1, 3).unwrap();
        let found = early.take(Rank(1), 3, &mut |w| warned.push(w)).unwrap();
        assert!(found.unwrap().is_some(), "rank 1 seeds its --from");
        assert!(warned.is_empty());
        assert!(
            !dir.path().join("to").exists(),
            "an early scan writes nothing"
        );
    }

    #[test]
    fn a_scan_error_and_warnings_wait_for_the_guess_to_be_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::create_dir(&from).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("link")).unwrap();
        let spec_ok = spec(from.to_str().unwrap(), "/nonexistent/{rank}", Some(vec![1]));
        let mut warned = Vec::new();
        let early = EarlyScan::start(&spec_ok, 1, 2).unwrap();
        assert!(early.take(Rank(1), 3, &mut |w| warned.push(w)).is_none());
        assert!(warned.is_empty(), "a wrong guess says nothing");
        let early = EarlyScan::start(&spec_ok, 1, 2).unwrap();
        assert!(early.take(Rank(1), 2, &mut |w| warned.push(w)).is_some());
        assert_eq!(warned.len(), 1, "the skipped link: {warned:?}");
        let missing = spec("/nonexistent/from", "/nonexistent/{rank}", Some(vec![1]));
        let early = EarlyScan::start(&missing, 1, 2).unwrap();
        let err = early.take(Rank(1), 2, &mut |_| {}).unwrap().unwrap_err();
        assert!(
            err.contains("rank 1") && err.contains("not a folder"),
            "{err}"
        );
    }
}
