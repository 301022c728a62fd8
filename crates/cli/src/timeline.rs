//! `--timeline FILE.svg`: one picture of a run, drawn from its report.
//!
//! Left, the swarm filling up: per peer, the segments it held over time
//! (what it owned at the start plus what it had downloaded, sampled at each
//! PEER_UPDATE and completion). Right, a heat map of who served whom:
//! segments uploaded from each rank (rows) to each rank (columns). Each
//! panel has a key beside it: the ranks' colours (a legend for a few
//! ranks, a colour strip for many) and the heat map's scale.
//!
//! Drawn with plotters' SVG backend, which writes `<text>` elements and
//! leaves the fonts to the viewer, so no font files are needed here. The
//! labels are thinned to multiples of 1, 2, 5, 10, ... so they stay apart
//! at 64 ranks.

use anyhow::Result;
use mpitorrent_core::report::RunReport;
use mpitorrent_fs::TempFile;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const WIDTH: u32 = 1600;
const HEIGHT: u32 = 820;
/// Width of the column beside each panel that holds its key.
const KEY_WIDTH: u32 = 110;
/// Where a key's strip starts and ends, from the top and the bottom of its
/// column (about where the panel's plotting area is).
const KEY_TOP: i32 = 60;
const KEY_BOTTOM: i32 = 60;
/// The tallest swatch of a rank in the key: a few ranks make a legend
/// rather than a strip of large blocks.
const RANK_SWATCH: f64 = 24.0;
/// The fewest pixels between two labels of a key or an axis.
const LABEL_SPACING: f64 = 22.0;
const FONT: &str = "sans-serif";
/// Distinct colours for up to this many peers; a gradient beyond.
const DISTINCT_COLORS: usize = 20;

/// Colours for a few ranks: the 20 of Tableau, strong ones first.
const PALETTE: [(u8, u8, u8); DISTINCT_COLORS] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (174, 199, 232),
    (255, 187, 120),
    (152, 223, 138),
    (255, 152, 150),
    (197, 176, 213),
    (196, 156, 148),
    (247, 182, 210),
    (199, 199, 199),
    (219, 219, 141),
    (158, 218, 229),
];

/// Colours for many ranks: blue through green and orange to dark red, so
/// that neighbouring ranks are alike and distant ones are not.
const RANK_GRADIENT: Gradient = Gradient(&[
    (48, 18, 59),
    (70, 134, 251),
    (27, 208, 213),
    (97, 252, 108),
    (210, 233, 53),
    (254, 155, 45),
    (218, 56, 8),
    (122, 4, 3),
]);

/// The heat map's scale: pale yellow for a few segments to dark red.
const HEAT_GRADIENT: Gradient = Gradient(&[
    (255, 255, 204),
    (254, 217, 118),
    (253, 141, 60),
    (227, 26, 28),
    (128, 0, 38),
]);

/// Cells of pairs that exchanged nothing, and the diagonal (oneself).
const NOTHING: RGBColor = RGBColor(240, 240, 240);
/// Shades in the heat map's key.
const HEAT_KEY_STEPS: usize = 60;

