//! Everything a benchmark measured, as one JSON document: the machine, the
//! options, every case (swarm and real-data) with every run's raw numbers
//! and the medians, and the idle-CPU check.

use crate::cli::PlanRecord;
use crate::cluster::ClusterCaseResult;
use crate::idle::IdleResult;
use crate::machine::Machine;
use crate::runner::CaseResult;
use crate::share::ShareResults;
use crate::tracker_cost::MachineCost;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub options: PlanRecord,
    pub cases: Vec<CaseResult>,
    /// The real-data cases: `share_cases` (`mpitorrent share` against
    /// `mpi-bcast`), `share_start_cases`, `share_rerun_cases`.
    #[serde(flatten)]
    pub shares: ShareResults,
    /// The emulated-cluster cases (`share`, `mpi-bcast`, HTTP).
    pub cluster_cases: Vec<ClusterCaseResult>,
    pub idle: IdleResult,
    /// The tracker machine's cost per message without MPI (measured when
    /// swarm cases run).
    pub tracker_machine: Option<MachineCost>,
    /// Failed runs (including wrong outputs) over every case and the check.
    pub failed_runs: usize,
}

impl Results {
    /// Sums the failures of every case and of the idle check.
    pub fn new(
        machine: Machine,
        options: PlanRecord,
        cases: Vec<CaseResult>,
        shares: ShareResults,
        idle: IdleResult,
    ) -> Results {
        let mut results = Results {
            machine,
            options,
            cases,
            shares,
            cluster_cases: Vec::new(),
            idle,
            tracker_machine: None,
            failed_runs: 0,
        };
        results.failed_runs = results.failures().count();
        results
    }

    /// Adds the cluster cases and counts their failures.
    pub fn add_cluster_cases(&mut self, cases: Vec<ClusterCaseResult>) {
        self.cluster_cases = cases;
        self.failed_runs = self.failures().count();
    }

    /// Every failure line: of the swarm cases, the real-data cases, the
    /// cluster cases and the idle check.
    pub fn failures(&self) -> impl Iterator<Item = &String> {
        let cases = self.cases.iter().flat_map(|c| &c.failures);
        let shares = self.shares.failures();
        let clusters = self.cluster_cases.iter().flat_map(|c| &c.failures);
        cases
            .chain(shares)
            .chain(clusters)
            .chain(&self.idle.failures)
    }

    /// Writes the JSON to `path`, creating its folder.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let json = serde_json::to_string_pretty(self).expect("the results serialize");
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }
}
