//! `mpitorrent report FILE.json`: the end-of-run summary of a saved run
//! report, printed again, and its timeline drawn (`--timeline`).

use crate::cli::ReportArgs;
use crate::timeline;
use anyhow::{bail, Context, Result};
use mpitorrent_core::report::{RunReport, REPORT_VERSION};
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

/// Reads a report written by `--report`, naming the file in every error.
/// The version is checked first, so a report of another mpitorrent says
/// so instead of naming whichever field changed.
pub fn load(path: &Path) -> Result<RunReport> {
    let shown = path.display();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the report {shown}"))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{shown} is not a run report (not JSON)"))?;
    match json.get("version").and_then(serde_json::Value::as_u64) {
        Some(version) if version == u64::from(REPORT_VERSION) => {}
        Some(version) => bail!(
            "{shown} is a version {version} run report, but this mpitorrent reads version \
             {REPORT_VERSION}"
        ),
        None => bail!("{shown} is not a run report (it has no \"version\" number)"),
    }
    serde_json::from_value(json)
        .with_context(|| format!("{shown} is not a valid version {REPORT_VERSION} run report"))
}