/// Colours evenly spaced along a line, interpolated between.
struct Gradient(&'static [(u8, u8, u8)]);

impl Gradient {
    /// The colour at `t` in 0..=1.
    fn at(&self, t: f64) -> RGBColor {
        let stops = self.0;
        let x = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
        let i = (x.floor() as usize).min(stops.len() - 2);
        let f = x - i as f64;
        let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
        let (a, b) = (stops[i], stops[i + 1]);
        RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }
}

/// The colour of the `index`-th of `count` peers.
fn rank_color(index: usize, count: usize) -> RGBColor {
    if count <= DISTINCT_COLORS {
        let (r, g, b) = PALETTE[index];
        RGBColor(r, g, b)
    } else {
        RANK_GRADIENT.at(index as f64 / (count - 1) as f64)
    }
}

/// What the picture shows, taken from a report.
#[derive(Debug, PartialEq)]
struct Timeline {
    /// The summary's first line, as the picture's title.
    title: String,
    /// The x axis: seconds from the ACK to the last sample.
    seconds: f64,
    /// The peers' ranks, in the report's order.
    ranks: Vec<u32>,
    /// Per peer: (seconds after the ACK, segments held).
    held: Vec<Vec<(f64, u64)>>,
    /// `uploads[i][j]`: segments `ranks[i]` uploaded to `ranks[j]`.
    uploads: Vec<Vec<u64>>,
}

impl Timeline {
    fn from_report(report: &RunReport) -> Self {
        let seconds = report
            .peers
            .iter()
            .filter_map(|p| p.progress.last())
            .map(|&(ms, _)| ms as f64 / 1000.0)
            .fold(report.wall_seconds, f64::max);
        let ranks: Vec<u32> = report.peers.iter().map(|p| p.rank).collect();
        let owned_at_start = |rank: u32| -> u64 {
            report
                .files
                .iter()
                .filter(|f| f.initial_owners.contains(&rank))
                .map(|f| u64::from(f.segments))
                .sum()
        };
        let held = report
            .peers
            .iter()
            .map(|peer| {
                let owned = owned_at_start(peer.rank);
                let samples = peer
                    .progress
                    .iter()
                    .map(|&(ms, done)| (ms as f64 / 1000.0, owned + done));
                // From the ACK to the end, so every line spans the run.
                std::iter::once((0.0, owned))
                    .chain(samples)
                    .chain([(seconds, owned + peer.downloaded)])
                    .collect()
            })
            .collect();
        let uploads = report
            .peers
            .iter()
            .map(|peer| {
                ranks
                    .iter()
                    .map(|to| peer.uploaded_to.get(to).copied().unwrap_or(0))
                    .collect()
            })
            .collect();
        Timeline {
            title: report.summary().lines().next().unwrap_or_default().into(),
            seconds,
            ranks,
            held,
            uploads,
        }
    }
}

/// Draws the timeline of `report` into `path`, through a temporary beside
/// it ([`crate::swarm::file_beside`]) renamed into place when whole.
pub fn write(path: &Path, report: &RunReport) -> Result<()> {
    write_into(crate::swarm::file_beside("--timeline", path)?, report)
}

/// Draws the timeline of `report` into `temp`, made before the run, and
/// renames it into place.
pub fn write_into(temp: TempFile, report: &RunReport) -> Result<()> {
    let svg = render(report)?;
    crate::swarm::save_file(&temp, svg.as_bytes())
}

/// The timeline of `report`, as an SVG document.
pub fn render(report: &RunReport) -> Result<String> {
    let timeline = Timeline::from_report(report);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(&timeline.title, (FONT, 20))?;
        let (left, right) = root.split_horizontally(WIDTH * 56 / 100);
        draw_held(&left, &timeline)?;
        draw_uploads(&right, &timeline)?;
        root.present()?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The left panel: one line per peer, and the ranks' colours beside it.
fn draw_held(area: &Area, timeline: &Timeline) -> Result<()> {
    let (width, _) = area.dim_in_pixel();
    let (plot, key) = area.split_horizontally(width - KEY_WIDTH);
    let top = timeline
        .held
        .iter()
        .flatten()
        .map(|&(_, held)| held)
        .max()
        .unwrap_or(0);
    let mut chart = ChartBuilder::on(&plot)
        .caption("Segments held by each peer", (FONT, 17))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..timeline.seconds.max(0.001), 0..(top + top / 25).max(1))?;
    chart
        .configure_mesh()
        .x_desc("seconds since every peer registered")
        .y_desc("segments held")
        .y_label_formatter(&|v| thousands(*v))
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 12))
        .max_light_lines(2)
        .light_line_style(RGBColor(238, 238, 238))
        .draw()?;
    let count = timeline.held.len();
    for (index, points) in timeline.held.iter().enumerate() {
        let style = rank_color(index, count).stroke_width(2);
        chart.draw_series(LineSeries::new(points.iter().copied(), style))?;
    }
    let swatches: Vec<RGBColor> = (0..count).map(|i| rank_color(i, count)).collect();
    let length = key_length(&key).min(RANK_SWATCH * count as f64);
    let step = label_step(length / count.max(1) as f64);
    let labels = timeline
        .ranks
        .iter()
        .enumerate()
        .filter(|&(_, rank)| rank % step == 0)
        .map(|(index, rank)| (index, rank.to_string()))
        .collect::<Vec<_>>();
    draw_key(&key, "rank", &swatches, &labels, length)
}

