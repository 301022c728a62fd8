//! Aligned text tables: the renderer, and the table of the swarm cases
//! (one row per case; the real-data cases have their own columns, in
//! `share::table`).

use crate::runner::{window_label, CaseResult};

/// A column: its title, and whether its cells line up on the right.
pub type Column = (&'static str, bool);

/// The columns of the swarm table.
const COLUMNS: [Column; 19] = [
    ("scenario", false),
    ("np", true),
    ("strategy", false),
    ("window", true),
    ("segments", true),
    ("wall s", true),
    ("floor s", true),
    ("ratio", true),
    ("msg floor s", true),
    ("vs msg floor", true),
    ("msgs/seg", true),
    ("sends/seg", true),
    ("tracker msgs/seg", true),
    ("fairness", true),
    ("CPU s", true),
    ("peak MiB", true),
    ("tracker µs/msg", true),
    ("tracker msgs/tick", true),
    ("runs ok", true),
];

/// The table of every swarm case's medians.
pub fn swarm(cases: &[CaseResult]) -> String {
    let rows: Vec<Vec<String>> = cases.iter().map(row).collect();
    render(&COLUMNS, &rows)
}

/// `rows` under the titles of `columns`, each column as wide as its widest
/// cell, two spaces apart.
pub fn render(columns: &[Column], rows: &[Vec<String>]) -> String {
    let titles: Vec<String> = columns.iter().map(|(t, _)| t.to_string()).collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            // (Characters, not bytes: `format!` pads by characters.)
            let cells = rows.iter().map(|r| r[i].chars().count());
            cells.chain([titles[i].chars().count()]).max().unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for cells in [&titles].into_iter().chain(rows) {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let (w, right) = (widths[i], columns[i].1);
            if i > 0 {
                line += "  ";
            }
            line += &if right {
                format!("{cell:>w$}")
            } else {
                format!("{cell:<w$}")
            };
        }
        out += line.trim_end();
        out += "\n";
    }
    out
}

/// A case's row in a table of `columns`: the cells that name the case, then
/// its medians' cells (a dash in each of those columns if no run
/// succeeded), then "runs ok" out of all its runs (the last column).
pub fn case_row(
    columns: &[Column],
    mut cells: Vec<String>,
    medians: Option<Vec<String>>,
    ok: usize,
    failed: usize,
) -> Vec<String> {
    let medians_len = columns.len() - cells.len() - 1;
    cells.extend(medians.unwrap_or_else(|| vec!["-".to_string(); medians_len]));
    cells.push(format!("{ok}/{}", ok + failed));
    cells
}

/// One case's cells, in the order of [`COLUMNS`].
fn row(case: &CaseResult) -> Vec<String> {
    let window = case
        .window
        .map_or_else(|| window_label(case.window_requested), |w| w.to_string());
    let names = vec![
        case.scenario.clone(),
        case.ranks.to_string(),
        case.strategy.clone(),
        window,
    ];
    let medians = case.median.as_ref().map(|m| {
        vec![
            format!("{:.0}", m.segments),
            format!("{:.3}", m.wall_seconds),
            format!("{:.3}", m.floor_seconds),
            format!("{:.2}", m.ratio),
            format!("{:.3}", m.message_floor_seconds),
            format!("{:.2}", m.message_floor_ratio),
            format!("{:.2}", m.messages_per_segment),
            format!("{:.2}", m.transport_per_segment),
            format!("{:.3}", m.tracker_messages_per_segment),
            m.fairness_min
                .map_or_else(|| "-".to_string(), |f| format!("{f:.2}")),
            format!("{:.2}", m.cpu_seconds),
            format!("{:.1}", m.peak_mib),
            format!("{:.2}", m.tracker_us_per_message),
            format!("{:.0}", m.tracker_messages_per_tick.floor()),
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
