//! The report of one `mpi-bcast` job (`--report FILE`), written by its
//! rank 0 and read by `mpitorrent-bench`: what each rank wrote and its
//! peak resident memory. One file, compiled into both programs.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BcastReport {
    /// Per world rank (0 included): bytes written to its destination.
    pub bytes_written: Vec<u64>,
    /// Per world rank (0 included): peak resident memory, in KiB.
    pub peak_rss_kib: Vec<u64>,
}

// Each program uses one half of this module.
#[allow(dead_code)]
impl BcastReport {
    /// From what `MPI_Gather` collects: a (bytes, KiB) pair per rank.
    pub fn from_pairs(pairs: &[u64]) -> BcastReport {
        BcastReport {
            bytes_written: pairs.iter().step_by(2).copied().collect(),
            peak_rss_kib: pairs.iter().skip(1).step_by(2).copied().collect(),
        }
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("the report serializes");
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn read(path: &Path) -> Result<BcastReport> {
        let json = std::fs::read_to_string(path)
            .with_context(|| format!("no mpi-bcast report at {}", path.display()))?;
        serde_json::from_str(&json).context("cannot parse the mpi-bcast report")
    }

    pub fn total_bytes(&self) -> u64 {
        self.bytes_written.iter().sum()
    }

    /// The largest peak resident memory of any rank, in MiB.
    pub fn peak_mib(&self) -> f64 {
        self.peak_rss_kib.iter().copied().max().unwrap_or(0) as f64 / 1024.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_gathered_pairs() {
        let report = BcastReport::from_pairs(&[0, 100, 7, 2048, 9, 1024]);
        assert_eq!(report.bytes_written, [0, 7, 9]);
        assert_eq!(report.peak_rss_kib, [100, 2048, 1024]);
        assert_eq!(report.total_bytes(), 16);
        assert_eq!(report.peak_mib(), 2.0);
    }
}
