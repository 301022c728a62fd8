//! The real-data scenarios: `mpitorrent share` moving generated files
//! between 8 peer ranks (`-np 9`), each run next to `mpi-bcast`, a plain
//! MPI_Bcast of the same bytes to the same ranks, and every output of both
//! checked byte for byte.
//!
//! - `share-one-to-all`: one file (1 GiB by default) from seeder rank 1 to
//!   the 7 other peer ranks;
//! - `share-all-gather`: a shard an eighth of that size (128 MiB) on each
//!   peer rank 1..8; every peer gets the 7 shards it lacks;
//! - `share-small-files`: 20,000 files of 150 bytes in 200 folders from
//!   rank 1 to the 2 other peers of `-np 4` (issue 15, point 3: packs),
//!   next to `cp -r` to as many folders and `tar c | mpi-bcast | tar x`
//!   ([`small`]);
//! - `share-start`: one file of the size and one of 8 times it, each
//!   from rank 1 to the 2 other peers of `-np 4`: the time to the first
//!   segment must not grow with the size ([`start`]);
//! - `share-rerun`: the one-to-all share again over complete
//!   destinations, plain and with `--verify` ([`rerun`]).
//!
//! `data` writes the files once per benchmark, `verify` checks the
//! outputs, `case` runs and measures, `table` shows the medians.

pub mod case;
pub mod case_id;
pub mod data;
pub mod disk;
pub mod rerun;
pub mod small;
pub mod start;
pub mod table;
pub mod verify;

use crate::runner::{loud, Runner, Settings};
use serde::Serialize;

/// Ranks in a real-data job: the tracker and 8 peers.
pub const RANKS: u32 = 9;

/// Ranks of `share-small-files` and `share-start`: the tracker, the
/// seeder and 2 peers.
pub const SMALL_RANKS: u32 = 4;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// What the real-data scenarios move by default: the one-to-all file, and
/// the all-gather shards together.
pub const DEFAULT_SIZE: &str = "1GiB";

/// A real-data scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareKind {
    /// One file from rank 1 to every other peer.
    OneToAll,
    /// One shard per peer rank, every peer gathering every other's.
    AllGather,
    /// A tree of many small files from rank 1 to every other peer.
    SmallFiles,
    /// One file of the size and one 8 times larger, one after the other,
    /// from rank 1 to every other peer: how soon the first segment moves.
    Start,
    /// One-to-all again over complete destinations, plain and `--verify`.
    Rerun,
}

impl ShareKind {
    pub const ALL: [ShareKind; 5] = [
        ShareKind::OneToAll,
        ShareKind::AllGather,
        ShareKind::SmallFiles,
        ShareKind::Start,
        ShareKind::Rerun,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ShareKind::OneToAll => "share-one-to-all",
            ShareKind::AllGather => "share-all-gather",
            ShareKind::SmallFiles => "share-small-files",
            ShareKind::Start => "share-start",
            ShareKind::Rerun => "share-rerun",
        }
    }

    /// `-np` of its jobs.
    pub fn ranks(self) -> u32 {
        match self {
            ShareKind::SmallFiles | ShareKind::Start => SMALL_RANKS,
            _ => RANKS,
        }
    }

    /// Whether its inputs are one file on seeder rank 1 (`from/data.bin`)
    /// that every other peer gets.
    pub fn one_file(self) -> bool {
        matches!(
            self,
            ShareKind::OneToAll | ShareKind::Start | ShareKind::Rerun
        )
    }

    pub fn by_name(name: &str) -> Option<ShareKind> {
        ShareKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The bound on wall / mpi-bcast wall for a share of `size`
    /// bytes, where it sets one: one-to-all (one file to 7 ranks) within
    /// 1.1x from 1 GiB, 1.3x from 256 MiB; none below.
    pub fn ratio_target(self, size: u64) -> Option<f64> {
        match self {
            ShareKind::OneToAll if size >= GIB => Some(1.1),
            ShareKind::OneToAll if size >= 256 * MIB => Some(1.3),
            _ => None,
        }
    }

    /// The bound on wall / `cp -r` wall, where it sets one.
    pub fn cp_target(self) -> Option<f64> {
        (self == ShareKind::SmallFiles).then_some(2.0)
    }
}

/// The bound on every rank's peak resident memory, in MiB.
pub const PEAK_TARGET_MIB: f64 = 64.0;

/// Called as each case ends: its label, its successful runs and its
/// median wall (of share-start, the large file's; of share-rerun, the
/// plain rerun's).
pub type Done<'a> = dyn FnMut(&str, usize, Option<f64>) + 'a;

/// A real-data case's result, as [`each_case`] fills it.
pub trait CaseResult {
    /// Its failure lines.
    fn failures(&mut self) -> &mut Vec<String>;
    /// Its successful runs and median wall, for [`Done`].
    fn progress(&self) -> (usize, Option<f64>);
}

