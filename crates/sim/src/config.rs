//! How a simulation runs: the protocol's settings (strategy, window,
//! sample), the network model (latency) and the peers' heterogeneity (slow,
//! late and leaving peers), all drawn from one seed.

use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::tracker::DEFAULT_SWARM_SAMPLE;
use serde::Serialize;

/// A fraction of the peers whose uplink starts a segment only every
/// `every` ticks instead of every tick.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SlowPeers {
    pub fraction: f64,
    pub every: u64,
}

/// A fraction of the peers whose download side starts `by` ticks after
/// the registration ACK (their upload side serves from the ACK on, but
/// they hold nothing to serve until they download).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatePeers {
    pub fraction: f64,
    pub by: u64,
}

/// Everything a run depends on besides the scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    pub strategy: Strategy,
    /// Segment requests a downloader keeps outstanding.
    pub window: u32,
    /// PEER_UPDATE after this many segments (the classic 10).
    pub update_every: u32,
    /// The tracker's bound on owners per swarm answer (`None`: all).
    pub swarm_sample: Option<usize>,
    /// Ticks a control message (anything but a segment) takes to arrive.
    pub latency: u64,
    /// Seeds the tracker, the downloaders and the choice of slow, late and
    /// leaving peers (and the generated scenario, where there is one).
    pub seed: u64,
    pub slow: Option<SlowPeers>,
    pub late: Option<LatePeers>,
    /// The fraction of the peers that leave the swarms of the files they
    /// downloaded as soon as they have all their files (drawn among all
    /// peers: one that downloads nothing has nothing to leave).
    pub leave_fraction: f64,
    /// Give up (with a report of who waits for what) past this tick.
    pub max_ticks: u64,
    /// Messages the tracker handles per tick; the rest wait in a queue at
    /// the tracker (see `tracker_queue`). 0: a free tracker, that handles
    /// any number at once.
    pub tracker_capacity: u64,
}

/// The tick past which a run gives up unless told otherwise.
pub const DEFAULT_MAX_TICKS: u64 = 1_000_000;

/// The longest latency, slow-uplink interval or late start, in ticks. The
/// event queue keeps a slot for every tick up to the furthest event
/// scheduled, and walks through them one by one: a delay of 10^12 ticks
/// would be 32 TB of slots, or hours of walking empty ones.
pub const MAX_DELAY_TICKS: u64 = 1_000_000;

/// The largest `max_ticks`: 2^53, so that every tick (and every tick plus
/// a delay) is exact in the JSON report and in `u64` arithmetic.
pub const MAX_TICKS_LIMIT: u64 = 1 << 53;

/// The messages the tracker machine handles in one tick, when a tick is
/// the time of one 1 MiB segment at 10 Gbit/s (1 MiB x 8 / 10e9 s = 838.9
/// µs).
///
/// Measured on 2026-12-01 by the benchmark's "tracker machine alone" line
/// (`bash scripts/bench.sh`, any swarm case): the 280,595 messages the
/// tracker of a 1,000-peer paced swarm handled (`sim --peers 1000
/// --strategy paced --seed 7 --tracker-capacity 0`, recorded by
/// [`crate::inbox`]) fed again to a fresh `Tracker`, each decoded, handled
/// and its answers encoded, in thread CPU time: 1.93 to 2.37 µs per
/// message, median 2.04, so 838.9 / 2.04 = 411 per tick. This is the
/// machine's own cost, which is what the simulator models (the same
/// machine, every transport). A tracker rank under `mpirun` on this 2-core
/// machine, 16 ranks of 2 polling threads each, spent 9.45 µs of CPU per
/// message received (88 per tick, the swarm table's `tracker msgs/tick`),
/// but that counts its idle polling and start-up and the contention of 33
/// threads on 2 cores, not a message's cost; `--tracker-capacity 88` runs
/// the simulator with that figure.
pub const DEFAULT_TRACKER_CAPACITY: u64 = 411;

/// The largest `tracker_capacity`: a billion messages per tick is beyond
/// any tracker (a tick is a segment's time), and keeps every count of
/// messages handled in a run exact.
pub const MAX_TRACKER_CAPACITY: u64 = 1_000_000_000;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            strategy: Strategy::RarestFirst,
            window: 8,
            update_every: 10,
            swarm_sample: Some(DEFAULT_SWARM_SAMPLE),
            latency: 1,
            seed: 0,
            slow: None,
            late: None,
            leave_fraction: 0.0,
            max_ticks: DEFAULT_MAX_TICKS,
            tracker_capacity: DEFAULT_TRACKER_CAPACITY,
        }
    }
}

