//! Running the jobs of a benchmark: one run of each floor, one checked
//! mpitorrent run, and a case (a scenario, a strategy, a window) as its
//! runs, each a launch-floor run, the swarm run, then a message-floor run
//! of that swarm's traffic, so that machine noise hits all three alike.

use crate::cli::Plan;
use crate::launch::Job;
use crate::sample::{Medians, RunSample};
use crate::swarm_dir::SwarmDir;
use anyhow::{bail, Context, Result};
use mpitorrent_core::report::RunReport;
use mpitorrent_core::shapes::Shape;
use mpitorrent_core::strategy::Strategy;
use serde::Serialize;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

/// Wrong outputs named in a failure message; the rest are counted.
const PROBLEMS_SHOWN: usize = 5;

/// How to run mpitorrent, beyond the scenario.
#[derive(Clone, Copy, Debug, Default)]
pub struct Settings {
    /// `None`: mpitorrent's default.
    pub strategy: Option<Strategy>,
    pub window: Option<u32>,
    /// `share --direct` (real-data cases only).
    pub direct: bool,
}

impl Settings {
    /// mpitorrent's options for these settings, a report at `report` and
    /// no progress display (after `run` or `share` and its own options).
    pub fn args(&self, report: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(strategy) = self.strategy {
            args.extend(["--strategy".into(), strategy.name().into()]);
        }
        if let Some(window) = self.window {
            args.extend(["--window".into(), window.to_string().into()]);
        }
        if self.direct {
            args.push("--direct".into());
        }
        args.extend(["--report".into(), report.into(), "--quiet".into()]);
        args
    }

    /// "<strategy> window <window>", "default" for what mpitorrent
    /// chooses, and "direct" for `--direct`.
    pub fn label(&self) -> String {
        let strategy = self
            .strategy
            .map_or_else(|| "default".to_string(), |s| s.to_string());
        let direct = if self.direct { " direct" } else { "" };
        format!("{strategy} window {}{direct}", window_label(self.window))
    }
}

/// A run report written by mpitorrent.
pub fn read_report(path: &Path) -> Result<RunReport> {
    let json = std::fs::read_to_string(path)
        .with_context(|| format!("no report at {}", path.display()))?;
    serde_json::from_str(&json).context("cannot parse the run report")
}

/// "N file(s): the first few problems".
pub fn problem_list(problems: &[String]) -> String {
    let shown = problems[..problems.len().min(PROBLEMS_SHOWN)].join("; ");
    format!("{} file(s): {shown}", problems.len())
}

/// One case of the benchmark and what its runs measured.
#[derive(Debug, Serialize)]
pub struct CaseResult {
    pub scenario: String,
    pub ranks: u32,
    pub strategy: String,
    /// As asked (`null`: mpitorrent's default).
    pub window_requested: Option<u32>,
    /// As the reports say the runs used it.
    pub window: Option<u32>,
    pub runs: Vec<RunSample>,
    /// One line per failed run: mpirun failed, timed out or wrote a wrong output.
    pub failures: Vec<String>,
    /// Over the successful runs; `null` if none succeeded.
    pub median: Option<Medians>,
}

/// Runs jobs as a [`Plan`] says.
pub struct Runner<'a> {
    plan: &'a Plan,
}

impl<'a> Runner<'a> {
    pub fn new(plan: &'a Plan) -> Runner<'a> {
        Runner { plan }
    }

    /// The plan this runner follows.
    pub fn plan(&self) -> &'a Plan {
        self.plan
    }

