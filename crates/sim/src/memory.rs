//! How much memory a simulation will take, estimated before anything is
//! allocated, and whether this machine has it: a run that cannot fit is
//! refused with the estimate, rather than ending in an allocation abort or
//! a machine that swaps for hours.
//!
//! Measured on the development VM (release build, `rarest-first`): 1,000
//! peers x 1,000 segments peak at 55 MiB, 4,000 x 1,000 at 216 MiB, 10,000
//! x 1,000 at about 600 MiB: 55 to 60 bytes for each segment a peer
//! downloads (its holdings, the tracker's holder lists, the messages in
//! flight). A peer that owns a file at the start costs more per segment
//! (1,000 x 1,000 with every peer a seed: 223 MiB, over 200 bytes each:
//! its listing, its REGISTER in flight and the tracker's copy). The
//! estimate rounds both up, and adds a slot per tick of the longest delay (the
//! event queue keeps one per tick ahead) and a fixed base.

use crate::config::SimConfig;
use crate::SimError;
use mpitorrent_core::scenario::Scenario;
use std::collections::{HashMap, HashSet};

/// Bytes per segment a peer downloads.
pub const BYTES_PER_DOWNLOAD: u64 = 64;
/// Bytes per segment a peer owns at the start.
pub const BYTES_PER_OWNED: u64 = 256;
/// Bytes per tick of the longest delay (an empty per-tick bucket).
const BYTES_PER_TICK_AHEAD: u64 = 32;
/// The program, the codec's buffers and the report.
const BASE_BYTES: u64 = 16 << 20;

/// What a simulation holds, counted before it is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    pub peers: u64,
    /// Segments to download, summed over the peers.
    pub downloads: u64,
    /// Segments owned at the start, summed over the peers.
    pub owned: u64,
}

impl Footprint {
    /// The one-file broadcast of [`crate::broadcast`].
    pub fn broadcast(peers: u32, segments: u32, seeds: u32) -> Footprint {
        let (peers, segments, seeds) = (u64::from(peers), u64::from(segments), u64::from(seeds));
        Footprint {
            peers,
            downloads: peers.saturating_sub(seeds).saturating_mul(segments),
            owned: seeds.min(peers).saturating_mul(segments),
        }
    }

    /// Any scenario: every peer's owned segments and the segments of the
    /// files it wants and does not own.
    pub fn of(scenario: &Scenario) -> Footprint {
        let mut segments: HashMap<&str, u64> = HashMap::new();
        let mut owned = 0;
        for input in &scenario.inputs {
            for file in &input.owned {
                segments.insert(&file.name, file.hashes.len() as u64);
                owned += file.hashes.len() as u64;
            }
        }
        let mut downloads = 0u64;
        for input in &scenario.inputs {
            let mine: HashSet<&str> = input.owned.iter().map(|f| f.name.as_str()).collect();
            for name in input.wanted.iter().filter(|w| !mine.contains(w.as_str())) {
                downloads += segments.get(name.as_str()).copied().unwrap_or(0);
            }
        }
        Footprint {
            peers: scenario.inputs.len() as u64,
            downloads,
            owned,
        }
    }

    /// The estimated peak, in bytes (saturating: a swarm too big to count
    /// is too big to run).
    pub fn bytes(&self, config: &SimConfig) -> u64 {
        let longest_delay = [
            config.latency,
            config.slow.map_or(0, |s| s.every),
            config.late.map_or(0, |l| l.by),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        BASE_BYTES
            .saturating_add(self.downloads.saturating_mul(BYTES_PER_DOWNLOAD))
            .saturating_add(self.owned.saturating_mul(BYTES_PER_OWNED))
            .saturating_add(longest_delay.saturating_mul(BYTES_PER_TICK_AHEAD))
    }

    /// Refuses a simulation whose estimate is above what `available`
    /// says the machine has (see [`available_memory`]; `None`: unknown,
    /// not checked).
    pub fn check(&self, config: &SimConfig, available: Option<Memory>) -> Result<(), SimError> {
        let needed = self.bytes(config);
        match available {
            Some(memory) if needed > memory.bytes => Err(SimError::TooBig {
                peers: self.peers,
                downloads: self.downloads,
                owned: self.owned,
                needed,
                available: memory.bytes,
                measure: memory.source,
            }),
            _ => Ok(()),
        }
    }
}

/// Memory this machine can give a new program, and where that was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    pub bytes: u64,
    pub source: &'static str,
}

