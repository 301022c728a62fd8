//! What a simulation measured: the makespan against the lower bound, the
//! messages by kind and the fairness of the uploads, from the tracker's own
//! run report (the one `--report` writes for a real run) plus the ticks.

use crate::config::SimConfig;
use crate::world::Finished;
use mpitorrent_core::report::{MessageReport, RunReport, RunSettings};
use mpitorrent_core::stats::ResourceUse;
use serde::Serialize;
use std::fmt::Write as _;

/// How the run was set up, in the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimSettings {
    pub strategy: String,
    pub window: u32,
    pub update_every: u32,
    /// `None`: every owner in every answer.
    pub swarm_sample: Option<usize>,
    pub latency_ticks: u64,
    pub slow: Option<crate::SlowPeers>,
    pub late: Option<crate::LatePeers>,
    pub leave_fraction: f64,
    /// Messages the tracker handles per tick (0: any number).
    pub tracker_capacity: u64,
}

/// How long messages waited for the tracker (all 0 for a tracker without
/// a capacity).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrackerQueueReport {
    /// Ticks from a message's arrival at the tracker to its handling,
    /// over every message the tracker handled.
    pub mean_wait_ticks: f64,
    pub max_wait_ticks: u64,
    /// The most messages that waited at once.
    pub longest_queue: usize,
}

/// Jain's fairness index of the uploads of each file's holders.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fairness {
    pub min: f64,
    pub median: f64,
    /// Files with any upload.
    pub files: usize,
}

/// Everything a run measured. The same scenario, settings and seed give
/// the same report, bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimReport {
    /// The seed in use (of the machines, the peers' traits and any
    /// generated scenario).
    pub seed: u64,
    pub settings: SimSettings,
    pub peers: u32,
    pub files: usize,
    pub segments_downloaded: u64,
    /// The tick at which the last peer completed its last downloaded file
    /// (ticks count from 0, when every peer sends REGISTER; so the
    /// registration and the first swarm request are included).
    pub makespan_ticks: u64,
    /// No schedule can finish before this tick (see [`crate::bound`]);
    /// `None` for scenarios of several files.
    pub lower_bound_ticks: Option<u64>,
    /// `makespan_ticks / lower_bound_ticks`.
    pub ratio_to_bound: Option<f64>,
    /// The tick the tracker had every peer's statistics.
    pub terminated_at_tick: u64,
    /// Segments sent / (peers x makespan): how busy the uplinks were.
    pub uplink_utilization: f64,
    /// Messages the tracker handled before the makespan's tick / (its
    /// capacity x makespan): how busy it was while files were downloaded.
    /// `None` for a tracker without a capacity.
    pub tracker_utilization: Option<f64>,
    pub tracker_queue: TrackerQueueReport,
    pub messages: MessageReport,
    pub fairness: Option<Fairness>,
    /// Ranks that were slow, late, or left, as drawn.
    pub slow_peers: usize,
    pub late_peers: usize,
    pub leaving_peers: usize,
    /// The tracker's whole run report (what `run --report` writes; times in
    /// it are ticks, as milliseconds).
    #[serde(skip)]
    pub run: RunReport,
}