/// The right panel: the upload heat map, and its scale beside it.
fn draw_uploads(area: &Area, timeline: &Timeline) -> Result<()> {
    let (width, _) = area.dim_in_pixel();
    let (plot, key) = area.split_horizontally(width - KEY_WIDTH);
    let n = timeline.ranks.len() as i32;
    let most = timeline
        .uploads
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(0);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "Segments uploaded, from rank (row) to rank (column)",
            (FONT, 17),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(50)
        // An i32 range is inclusive as a discrete axis: 0..n-1 is n cells.
        .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())?;
    // Rows run down from the first peer; label only every step-th rank.
    let (plot_width, _) = chart.plotting_area().dim_in_pixel();
    let step = label_step(f64::from(plot_width) / f64::from(n.max(1)));
    let ranks = &timeline.ranks;
    let label = |index: i32| match ranks.get(index as usize) {
        Some(rank) if index >= 0 && rank % step == 0 => rank.to_string(),
        _ => String::new(),
    };
    let column_label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(column) => label(*column),
        _ => String::new(),
    };
    let row_label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(y) => label(n - 1 - y),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(n as usize)
        .y_labels(n as usize)
        .x_label_formatter(&column_label)
        .y_label_formatter(&row_label)
        .x_desc("to rank")
        .y_desc("from rank")
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 12))
        .draw()?;
    let cells = timeline
        .uploads
        .iter()
        .enumerate()
        .flat_map(|(row, counts)| {
            counts.iter().enumerate().map(move |(column, &count)| {
                let color = if count == 0 {
                    NOTHING
                } else {
                    HEAT_GRADIENT.at(count as f64 / most as f64)
                };
                let (x, y) = (column as i32, n - 1 - row as i32);
                Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    color.filled(),
                )
            })
        });
    chart.draw_series(cells)?;
    // The scale, most at the top; labelled at fifths of the way.
    let swatches: Vec<RGBColor> = (0..HEAT_KEY_STEPS)
        .map(|i| HEAT_GRADIENT.at(1.0 - i as f64 / (HEAT_KEY_STEPS - 1) as f64))
        .collect();
    let labels: Vec<(usize, String)> = (0..=4)
        .map(|fifth| {
            let index = (HEAT_KEY_STEPS - 1) * fifth / 4;
            let value = most as f64 * (1.0 - fifth as f64 / 4.0);
            (index, thousands(value.round() as u64))
        })
        .collect();
    draw_key(&key, "segments", &swatches, &labels, key_length(&key))
}

/// The longest a key's strip can be in `area`, in pixels.
fn key_length(area: &Area) -> f64 {
    f64::from(area.dim_in_pixel().1 as i32 - KEY_TOP - KEY_BOTTOM)
}

/// Labels go on multiples of this (1, 2, 5, 10, 20, ...), so that with
/// `pixels` between neighbours they stay [`LABEL_SPACING`] apart.
fn label_step(pixels: f64) -> u32 {
    // A degenerate panel (no room at all) still gets an answer.
    let pixels = pixels.max(0.01);
    let mut magnitude = 1;
    loop {
        for step in [1, 2, 5].map(|m| m * magnitude) {
            if f64::from(step) * pixels >= LABEL_SPACING {
                return step;
            }
        }
        magnitude *= 10;
    }
}