/// What `/proc/meminfo` says is available (`MemAvailable`), or the
/// physical memory (`MemTotal`) on kernels without it; `None` where there
/// is no `/proc/meminfo`.
pub fn available_memory() -> Option<Memory> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let kib = line.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = kib.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some(kib.saturating_mul(1024))
        })
    };
    let (bytes, source) = match field("MemAvailable") {
        Some(bytes) => (bytes, "MemAvailable"),
        None => (field("MemTotal")?, "MemTotal"),
    };
    Some(Memory { bytes, source })
}

/// `bytes` in the binary unit that reads best: "600 MiB", "1.5 GiB".
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["GiB", "TiB", "PiB", "EiB", "ZiB"];
    let mib = bytes as f64 / (1u64 << 20) as f64;
    if mib < 1024.0 {
        return format!("{mib:.0} MiB");
    }
    let mut value = mib / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_estimate_covers_what_was_measured() {
        let config = SimConfig::default();
        let measured_mib = [(1_000, 1_000, 1, 55), (4_000, 1_000, 1, 216)];
        for (peers, segments, seeds, mib) in measured_mib {
            let estimate = Footprint::broadcast(peers, segments, seeds).bytes(&config);
            assert!(estimate >= mib << 20, "{peers} x {segments}: {estimate}");
            assert!(
                estimate <= 2 * (mib << 20),
                "{peers} x {segments}: {estimate}"
            );
        }
        let all_seeds = Footprint::broadcast(1_000, 1_000, 1_000);
        assert!(all_seeds.bytes(&config) >= 223 << 20);
        let scenario = crate::broadcast(30, 7, 2, 1).unwrap();
        assert_eq!(Footprint::of(&scenario), Footprint::broadcast(30, 7, 2));
    }

    #[test]
    fn a_swarm_beyond_memory_is_refused_with_the_estimate() {
        let config = SimConfig::default();
        let small = Some(Memory {
            bytes: GIB,
            source: "MemAvailable",
        });
        assert_eq!(
            Footprint::broadcast(1_000, 1_000, 1).check(&config, small),
            Ok(())
        );
        let err = Footprint::broadcast(100_000, 100_000, 1)
            .check(&config, small)
            .unwrap_err()
            .to_string();
        assert!(err.contains("about 596.1 GiB"), "{err}");
        assert!(err.contains("1.0 GiB available (MemAvailable"), "{err}");
        let huge = Footprint::broadcast(u32::MAX - 1, u32::MAX, 1);
        assert_eq!(huge.bytes(&config), u64::MAX, "saturates, never wraps");
        assert_eq!(human(u64::MAX), "16.0 EiB");
        assert_eq!(human(600 << 20), "600 MiB");
        assert!(huge.check(&config, small).is_err());
        assert_eq!(huge.check(&config, None), Ok(()), "unknown: not checked");
    }

    #[test]
    fn reads_meminfo() {
        let text = "MemTotal:       24683584 kB\nMemFree:  1 kB\nMemAvailable:   23803112 kB\n";
        assert_eq!(
            parse_meminfo(text),
            Some(Memory {
                bytes: 23_803_112 * 1024,
                source: "MemAvailable"
            })
        );
        let old = "MemTotal:       2048 kB\n";
        assert_eq!(parse_meminfo(old).unwrap().source, "MemTotal");
        assert_eq!(parse_meminfo("garbage"), None);
        assert!(available_memory().is_some_and(|m| m.bytes > 0));
    }
}
