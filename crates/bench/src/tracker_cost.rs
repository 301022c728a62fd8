//! What one message costs the tracker machine alone, without MPI: the
//! simulator records every message its tracker handled in a large paced
//! swarm, and a fresh tracker (the run's own settings) is fed them again,
//! as the real tracker rank is fed them: decode, the machine, encode every
//! answer. The swarm table's "tracker µs/msg" is the whole tracker rank
//! under `mpirun` (MPI's receive and sends included); this is the part of
//! it that is mpitorrent's own code, on the message mix of 1,000 peers.

use crate::sample::messages_per_tick;
use crate::stats::median;
use anyhow::{bail, Context, Result};
use mpitorrent_core::strategy::Strategy;
use mpitorrent_core::tracker::{Tracker, TrackerEvent};
use mpitorrent_core::wire;
use mpitorrent_sim::inbox::{record, tracker_config, TrackerMessage};
use mpitorrent_sim::SimConfig;
use serde::Serialize;
use std::hint::black_box;
use std::time::Duration;

/// The recorded swarm: a paced broadcast of one file, one seed.
const PEERS: u32 = 1000;
const SEGMENTS: u32 = 1000;
const SEED: u64 = 7;
/// Replays timed by their CPU time (the median is reported), after one
/// that warms the caches.
const REPLAYS: usize = 5;

/// What the replays measured.
#[derive(Debug, Serialize)]
pub struct MachineCost {
    /// The `mpitorrent sim` command whose tracker inbox was replayed.
    pub swarm: String,
    pub messages: usize,
    /// Median over the replays.
    pub us_per_message: f64,
    /// Messages per simulator tick at that cost.
    pub messages_per_tick: f64,
    pub replays_us_per_message: Vec<f64>,
}

impl MachineCost {
    /// One line for the benchmark's output.
    pub fn summary(&self) -> String {
        format!(
            "tracker machine alone (no MPI): the {} messages the tracker handled in `{}`, fed \
             again to a fresh tracker (decode, the machine, encode its answers), CPU time, \
             median of {} replays: {:.2} µs/msg, {:.0} msgs/tick",
            self.messages,
            self.swarm,
            self.replays_us_per_message.len(),
            self.us_per_message,
            self.messages_per_tick.floor()
        )
    }
}

/// Records the swarm's tracker inbox and times its replays.
pub fn measure() -> Result<MachineCost> {
    let scenario =
        mpitorrent_sim::broadcast(PEERS, SEGMENTS, 1, SEED).map_err(anyhow::Error::msg)?;
    let config = SimConfig {
        strategy: Strategy::Paced,
        seed: SEED,
        tracker_capacity: 0,
        ..SimConfig::default()
    };
    let (_, inbox) = record(&scenario, &config).context("simulating the swarm to replay")?;
    let tracker = || Tracker::new(tracker_config(&scenario, &config), Duration::ZERO);
    let mut replays = Vec::new();
    for _ in 0..=REPLAYS {
        let elapsed = replay(tracker(), &inbox)?;
        replays.push(elapsed.as_secs_f64() * 1e6 / inbox.len().max(1) as f64);
    }
    replays.remove(0);
    let us_per_message = median(replays.iter().copied()).unwrap_or(0.0);
    Ok(MachineCost {
        swarm: format!(
            "mpitorrent sim --peers {PEERS} --segments {SEGMENTS} --strategy paced --seed {SEED} \
             --tracker-capacity 0"
        ),
        messages: inbox.len(),
        us_per_message,
        messages_per_tick: messages_per_tick(us_per_message),
        replays_us_per_message: replays,
    })
}

/// The CPU time this thread has used: unlike the wall clock, it does not
/// count the time the thread waited for a core, on a machine shared with
/// other jobs.
fn thread_cpu_time() -> Duration {
    // SAFETY: clock_gettime only writes the struct we hand it.
    let time = unsafe {
        let mut time: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time);
        time
    };
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// Feeds `inbox` to `tracker` as its driver would; the CPU time it took.
/// Fails unless the tracker ends as the recorded run did, terminated.
fn replay(mut tracker: Tracker, inbox: &[TrackerMessage]) -> Result<Duration> {
    let start = thread_cpu_time();
    let mut encoded = 0usize;
    let mut terminated = false;
    for message in inbox {
        let msg = wire::decode(&message.bytes).context("a recorded message")?;
        let now = Duration::from_millis(message.tick);
        tracker.handle_message(now, message.from, msg);
        while let Some(transmit) = tracker.poll_transmit() {
            encoded += wire::encode(&transmit.msg).len();
        }
        while let Some(event) = tracker.poll_event() {
            match event {
                TrackerEvent::Terminated => terminated = true,
                TrackerEvent::Aborted { reason } => bail!("the replayed tracker aborted: {reason}"),
                TrackerEvent::AllRegistered => {}
            }
        }
    }
    let elapsed = thread_cpu_time().saturating_sub(start);
    black_box(encoded);
    if !terminated {
        bail!("the replayed tracker did not terminate as the recorded one did");
    }
    Ok(elapsed)
}
