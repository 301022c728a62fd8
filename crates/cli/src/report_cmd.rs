//! `mpitorrent report FILE.json`: the end-of-run summary of a saved run
//! report, printed again, and its timeline drawn (`--timeline`).

use crate::cli::ReportArgs;
use crate::timeline;
use anyhow::{anyhow, Result};
use mpitorrent_core::escape::shown_path;
use mpitorrent_core::report::RunReport;
use mpitorrent_fs::bounded::{read_text, RUN_REPORT};
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let report = load(&args.file)?;
    print!("{}", report.summary());
    if let Some(path) = &args.timeline {
        timeline::write(path, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a report written by `--report` (at most
/// [`RUN_REPORT`](mpitorrent_fs::bounded::RUN_REPORT) bytes), naming the
/// file in every error.
pub fn load(path: &Path) -> Result<RunReport> {
    let text = read_text(path, RUN_REPORT)?;
    RunReport::from_json(&text).map_err(|e| anyhow!("{} is {e}", shown_path(path)))
}