impl SimReport {
    pub(crate) fn build(
        finished: Finished,
        config: &SimConfig,
        lower_bound: Option<u64>,
    ) -> SimReport {
        let settings = RunSettings {
            transport: "sim".into(),
            strategy: config.strategy.to_string(),
            window: config.window,
            per_rank_resources: false,
        };
        let run = RunReport::build(&finished.run, settings, ResourceUse::default());
        let makespan = finished.makespan;
        let mut fairness: Vec<f64> = run.files.iter().filter_map(|f| f.fairness).collect();
        fairness.sort_by(f64::total_cmp);
        let peers = finished.traits.len();
        let sent: u64 = finished.uploads.iter().sum();
        let queue = finished.tracker_queue.unwrap_or_default();
        let tracker_utilization = finished.tracker_queue.map(|q| {
            let ticks = q.capacity as f64 * makespan as f64;
            if ticks == 0.0 {
                0.0
            } else {
                finished.tracker_handled_by_makespan as f64 / ticks
            }
        });
        SimReport {
            seed: config.seed,
            settings: SimSettings {
                strategy: config.strategy.to_string(),
                window: config.window,
                update_every: config.update_every,
                swarm_sample: config.swarm_sample,
                latency_ticks: config.latency,
                slow: config.slow,
                late: config.late,
                leave_fraction: config.leave_fraction,
                tracker_capacity: config.tracker_capacity,
            },
            peers: peers as u32,
            files: run.files.len(),
            segments_downloaded: run.segments_downloaded,
            makespan_ticks: makespan,
            lower_bound_ticks: lower_bound,
            ratio_to_bound: lower_bound.map(|b| makespan as f64 / b as f64),
            terminated_at_tick: finished.terminated_at,
            uplink_utilization: if makespan == 0 || peers == 0 {
                0.0
            } else {
                sent as f64 / (peers as f64 * makespan as f64)
            },
            tracker_utilization,
            tracker_queue: TrackerQueueReport {
                mean_wait_ticks: queue.mean_wait(),
                max_wait_ticks: queue.max_wait,
                longest_queue: queue.longest,
            },
            messages: run.messages.clone(),
            fairness: fairness.first().map(|&min| Fairness {
                min,
                median: fairness[fairness.len() / 2],
                files: fairness.len(),
            }),
            slow_peers: finished
                .traits
                .iter()
                .filter(|t| t.upload_every > 1)
                .count(),
            late_peers: finished.traits.iter().filter(|t| t.start_delay > 0).count(),
            leaving_peers: finished.traits.iter().filter(|t| t.leaves).count(),
            run,
        }
    }

    /// A few lines for a terminal.
    pub fn summary(&self) -> String {
        let s = &self.settings;
        let sample = s
            .swarm_sample
            .map_or_else(|| "all owners".to_string(), |k| format!("sample {k}"));
        let mut out = format!(
            "mpitorrent sim: {} peers, {} file(s), {} segments downloaded \
             [{}, window {}, {sample}, latency {} tick(s), seed {}]\n",
            self.peers,
            self.files,
            self.segments_downloaded,
            s.strategy,
            s.window,
            s.latency_ticks,
            self.seed
        );
        let _ = write!(out, "  makespan: {} ticks", self.makespan_ticks);
        match (self.lower_bound_ticks, self.ratio_to_bound) {
            (Some(bound), Some(ratio)) => {
                let _ = write!(out, "; lower bound {bound} ticks; ratio {ratio:.3}");
            }
            _ if self.files > 1 => out += "; no lower bound for several files",
            _ => out += "; no lower bound: no segment to download",
        }
        let _ = writeln!(
            out,
            "; uplinks {:.0}% busy; terminated at tick {}",
            100.0 * self.uplink_utilization,
            self.terminated_at_tick
        );
        let _ = writeln!(out, "  tracker: {}", self.tracker_line());
        let m = &self.messages;
        let kinds: Vec<String> = m.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "  messages: {} in all ({:.2} per segment): {}",
            m.total,
            m.per_segment,
            kinds.join(", ")
        );
        if let Some(f) = &self.fairness {
            let _ = writeln!(
                out,
                "  fairness (Jain's index of each file's uploads): min {:.3}, median {:.3} \
                 over {} file(s)",
                f.min, f.median, f.files
            );
        }
        if self.slow_peers + self.late_peers + self.leaving_peers > 0 {
            let _ = writeln!(
                out,
                "  heterogeneity: {} slow, {} late, {} leaving peer(s)",
                self.slow_peers, self.late_peers, self.leaving_peers
            );
        }
        out
    }

    /// The tracker's capacity and how it coped, in words.
    fn tracker_line(&self) -> String {
        let Some(utilization) = self.tracker_utilization else {
            return "no capacity limit (--tracker-capacity 0): every message handled at once"
                .to_string();
        };
        let q = &self.tracker_queue;
        format!(
            "{} messages per tick, {:.0}% busy until the makespan; messages waited {:.2} \
             ticks on average, at most {}; at most {} waited at once",
            self.settings.tracker_capacity,
            100.0 * utilization,
            q.mean_wait_ticks,
            q.max_wait_ticks,
            q.longest_queue
        )
    }
}