/// A key: a column of `swatches` from the top down, `length` pixels long,
/// with `labels` beside the swatches of those indices, and a title above.
fn draw_key(
    area: &Area,
    title: &str,
    swatches: &[RGBColor],
    labels: &[(usize, String)],
    length: f64,
) -> Result<()> {
    let per_swatch = length / swatches.len().max(1) as f64;
    let y_of = |position: f64| KEY_TOP + (position * per_swatch).round() as i32;
    area.draw(&Text::new(
        title.to_string(),
        (12, KEY_TOP - 12),
        (FONT, 14).into_font(),
    ))?;
    for (index, &color) in swatches.iter().enumerate() {
        let (top, bottom) = (y_of(index as f64), y_of(index as f64 + 1.0));
        area.draw(&Rectangle::new([(12, top), (36, bottom)], color.filled()))?;
    }
    let style = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (index, label) in labels {
        let y = y_of(*index as f64 + 0.5);
        area.draw(&Text::new(label.clone(), (42, y), style.clone()))?;
    }
    Ok(())
}

/// 1234567 → "1,234,567".
fn thousands(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of 3 peers: rank 1 seeds a 100-segment file that ranks 2
    /// and 3 fetch, 2 serving 3 some of it.
    fn report() -> RunReport {
        use mpitorrent_core::report::RunSettings;
        use mpitorrent_core::stats::{PeerStats, ResourceUse, Transfer};
        use mpitorrent_core::tracker::{FileSummary, RunData};
        use mpitorrent_core::{FileId, Rank};
        let moved = |peer: u32, segments: u64| Transfer {
            file: FileId(0),
            peer: Rank(peer),
            segments,
        };
        let seed = PeerStats {
            uploads: vec![moved(2, 100), moved(3, 70)],
            ..PeerStats::default()
        };
        let first = PeerStats {
            downloads: vec![moved(1, 100)],
            uploads: vec![moved(3, 30)],
            progress: vec![(500, 50), (1000, 100)],
            ..PeerStats::default()
        };
        let second = PeerStats {
            downloads: vec![moved(1, 70), moved(2, 30)],
            progress: vec![(1500, 100)],
            ..PeerStats::default()
        };
        let data = RunData {
            ranks: 4,
            wall: std::time::Duration::from_secs(2),
            files: vec![FileSummary {
                name: "f".into(),
                segments: 100,
                initial_owners: vec![Rank(1)],
            }],
            peers: vec![(Rank(1), seed), (Rank(2), first), (Rank(3), second)],
            nodes: Vec::new(),
            tracker_received: Default::default(),
            tracker_sent: Default::default(),
        };
        let settings = RunSettings {
            transport: "local".into(),
            strategy: "round-robin".into(),
            window: 1,
            per_rank_resources: false,
        };
        RunReport::build(&data, settings, ResourceUse::default())
    }

    #[test]
    fn each_peer_holds_what_it_owned_plus_what_it_downloaded() {
        let timeline = Timeline::from_report(&report());
        assert_eq!(timeline.ranks, vec![1, 2, 3]);
        assert_eq!(timeline.seconds, 2.0);
        assert_eq!(timeline.held[0], vec![(0.0, 100), (2.0, 100)]);
        assert_eq!(
            timeline.held[1],
            vec![(0.0, 0), (0.5, 50), (1.0, 100), (2.0, 100)]
        );
        assert_eq!(
            timeline.uploads,
            vec![vec![0, 100, 70], vec![0, 0, 30], vec![0, 0, 0]]
        );
        assert!(timeline
            .title
            .starts_with("mpitorrent: 3 peers downloaded 200 segments"));
    }

    #[test]
    fn labels_thin_out_to_round_steps() {
        assert_eq!(label_step(46.0), 1);
        assert_eq!(label_step(11.0), 2);
        assert_eq!(label_step(10.0), 5);
        assert_eq!(label_step(2.0), 20);
        assert!(label_step(0.0) > 1000, "no room: hardly any label");
    }

    #[test]
    fn gradients_run_from_first_to_last_stop() {
        assert_eq!(HEAT_GRADIENT.at(0.0), RGBColor(255, 255, 204));
        assert_eq!(HEAT_GRADIENT.at(1.0), RGBColor(128, 0, 38));
        assert_eq!(HEAT_GRADIENT.at(7.0), HEAT_GRADIENT.at(1.0));
        assert_eq!(rank_color(0, 64), RGBColor(48, 18, 59));
        assert_eq!(rank_color(63, 64), RGBColor(122, 4, 3));
    }
}
