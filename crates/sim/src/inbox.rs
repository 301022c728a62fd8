//! A run's tracker inbox, recorded: every message the tracker handled,
//! with its tick and sender, as the wire bytes it arrived as. The
//! benchmark replays it into a fresh [`Tracker`](mpitorrent_core::tracker::Tracker)
//! (made with [`tracker_config`], so it is the run's own) to time the
//! machine and the codec alone, on the message mix of a large swarm.

use crate::{SimConfig, SimError, SimReport};
use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::tracker::TrackerConfig;
use mpitorrent_core::Rank;

/// One message the tracker handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerMessage {
    /// The tick it was handled at (the machine saw it as milliseconds).
    pub tick: u64,
    pub from: Rank,
    /// Its wire encoding.
    pub bytes: Vec<u8>,
}

/// The tracker's settings in a run of `scenario` under `config`.
pub fn tracker_config(scenario: &Scenario, config: &SimConfig) -> TrackerConfig {
    TrackerConfig {
        swarm_sample: config.swarm_sample,
        seed: config.seed,
        ..TrackerConfig::new(scenario.ranks())
    }
}

/// Runs `scenario` under `config` (as [`crate::run`] does), recording the
/// tracker's messages in the order it handled them.
pub fn record(
    scenario: &Scenario,
    config: &SimConfig,
) -> Result<(SimReport, Vec<TrackerMessage>), SimError> {
    let mut finished = crate::checked_world(scenario, config)?.recording().run()?;
    let inbox = finished.inbox.take().unwrap_or_default();
    Ok((crate::report(finished, scenario, config), inbox))
}