/// One case of `kind` per entry of `settings`, each made by `new` and
/// measured by `measure` (given its label) on `inputs`, written once for
/// all; if they could not be written, each case has that error as its
/// failure. `done` sees each case as it ends.
pub fn each_case<D, R: CaseResult>(
    kind: ShareKind,
    settings: &[Settings],
    inputs: &anyhow::Result<D>,
    done: &mut Done,
    mut new: impl FnMut(Settings) -> R,
    mut measure: impl FnMut(&mut R, &D, Settings, &str),
) -> Vec<R> {
    let mut cases = Vec::new();
    for &settings in settings {
        let label = case_id::CaseId::label(kind, settings);
        let mut case = new(settings);
        match inputs {
            Ok(inputs) => measure(&mut case, inputs, settings, &label),
            Err(err) => case.failures().push(loud(&label, None, err)),
        }
        let (ok, wall) = case.progress();
        done(&label, ok, wall);
        cases.push(case);
    }
    cases
}

/// The failure line of a case's unmeasured job (`what`), if it failed.
pub fn unmeasured<T>(label: &str, what: &'static str, job: anyhow::Result<T>) -> Option<String> {
    job.err().map(|err| loud(label, None, &err.context(what)))
}

/// What the real-data scenarios measured, one list per table.
#[derive(Debug, Default, Serialize)]
pub struct ShareResults {
    #[serde(rename = "share_cases")]
    pub cases: Vec<case::ShareCaseResult>,
    #[serde(rename = "share_start_cases")]
    pub starts: Vec<start::StartResult>,
    #[serde(rename = "share_rerun_cases")]
    pub reruns: Vec<rerun::RerunResult>,
}

impl ShareResults {
    /// Every case of every kind in `kinds`, one per entry of `settings`,
    /// at `size` bytes.
    pub fn run(
        runner: &Runner,
        kinds: &[ShareKind],
        size: u64,
        settings: &[Settings],
        done: &mut Done,
    ) -> ShareResults {
        let mut results = ShareResults::default();
        for &kind in kinds {
            match kind {
                ShareKind::Start => {
                    (results.starts).extend(start::run(runner, size, settings, done))
                }
                ShareKind::Rerun => {
                    (results.reruns).extend(rerun::run(runner, size, settings, done))
                }
                _ => (results.cases).extend(case::run_kind(runner, kind, size, settings, done)),
            }
        }
        results
    }

    /// Every failure line of every case.
    pub fn failures(&self) -> impl Iterator<Item = &String> {
        let cases = self.cases.iter().flat_map(|c| &c.failures);
        let starts = self.starts.iter().flat_map(|c| &c.failures);
        cases
            .chain(starts)
            .chain(self.reruns.iter().flat_map(|c| &c.failures))
    }

    /// The tables and verdict lines of every kind that ran.
    pub fn print(&self, runs: u32) {
        if !self.cases.is_empty() {
            println!(
                "real data: mpitorrent share (writes: page cache = default, direct = --direct), \
                 medians of {runs} runs; wall = whole mpirun; bcast = mpi-bcast (the seeder reads, \
                 MPI_Bcast in 4 MiB chunks over ranks 1..N-1, every receiver writes through the page \
                 cache; no verification: the issue's baseline), run beside it on the same files; \
                 ratio = wall / bcast; bcast direct = mpi-bcast --direct (receivers write with \
                 O_DIRECT), ratio direct = wall / bcast direct; MiB/s = bytes moved / wall; peak MiB \
                 = largest peak RSS of any rank in any run; every output checked byte for byte"
            );
            print!("{}", table::render_cases(&self.cases));
            table::targets(&self.cases)
                .iter()
                .for_each(|l| println!("{l}"));
        }
        if !self.starts.is_empty() {
            println!(
                "time to first segment: one file of each size from rank 1 to every other peer, \
                 medians of {runs} runs after a warm-up; first segment ms = the report's \
                 first_segment_ms (earliest over the peers, from the sending rank's own start, MPI \
                 start-up included); vs small = over the small file's; registered ms = the latest \
                 REGISTER_ACK over the peers; hashes done ms = the seeder's last HASHES; wall = \
                 whole mpirun; CPU s = every rank's; floor = mpi-floor at the same np, in the same \
                 runs; every output checked byte for byte"
            );
            print!("{}", start::render_cases(&self.starts));
            start::targets(&self.starts)
                .iter()
                .for_each(|l| println!("{l}"));
        }
        if !self.reruns.is_empty() {
            println!(
                "reruns: one-to-all again over complete destinations (plain) and with --verify, \
                 after one unmeasured share, medians of {runs} runs; wall = whole mpirun; CPU s = \
                 every rank's; floor = mpi-floor at the same np, in the same runs; the counts are \
                 the report's reruns of the last run, counts ok = runs that counted exactly what \
                 they must; every output checked byte for byte after each rerun"
            );
            print!("{}", rerun::render_cases(&self.reruns));
            rerun::targets(&self.reruns)
                .iter()
                .for_each(|l| println!("{l}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_all_targets_by_size() {
        let target = |size| ShareKind::OneToAll.ratio_target(size);
        assert_eq!(target(8 * GIB), Some(1.1));
        assert_eq!(target(GIB), Some(1.1));
        assert_eq!(target(GIB - 1), Some(1.3));
        assert_eq!(target(256 * MIB), Some(1.3));
        assert_eq!(target(64 * MIB), None);
        assert_eq!(ShareKind::AllGather.ratio_target(GIB), None);
        for kind in ShareKind::ALL {
            assert_eq!(ShareKind::by_name(kind.name()), Some(kind));
        }
    }
}