    /// `program` at `-np np` with `args`, run in `dir`, its output in
    /// `dir/<program>.log`, within the plan's time limit.
    pub fn job<'j>(
        &'j self,
        program: &'j Path,
        np: u32,
        args: Vec<OsString>,
        dir: &'j Path,
    ) -> Job<'j> {
        let name = program.file_name().unwrap_or_default().to_string_lossy();
        Job {
            np,
            program,
            args,
            dir,
            log: dir.join(format!("{name}.log")),
            timeout: Duration::from_secs(self.plan.timeout_seconds),
        }
    }

    /// One run of `mpi-floor` at `-np np` in `dir`; its wall time.
    pub fn floor(&self, dir: &Path, np: u32) -> Result<Duration> {
        self.job(&self.plan.floor, np, Vec::new(), dir)
            .run()
            .context("mpi-floor")
    }

    /// One run of `mpi-message-floor` making the segment round trips that
    /// `report` says its swarm made, with its window; its wall time.
    pub fn message_floor(&self, dir: &SwarmDir, report: &RunReport) -> Result<Duration> {
        self.job(
            &self.plan.message_floor,
            report.ranks,
            fetch_args(report),
            dir.path(),
        )
        .run()
        .context("mpi-message-floor")
    }

    /// One run of mpitorrent on the scenario in `dir`, its outputs checked
    /// against `expected/`; its wall time and report.
    pub fn swarm(
        &self,
        dir: &SwarmDir,
        np: u32,
        settings: Settings,
    ) -> Result<(Duration, RunReport)> {
        dir.clean()?;
        let report_path = dir.report_path();
        let mut args: Vec<OsString> = vec!["run".into()];
        args.extend(settings.args(&report_path));
        let wall = self.job(&self.plan.binary, np, args, dir.path()).run()?;
        let problems = dir.check_outputs()?;
        if !problems.is_empty() {
            bail!("WRONG OUTPUT in {}", problem_list(&problems));
        }
        Ok((wall, read_report(&report_path)?))
    }

    /// Every run of one case: a launch-floor run at the same `-np`, the
    /// swarm, and a message-floor run of the swarm's own traffic.
    pub fn case(&self, shape: &Shape, strategy: Strategy, window: Option<u32>) -> CaseResult {
        let np = shape.scenario.ranks();
        let settings = Settings {
            strategy: Some(strategy),
            window,
            direct: false,
        };
        let label = format!("{} {}", shape.name, settings.label());
        let (runs, failures, window_used) = match SwarmDir::create(&shape.scenario) {
            Ok(dir) => {
                let mut window_used = None;
                let (runs, failures) = repeat(&label, self.plan.runs, || {
                    let floor = self.floor(dir.path(), np)?;
                    let (wall, report) = self.swarm(&dir, np, settings)?;
                    let message_floor = self.message_floor(&dir, &report)?;
                    window_used = Some(report.settings.window);
                    Ok(RunSample::new(wall, floor, message_floor, &report))
                });
                (runs, failures, window_used)
            }
            Err(err) => (Vec::new(), vec![loud(&label, None, &err)], None),
        };
        CaseResult {
            scenario: shape.name.to_string(),
            ranks: np,
            strategy: strategy.to_string(),
            window_requested: window,
            window: window_used,
            median: Medians::of(&runs),
            runs,
            failures,
        }
    }
}

/// The arguments of `mpi-message-floor` for the traffic of `report`: its
/// window, and `--fetch RANK:SOURCE:COUNT` for every pair of its
/// `peers[].downloaded_from` (on the command line rather than as the report
/// file, so that no rank spends the floor's time parsing a report).
fn fetch_args(report: &RunReport) -> Vec<OsString> {
    let mut args: Vec<OsString> =
        vec!["--window".into(), report.settings.window.to_string().into()];
    for peer in &report.peers {
        for (source, count) in &peer.downloaded_from {
            args.push("--fetch".into());
            args.push(format!("{}:{source}:{count}", peer.rank).into());
        }
    }
    args
}

/// "default" for mpitorrent's own window, else the number.
pub fn window_label(window: Option<u32>) -> String {
    window.map_or_else(|| "default".to_string(), |w| w.to_string())
}

/// Calls `once` `runs` times; returns what succeeded and one line per
/// failure, each also printed to stderr as it happens.
pub fn repeat<T>(
    label: &str,
    runs: u32,
    mut once: impl FnMut() -> Result<T>,
) -> (Vec<T>, Vec<String>) {
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for run in 1..=runs {
        match once() {
            Ok(value) => done.push(value),
            Err(err) => failures.push(loud(label, Some((run, runs)), &err)),
        }
    }
    (done, failures)
}

/// Prints a failure so that it cannot be missed; returns it as one line.
pub fn loud(label: &str, run: Option<(u32, u32)>, err: &anyhow::Error) -> String {
    let at = run.map_or_else(String::new, |(run, runs)| format!(" run {run}/{runs}"));
    let line = format!("{label}{at}: {err:#}");
    eprintln!("bench: FAILED: {line}");
    line
}