impl SimConfig {
    /// Says what is wrong with the settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        let fraction = |name: &str, f: f64| {
            if (0.0..=1.0).contains(&f) {
                Ok(())
            } else {
                Err(format!("{name} must be between 0 and 1, not {f}"))
            }
        };
        if self.latency == 0 {
            return Err(
                "the latency must be at least 1 tick (a segment received in a tick \
                 can be passed on in the next one, not the same)"
                    .into(),
            );
        }
        if self.max_ticks == 0 || self.max_ticks > MAX_TICKS_LIMIT {
            return Err(format!(
                "--max-ticks must be 1 to {MAX_TICKS_LIMIT} (2^53: ticks stay exact in the \
                 report), not {}",
                self.max_ticks
            ));
        }
        let delays = [
            ("--latency", Some(self.latency)),
            ("--slow-every", self.slow.map(|s| s.every)),
            ("--late-by", self.late.map(|l| l.by)),
        ];
        for (option, ticks) in delays {
            let Some(ticks) = ticks else { continue };
            if ticks > MAX_DELAY_TICKS {
                return Err(format!(
                    "{option} {ticks} is more ticks than can be simulated: at most \
                     {MAX_DELAY_TICKS} (the event queue keeps a slot per tick ahead)"
                ));
            }
            if ticks > self.max_ticks {
                return Err(format!(
                    "{option} {ticks} is beyond --max-ticks {}: the run would give up first",
                    self.max_ticks
                ));
            }
        }
        if self.tracker_capacity > MAX_TRACKER_CAPACITY {
            return Err(format!(
                "--tracker-capacity {} is more messages per tick than any tracker handles: \
                 at most {MAX_TRACKER_CAPACITY} (0: a tracker without a limit)",
                self.tracker_capacity
            ));
        }
        if self.window == 0 || self.update_every == 0 {
            return Err("the window and the update interval must be at least 1".into());
        }
        if self.swarm_sample == Some(0) {
            return Err("a swarm sample must name at least 1 owner".into());
        }
        if let Some(slow) = self.slow {
            fraction("the slow fraction", slow.fraction)?;
            if slow.every == 0 {
                return Err("slow peers upload every k ticks with k >= 1".into());
            }
        }
        if let Some(late) = self.late {
            fraction("the late fraction", late.fraction)?;
        }
        fraction("the leaving fraction", self.leave_fraction)
    }

    /// Whether every peer is alike: no slow, late or leaving peers.
    pub fn is_uniform(&self) -> bool {
        let none = |f: f64| f == 0.0;
        self.slow.is_none_or(|s| none(s.fraction) || s.every == 1)
            && self.late.is_none_or(|l| none(l.fraction) || l.by == 0)
            && none(self.leave_fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_uniform() {
        let config = SimConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert!(config.is_uniform());
    }

    #[test]
    fn delays_and_max_ticks_stay_within_what_can_be_simulated() {
        let bad = |config: SimConfig| config.validate().unwrap_err();
        let late = |by| SimConfig {
            late: Some(LatePeers { fraction: 0.5, by }),
            ..SimConfig::default()
        };
        assert_eq!(late(MAX_DELAY_TICKS).validate(), Ok(()));
        assert!(bad(late(u64::MAX - 5)).starts_with("--late-by 18446744073709551610 is more ticks"));
        let slow = SimConfig {
            slow: Some(SlowPeers {
                fraction: 0.5,
                every: u64::MAX,
            }),
            ..SimConfig::default()
        };
        assert!(bad(slow).starts_with("--slow-every"));
        let latency = |latency, max_ticks| SimConfig {
            latency,
            max_ticks,
            ..SimConfig::default()
        };
        assert!(bad(latency(MAX_DELAY_TICKS + 1, DEFAULT_MAX_TICKS)).contains("at most 1000000"));
        assert_eq!(
            bad(latency(50, 10)),
            "--latency 50 is beyond --max-ticks 10: the run would give up first"
        );
        assert!(bad(latency(1, 0)).starts_with("--max-ticks must be 1 to"));
        assert!(bad(latency(1, u64::MAX)).starts_with("--max-ticks must be 1 to"));
        assert_eq!(latency(1, MAX_TICKS_LIMIT).validate(), Ok(()));
    }

    #[test]
    fn the_tracker_capacity_is_0_to_a_billion() {
        let capacity = |tracker_capacity| SimConfig {
            tracker_capacity,
            ..SimConfig::default()
        };
        assert_eq!(capacity(0).validate(), Ok(()));
        assert_eq!(capacity(MAX_TRACKER_CAPACITY).validate(), Ok(()));
        assert_eq!(
            capacity(MAX_TRACKER_CAPACITY + 1).validate().unwrap_err(),
            "--tracker-capacity 1000000001 is more messages per tick than any tracker \
             handles: at most 1000000000 (0: a tracker without a limit)"
        );
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let bad = |config: SimConfig| config.validate().unwrap_err();
        assert!(bad(SimConfig {
            latency: 0,
            ..SimConfig::default()
        })
        .contains("latency"));
        let slow = SlowPeers {
            fraction: 1.5,
            every: 2,
        };
        assert!(bad(SimConfig {
            slow: Some(slow),
            ..SimConfig::default()
        })
        .contains("slow fraction"));
        let leaving = SimConfig {
            leave_fraction: 0.5,
            ..SimConfig::default()
        };
        assert!(!leaving.is_uniform());
    }
}
