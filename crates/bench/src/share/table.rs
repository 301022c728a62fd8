//! The real-data cases as a table (one row per case) and one line per case
//! measuring it against the targets. The `cp` columns are those
//! of share-small-files only (`-` elsewhere).

use super::case::ShareCaseResult;
use super::case_id::verdict;
use super::ShareKind;
use crate::table::{case_row, render, Column};

const COLUMNS: [Column; 22] = [
    ("scenario", false),
    ("np", true),
    ("strategy", false),
    ("window", true),
    ("writes", false),
    ("GiB moved", true),
    ("wall s", true),
    ("bcast s", true),
    ("ratio", true),
    ("bcast direct s", true),
    ("ratio direct", true),
    ("MiB/s", true),
    ("bcast MiB/s", true),
    ("CPU s", true),
    ("cp s", true),
    ("ratio cp", true),
    ("cp CPU s", true),
    ("bcast CPU s", true),
    ("peak MiB", true),
    ("bcast peak MiB", true),
    ("verify fails", true),
    ("runs ok", true),
];

/// The table of every real-data case.
pub fn render_cases(cases: &[ShareCaseResult]) -> String {
    let rows: Vec<Vec<String>> = cases.iter().map(row).collect();
    render(&COLUMNS, &rows)
}

/// One case's cells, in the order of [`COLUMNS`].
fn row(case: &ShareCaseResult) -> Vec<String> {
    let mut names = case.id.cells();
    names.push(gib(case.bytes));
    let medians = case.median.as_ref().map(|m| {
        vec![
            format!("{:.3}", m.wall_seconds),
            format!("{:.3}", m.bcast_seconds),
            format!("{:.2}", m.ratio),
            format!("{:.3}", m.bcast_direct_seconds),
            format!("{:.2}", m.direct_ratio),
            format!("{:.0}", m.mib_per_second),
            format!("{:.0}", m.bcast_mib_per_second),
            format!("{:.2}", m.cpu_seconds),
            optional(m.cp_seconds, 3),
            optional(m.cp_ratio, 2),
            optional(m.cp_cpu_seconds, 2),
            optional(m.bcast_cpu_seconds, 2),
            format!("{:.1}", m.peak_mib),
            format!("{:.1}", m.bcast_peak_mib),
            m.verification_failures.to_string(),
        ]
    });
    case_row(
        &COLUMNS,
        names,
        medians,
        case.runs.len(),
        case.failures.len(),
    )
}

/// Bytes as GiB with two decimals.
pub fn gib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / f64::from(1u32 << 30))
}

/// `value` with `decimals`, or `-` where the case has none.
pub fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

/// Per case: the ratio and the peak memory against their targets, and
/// the wrong outputs (runs that failed their check are not in the medians).
pub fn targets(cases: &[ShareCaseResult]) -> Vec<String> {
    cases.iter().filter_map(target_line).collect()
}

fn target_line(case: &ShareCaseResult) -> Option<String> {
    let m = case.median.as_ref()?;
    let ratio = match case.ratio_target {
        Some(target) => format!(
            "wall {:.2} x mpi-bcast ({}; target <= {target} at {} GiB)",
            m.ratio,
            verdict(m.ratio <= target),
            gib(case.size)
        ),
        None => format!("wall {:.2} x mpi-bcast (no target at this size)", m.ratio),
    };
    let cp = match (
        m.cp_ratio,
        ShareKind::by_name(&case.id.scenario).and_then(|k| k.cp_target()),
    ) {
        (Some(ratio), Some(target)) => format!(
            ", {ratio:.2} x cp -r ({}; target <= {target})",
            verdict(ratio <= target)
        ),
        _ => String::new(),
    };
    let wrong = case
        .failures
        .iter()
        .filter(|f| f.contains("WRONG OUTPUT"))
        .count();
    Some(format!(
        "{} (-np {}, {} GiB shared, {} GiB written): {ratio}, {:.2} x mpi-bcast --direct{cp}; \
         peak {:.1} MiB ({}; target <= {} MiB per rank); {} segment(s) failed verification; \
         {wrong} run(s) with a wrong output",
        case.id.verdict_name(),
        case.id.ranks,
        gib(case.size),
        gib(case.bytes),
        m.direct_ratio,
        m.peak_mib,
        verdict(m.peak_mib <= case.peak_target_mib),
        case.peak_target_mib,
        m.verification_failures,
    ))
}
