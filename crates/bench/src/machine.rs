//! The machine a benchmark ran on, for the header line and the JSON: its
//! CPUs, their model, the Open MPI version and the date.

use serde::Serialize;
use std::time::SystemTime;

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPUs this process may use (what `nproc` prints).
    pub nproc: usize,
    /// The first `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// The first line of the launcher's `--version` (`mpirun`, or
    /// `MPITORRENT_MPIRUN`).
    pub mpirun_version: String,
    /// When the benchmark started (UTC, RFC 3339).
    pub date: String,
}

impl Machine {
    /// Looks the machine up; a part it cannot find reads "unknown".
    pub fn detect() -> Machine {
        let unknown = || "unknown".to_string();
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: cpu_model().unwrap_or_else(unknown),
            mpirun_version: mpitorrent_net::launcher::Launcher::global()
                .version_line()
                .unwrap_or_else(unknown),
            date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }

    /// One line for the top of the table.
    pub fn header(&self) -> String {
        format!(
            "machine: nproc {}, {}; {}; {}",
            self.nproc, self.cpu_model, self.mpirun_version, self.date
        )
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim() == "model name")
        .map(|(_, value)| value.trim().to_string())
}
