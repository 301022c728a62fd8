//! The idle-CPU check: a shape (`two-and-one` unless `--idle-shape` says
//! otherwise) plus one more peer that owns nothing and wants nothing. That
//! rank only waits for the end of the swarm, so its process's CPU time over
//! the job's wall time shows what waiting costs (a rank that spins on MPI
//! steals a core from the others). Its CPU includes its MPI start-up, which
//! dominates when the swarm itself lasts a few milliseconds.

use crate::runner::{repeat, Runner, Settings};
use crate::stats::median;
use crate::swarm_dir::SwarmDir;
use anyhow::Context;
use mpitorrent_core::classic::PeerInput;
use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::shapes::Shape;
use serde::Serialize;

/// An idle rank should use less CPU than this share of the wall time.
pub const TARGET_PERCENT: f64 = 5.0;

/// One run of the check.
#[derive(Debug, Serialize)]
pub struct IdleSample {
    /// The whole `mpirun`, launch included.
    pub wall_seconds: f64,
    /// From the tracker's ACK to its TERMINATE.
    pub swarm_seconds: f64,
    /// The idle rank's process: user + system CPU.
    pub cpu_seconds: f64,
    /// `cpu_seconds` / `wall_seconds`, in percent.
    pub cpu_percent: f64,
}

/// The check's runs and their median.
#[derive(Debug, Serialize)]
pub struct IdleResult {
    pub scenario: String,
    pub ranks: u32,
    pub idle_rank: u32,
    pub target_percent: f64,
    pub runs: Vec<IdleSample>,
    pub failures: Vec<String>,
    pub median_cpu_percent: Option<f64>,
}

impl IdleResult {
    /// The line printed after the table.
    pub fn summary(&self) -> String {
        let Some(percent) = self.median_cpu_percent else {
            return format!("idle rank CPU %: FAILED ({})", self.scenario);
        };
        let verdict = if percent < self.target_percent {
            "OK"
        } else {
            "ABOVE TARGET"
        };
        let of =
            |field: fn(&IdleSample) -> f64| median(self.runs.iter().map(field)).unwrap_or_default();
        format!(
            "idle rank CPU %: {:.1}% ({verdict}; target < {}%): rank {} of {} ({}) owns and \
             wants nothing; it used {:.3} CPU s in a {:.3} s job whose swarm took {:.3} s \
             (medians of {} runs)",
            percent,
            self.target_percent,
            self.idle_rank,
            self.ranks,
            self.scenario,
            of(|s| s.cpu_seconds),
            of(|s| s.wall_seconds),
            of(|s| s.swarm_seconds),
            self.runs.len()
        )
    }
}

/// `base` with one idle peer after the others.
pub fn scenario(base: &Shape) -> Scenario {
    let mut inputs = base.scenario.inputs.clone();
    inputs.push(PeerInput::default());
    Scenario::from_inputs(inputs)
}

/// Runs the check `runs` times with mpitorrent's default settings.
pub fn run(runner: &Runner, base: &Shape, runs: u32) -> IdleResult {
    let scenario = scenario(base);
    let ranks = scenario.ranks();
    let idle_rank = ranks - 1;
    let name = format!("{} + 1 idle rank", base.name);
    let (samples, failures) = match SwarmDir::create(&scenario) {
        Ok(dir) => repeat(&name, runs, || {
            let (wall, report) = runner.swarm(&dir, ranks, Settings::default())?;
            let peer = report
                .peers
                .iter()
                .find(|p| p.rank == idle_rank)
                .with_context(|| format!("the report has no rank {idle_rank}"))?;
            let cpu_seconds = peer.resources.cpu_seconds;
            Ok(IdleSample {
                wall_seconds: wall.as_secs_f64(),
                swarm_seconds: report.wall_seconds,
                cpu_seconds,
                cpu_percent: 100.0 * cpu_seconds / wall.as_secs_f64(),
            })
        }),
        Err(err) => (Vec::new(), vec![format!("{name}: {err:#}")]),
    };
    IdleResult {
        scenario: name,
        ranks,
        idle_rank,
        target_percent: TARGET_PERCENT,
        median_cpu_percent: median(samples.iter().map(|s| s.cpu_percent)),
        runs: samples,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_rank_owns_and_wants_nothing() {
        let scenario = scenario(&mpitorrent_core::shapes::by_name("two-and-one").unwrap());
        assert_eq!(scenario.ranks(), 5);
        let files = scenario.files();
        let (_, input) = files.iter().find(|(name, _)| name == "in4.txt").unwrap();
        assert_eq!(input, "0\n0\n");
    }
}
