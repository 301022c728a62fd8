//! The cluster table (one row per cluster) and its target lines.

use super::{ClusterCaseResult, ClusterMedians};
use crate::table::{render, Column};

const COLUMNS: [Column; 17] = [
    ("nodes", true),
    ("ranks/node", true),
    ("link", false),
    ("MiB", true),
    ("link bound s", true),
    ("floor s", true),
    ("share s", true),
    ("target s", true),
    ("bcast s", true),
    ("http s", true),
    ("share CPU/GiB", true),
    ("bcast CPU/GiB", true),
    ("http CPU/GiB", true),
    ("share cores", true),
    ("seeder copies", true),
    ("runs ok", true),
    ("met", false),
];

/// The table of every cluster case's medians.
pub fn render_cases(cases: &[ClusterCaseResult]) -> String {
    let rows: Vec<Vec<String>> = cases.iter().map(row).collect();
    render(&COLUMNS, &rows)
}

fn row(case: &ClusterCaseResult) -> Vec<String> {
    let spec = &case.cluster;
    let mut cells = vec![
        spec.nodes.to_string(),
        spec.slots.to_string(),
        spec.rate.clone(),
        format!("{:.0}", case.size as f64 / (1u64 << 20) as f64),
        format!("{:.2}", case.link_bound_seconds),
    ];
    let runs = format!(
        "{}/{}",
        case.runs.len(),
        case.runs.len() + case.failures.len()
    );
    match &case.median {
        Some(m) => {
            let s = |v: f64| format!("{v:.2}");
            cells.extend([
                s(m.floor_seconds),
                s(m.share_seconds),
                s(m.target_seconds),
                s(m.bcast_seconds),
                s(m.http_seconds),
                s(m.share_cpu_per_gib),
                s(m.bcast_cpu_per_gib),
                s(m.http_cpu_per_gib),
                s(m.share_cores),
                s(m.seeder_copies),
                runs,
                verdict(m).to_string(),
            ]);
        }
        None => {
            cells.extend((0..10).map(|_| "-".to_string()));
            cells.extend([runs, "-".into()]);
        }
    }
    cells
}

/// Whether a case meets the targets: within 1.25 x the link
/// bound plus the launch floor, faster than both baselines, and at most
/// 1.2 copies through the seeder's uplink.
pub fn verdict(m: &ClusterMedians) -> &'static str {
    let met = m.share_seconds <= m.target_seconds
        && m.share_seconds < m.bcast_seconds
        && m.share_seconds < m.http_seconds
        && m.seeder_copies <= 1.2;
    if met {
        "yes"
    } else {
        "no"
    }
}
