//! The run report: what a swarm did, built by rank 0 from the tracker's own
//! counts and every peer's statistics. `--report FILE.json` writes it (its
//! fields are documented in the README); a summary of it goes to stderr at
//! the end of every run.

mod nodes;
mod read;

pub use nodes::NodeReport;

pub use read::ReportError;

use crate::escape::shown;
use crate::stats::{MessageCounts, ResourceUse};
use crate::tracker::RunData;
use crate::tree::RerunCounts;
use crate::MessageKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The bump whenever a field changes meaning or goes away.
pub const REPORT_VERSION: u32 = 1;

/// How the run was made (chosen by the driver, not seen by the tracker).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// "mpi" or "local".
    pub transport: String,
    pub strategy: String,
    pub window: u32,
    /// Whether each peer's `resources` is its own process ("mpi") or all
    /// ranks share one process whose use is on the tracker ("local").
    pub per_rank_resources: bool,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub version: u32,
    pub settings: RunSettings,
    pub ranks: u32,
    /// From the tracker's ACK to its TERMINATE.
    pub wall_seconds: f64,
    pub segments_downloaded: u64,
    /// Bytes of real segments moved (`share`; 0 in classic mode).
    #[serde(default)]
    pub bytes_downloaded: u64,
    /// Segments whose bytes did not match their hash, thrown away and
    /// fetched again (`share`).
    #[serde(default)]
    pub verification_failures: u64,
    /// When the first segment left a rank, in ms from that rank's start
    /// (the earliest of the peers' `first_segment_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_segment_ms: Option<u64>,
    pub messages: MessageReport,
    /// The tracker's process (the whole job's, in local mode).
    pub tracker_resources: ResourceUse,
    pub peers: Vec<PeerReport>,
    pub files: Vec<FileReport>,
    /// Per node (`share`; empty in classic mode, whose peers do not say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeReport>,
    /// What files already at the destinations saved (`share`; absent in
    /// classic mode): taken as complete by size and time, or hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reruns: Option<RerunCounts>,
}

/// Message counts of the whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageReport {
    pub total: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub to_tracker: u64,
    pub from_tracker: u64,
    pub between_peers: u64,
    pub acks: u64,
    pub nacks: u64,
    /// Messages of every kind per downloaded segment.
    pub per_segment: f64,
    /// Messages to the tracker per downloaded segment.
    pub to_tracker_per_segment: f64,
    /// What the transport carried: the peers' sends (a bundle of several
    /// messages counts once) plus the tracker's, per downloaded segment (0
    /// where the peers did not count them).
    #[serde(default)]
    pub transport_per_segment: f64,
}

/// One peer's part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerReport {
    pub rank: u32,
    /// The host it ran on (`share`; none in classic mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub downloaded: u64,
    pub uploaded: u64,
    /// Segments received from each rank.
    pub downloaded_from: BTreeMap<u32, u64>,
    /// Segments sent to each rank.
    pub uploaded_to: BTreeMap<u32, u64>,
    pub nacks_received: u64,
    #[serde(default)]
    pub bytes_downloaded: u64,
    #[serde(default)]
    pub verification_failures: u64,
    /// Bytes of its `--from` a `share` seeder read to hash them: each
    /// file once, or its stripe of a file several seeders read (0 for
    /// other ranks and in classic mode).
    #[serde(default)]
    pub source_bytes_read: u64,
    /// Each downloaded file and when it completed (ms after the ACK).
    pub files: Vec<FileTime>,
    /// (ms after the ACK, segments downloaded so far).
    pub progress: Vec<(u64, u64)>,
    pub resources: ResourceUse,
    #[serde(flatten, default)]
    pub start: PeerStart,
}

/// How soon a peer got going, in ms from its own start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerStart {
    /// When its REGISTER_ACK came.
    #[serde(default)]
    pub registered_ms: u64,
    /// When it sent its first segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_segment_ms: Option<u64>,
    /// A seeder that hashed while it served (`share`): the HASHES batches
    /// it sent, and when it sent the last.
    #[serde(default)]
    pub hash_batches: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes_done_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileTime {
    pub name: String,
    pub completed_ms: u64,
}

/// One file's part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    pub name: String,
    pub segments: u32,
    pub initial_owners: Vec<u32>,
    /// Every rank that held any of its segments during the run.
    pub holders: Vec<u32>,
    /// Segments of this file each holder uploaded (0 included).
    pub uploads: BTreeMap<u32, u64>,
    /// Jain's index of `uploads` (1 = perfectly even); none if nobody
    /// uploaded any of it.
    pub fairness: Option<f64>,
}

/// The values of `pairs` summed by key. The pairs are sorted (a stable
/// sort, linear on the sorted lists that transfer counts are) and summed
/// first, so the map is built in one pass, packed, without a search per
/// pair.
fn sum_by_key(pairs: impl Iterator<Item = (u32, u64)>) -> BTreeMap<u32, u64> {
    let mut pairs: Vec<(u32, u64)> = pairs.collect();
    pairs.sort_by_key(|&(key, _)| key);
    let mut summed: Vec<(u32, u64)> = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        match summed.last_mut() {
            Some((last, sum)) if *last == key => *sum += value,
            _ => summed.push((key, value)),
        }
    }
    summed.into_iter().collect()
}

/// Jain's fairness index: (Σx)² / (n·Σx²); `None` for no load at all.
pub fn jain(values: &[u64]) -> Option<f64> {
    let sum: f64 = values.iter().map(|&v| v as f64).sum();
    let squares: f64 = values.iter().map(|&v| (v as f64) * (v as f64)).sum();
    (sum > 0.0).then(|| sum * sum / (values.len() as f64 * squares))
}

impl RunReport {
    /// Builds the report from the tracker's data and the driver's settings.
    pub fn build(data: &RunData, settings: RunSettings, tracker_resources: ResourceUse) -> Self {
        let file_name = |id: crate::FileId| {
            data.files
                .get(id.index())
                .map_or_else(|| id.to_string(), |f| f.name.clone())
        };
        let mut sent = data.tracker_sent.clone();
        let mut file_uploads: Vec<BTreeMap<u32, u64>> = vec![BTreeMap::new(); data.files.len()];
        let mut file_holders: Vec<BTreeSet<u32>> = data
            .files
            .iter()
            .map(|f| f.initial_owners.iter().map(|r| r.0).collect())
            .collect();
        let mut peers = Vec::new();
        for (rank, stats) in &data.peers {
            // A peer's times after its ACK, from its own start.
            let since_start = |ms: Option<u64>| ms.map(|ms| ms + stats.start.registered_ms);
            sent.merge(&stats.messages_sent);
            // A peer of a large swarm lists about as many transfers as
            // there are segments (10^7 at 10,000 peers): each map is summed
            // in one pass, not an insert per transfer.
            let downloaded_from =
                sum_by_key(stats.downloads.iter().map(|t| (t.peer.0, t.segments)));
            let downloaded_files = sum_by_key(stats.downloads.iter().map(|t| (t.file.0, 0)));
            for &file in downloaded_files.keys() {
                if let Some(holders) = file_holders.get_mut(file as usize) {
                    holders.insert(rank.0);
                }
            }
            let uploaded_to = sum_by_key(stats.uploads.iter().map(|t| (t.peer.0, t.segments)));
            let uploaded_files = sum_by_key(stats.uploads.iter().map(|t| (t.file.0, t.segments)));
            for (&file, &segments) in &uploaded_files {
                if let Some(uploads) = file_uploads.get_mut(file as usize) {
                    *uploads.entry(rank.0).or_default() += segments;
                }
            }
            peers.push(PeerReport {
                rank: rank.0,
                node: data.nodes.get(rank.index()).cloned().flatten(),
                downloaded: downloaded_from.values().sum(),
                uploaded: uploaded_to.values().sum(),
                downloaded_from,
                uploaded_to,
                nacks_received: stats.nacks_received,
                bytes_downloaded: stats.bytes_received,
                verification_failures: stats.corrupt_received,
                source_bytes_read: stats.source_bytes_read,
                files: stats
                    .completed
                    .iter()
                    .map(|&(id, completed_ms)| FileTime {
                        name: file_name(id),
                        completed_ms,
                    })
                    .collect(),
                progress: stats.progress.clone(),
                resources: stats.resources,
                start: PeerStart {
                    registered_ms: stats.start.registered_ms,
                    first_segment_ms: since_start(stats.start.first_upload_ms),
                    hash_batches: stats.start.hash_batches,
                    hashes_done_ms: since_start(stats.start.last_hashes_ms),
                },
            });
        }
        let files = data
            .files
            .iter()
            .zip(file_holders)
            .zip(file_uploads)
            .map(|((file, holders), uploaded)| {
                let uploads: BTreeMap<u32, u64> = holders
                    .iter()
                    .map(|&r| (r, uploaded.get(&r).copied().unwrap_or(0)))
                    .collect();
                let values: Vec<u64> = uploads.values().copied().collect();
                FileReport {
                    name: file.name.clone(),
                    segments: file.segments,
                    initial_owners: file.initial_owners.iter().map(|r| r.0).collect(),
                    holders: holders.into_iter().collect(),
                    fairness: jain(&values),
                    uploads,
                }
            })
            .collect();
        let segments_downloaded = peers.iter().map(|p| p.downloaded).sum();
        RunReport {
            version: REPORT_VERSION,
            settings,
            ranks: data.ranks,
            wall_seconds: data.wall.as_secs_f64(),
            segments_downloaded,
            bytes_downloaded: peers.iter().map(|p| p.bytes_downloaded).sum(),
            verification_failures: peers.iter().map(|p| p.verification_failures).sum(),
            first_segment_ms: peers.iter().filter_map(|p| p.start.first_segment_ms).min(),
            messages: message_report(&sent, data, segments_downloaded),
            tracker_resources,
            nodes: nodes::nodes(&peers),
            reruns: None,
            peers,
            files,
        }
    }

    /// The end-of-run summary: a few lines for a terminal.
    pub fn summary(&self) -> String {
        let segments = self.segments_downloaded;
        let files: usize = self.peers.iter().map(|p| p.files.len()).sum();
        let m = &self.messages;
        let mut out = format!(
            "mpitorrent: {} peers downloaded {} segments ({} files) in {:.3} s \
             [{}, {}, window {}]\n",
            self.ranks.saturating_sub(1),
            thousands(segments),
            files,
            self.wall_seconds,
            // Read back from a file by `mpitorrent report`: any text.
            shown(&self.settings.transport),
            shown(&self.settings.strategy),
            self.settings.window
        );
        // Bundles make the transport's count the smaller one.
        let carried = match m.transport_per_segment {
            per if per > 0.0 => format!(" in {per:.2} transport messages per segment"),
            _ => String::new(),
        };
        out += &format!(
            "  messages: {} in all ({:.2} per segment{carried}); to the tracker {} ({:.3} per \
             segment); ACK {}, NACK {}\n",
            thousands(m.total),
            m.per_segment,
            thousands(m.to_tracker),
            m.to_tracker_per_segment,
            thousands(m.acks),
            thousands(m.nacks)
        );
        if self.bytes_downloaded > 0 || self.verification_failures > 0 {
            out += &self.bytes_line();
            let first = self.peers.iter();
            let first = first.filter_map(|p| Some((p.start.first_segment_ms?, p.rank)));
            if let Some((ms, rank)) = first.min() {
                out += &format!("  first segment: sent by rank {rank}, {ms} ms after its start\n");
            }
        }
        if self.nodes.len() > 1 {
            let segment_bytes = self.bytes_downloaded as f64 / segments.max(1) as f64;
            out += &nodes::nodes_line(&self.nodes, segment_bytes);
        }
        let busiest = self.peers.iter().max_by_key(|p| (p.uploaded, p.rank));
        let mut fairness: Vec<f64> = self.files.iter().filter_map(|f| f.fairness).collect();
        fairness.sort_by(f64::total_cmp);
        if let (Some(busiest), Some(min)) = (busiest, fairness.first()) {
            out += &format!(
                "  uploads: busiest rank {} ({} segments); fairness (Jain) min {:.2}, \
                 median {:.2} over {} files\n",
                busiest.rank,
                thousands(busiest.uploaded),
                min,
                fairness[fairness.len() / 2],
                fairness.len()
            );
        }
        let cpu: f64 = self.tracker_resources.cpu_seconds
            + self
                .peers
                .iter()
                .map(|p| p.resources.cpu_seconds)
                .sum::<f64>();
        let peak = self
            .peers
            .iter()
            .map(|p| (p.resources.peak_rss_kib, p.rank))
            .chain([(self.tracker_resources.peak_rss_kib, 0)])
            .max()
            .unwrap_or_default();
        let scope = if self.settings.per_rank_resources {
            format!(
                "peak memory {:.1} MiB (rank {})",
                peak.0 as f64 / 1024.0,
                peak.1
            )
        } else {
            format!(
                "peak memory {:.1} MiB (one process)",
                peak.0 as f64 / 1024.0
            )
        };
        out += &format!("  resources: CPU {cpu:.2} s in all; {scope}\n");
        out
    }
}

impl RunReport {
    /// Overall and per-rank throughput of real bytes, and bad segments.
    fn bytes_line(&self) -> String {
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let rate = |bytes: u64| mib(bytes) / self.wall_seconds.max(1e-9);
        let slowest = self
            .peers
            .iter()
            .filter(|p| p.bytes_downloaded > 0)
            .map(|p| (rate(p.bytes_downloaded), p))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let mut line = format!(
            "  bytes: {:.1} MiB at {:.1} MiB/s overall",
            mib(self.bytes_downloaded),
            rate(self.bytes_downloaded)
        );
        if let Some((slowest, peer)) = slowest {
            let rank = peer.rank;
            // The node is the peer's own word for its host (escaped).
            let node = match &peer.node {
                Some(node) => format!(" on {}", shown(node)),
                None => String::new(),
            };
            line += &format!("; slowest rank {rank}{node} at {slowest:.1} MiB/s");
        }
        line + &format!(
            "; {} segment(s) failed verification and were fetched again\n",
            self.verification_failures
        )
    }
}

fn message_report(sent: &MessageCounts, data: &RunData, segments: u64) -> MessageReport {
    let peer_sends: u64 = data
        .peers
        .iter()
        .map(|(_, s)| s.resources.transport_sends)
        .sum();
    let transport = match peer_sends {
        0 => 0,
        sends => sends + data.tracker_sent.total(),
    };
    let total = sent.total();
    let per = |count: u64| {
        if segments == 0 {
            0.0
        } else {
            count as f64 / segments as f64
        }
    };
    let to_tracker = data.tracker_received.total();
    let between_peers = sent
        .0
        .iter()
        .filter(|(kind, _)| kind.is_between_peers())
        .map(|(_, &count)| count)
        .sum();
    MessageReport {
        total,
        by_kind: sent
            .0
            .iter()
            .map(|(kind, &count)| (kind.name().to_string(), count))
            .collect(),
        to_tracker,
        from_tracker: data.tracker_sent.total(),
        between_peers,
        acks: sent.get(MessageKind::SegmentAck),
        nacks: sent.get(MessageKind::SegmentNack),
        per_segment: per(total),
        to_tracker_per_segment: per(to_tracker),
        transport_per_segment: per(transport),
    }
}

/// 1234567 → "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{PeerStats, Transfer};
    use crate::tracker::FileSummary;
    use crate::{FileId, Rank};
    use std::time::Duration;

    #[test]
    fn jain_is_one_for_even_and_low_for_skewed() {
        assert_eq!(jain(&[5, 5, 5]), Some(1.0));
        assert_eq!(jain(&[0, 0]), None);
        let skewed = jain(&[10, 0, 0, 0]).unwrap();
        assert!((skewed - 0.25).abs() < 1e-9);
    }

    #[test]
    fn thousands_separates() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    fn transfer(file: u32, peer: u32, segments: u64) -> Transfer {
        Transfer {
            file: FileId(file),
            peer: Rank(peer),
            segments,
        }
    }

    #[test]
    fn sums_by_key_in_any_order() {
        let pairs = [(5, 1), (2, 3), (5, 2), (9, 0), (2, 1)];
        let expected = BTreeMap::from([(2, 4), (5, 3), (9, 0)]);
        assert_eq!(sum_by_key(pairs.into_iter()), expected);
        assert!(sum_by_key(std::iter::empty()).is_empty());
    }

    #[test]
    fn builds_per_rank_and_per_file_views() {
        let mut seed_sent = MessageCounts::default();
        for _ in 0..4 {
            seed_sent.add(MessageKind::SegmentAck);
        }
        let seed = PeerStats {
            uploads: vec![transfer(0, 2, 3), transfer(0, 3, 1)],
            messages_sent: seed_sent,
            ..Default::default()
        };
        let leecher = |uploads: Vec<Transfer>, from: u64| PeerStats {
            downloads: vec![transfer(0, 1, from)],
            uploads,
            completed: vec![(FileId(0), 40)],
            ..Default::default()
        };
        let mut received = MessageCounts::default();
        received.add(MessageKind::PeerUpdate);
        let data = RunData {
            ranks: 4,
            wall: Duration::from_millis(1500),
            files: vec![FileSummary {
                name: "f".into(),
                segments: 4,
                initial_owners: vec![Rank(1)],
            }],
            peers: vec![
                (Rank(1), seed),
                (Rank(2), leecher(vec![], 3)),
                (Rank(3), leecher(vec![], 1)),
            ],
            nodes: Vec::new(),
            tracker_received: received,
            tracker_sent: MessageCounts::default(),
        };
        let settings = RunSettings {
            transport: "local".into(),
            strategy: "round-robin".into(),
            window: 1,
            per_rank_resources: false,
        };
        let report = RunReport::build(&data, settings, ResourceUse::default());
        assert_eq!(report.segments_downloaded, 4);
        assert_eq!(
            report.peers[0].uploaded_to,
            BTreeMap::from([(2, 3), (3, 1)])
        );
        assert_eq!(report.peers[1].files[0].name, "f");
        let file = &report.files[0];
        assert_eq!(file.holders, vec![1, 2, 3]);
        // Only rank 1 uploaded: fairness over three holders is 1/3.
        assert!((file.fairness.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(report.messages.acks, 4);
        assert!((report.messages.to_tracker_per_segment - 0.25).abs() < 1e-9);
        let summary = report.summary();
        assert!(
            summary.contains("3 peers downloaded 4 segments (2 files) in 1.500 s"),
            "{summary}"
        );
        assert!(summary.contains("busiest rank 1 (4 segments)"), "{summary}");
        // Real bytes (`share`): the slowest rank is named with its node.
        let mut share = report.clone();
        share.bytes_downloaded = 3 << 20;
        (
            share.peers[1].bytes_downloaded,
            share.peers[2].bytes_downloaded,
        ) = (2 << 20, 1 << 20);
        share.peers[1].node = Some("n1".into());
        share.peers[2].node = Some("n\x1b2".into());
        let summary = share.summary();
        let slowest = "; slowest rank 3 on n\\x1b2 at 0.7 MiB/s;";
        assert!(summary.contains(slowest), "{summary}");
        let json = serde_json::to_string(&report).unwrap();
        let back: RunReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }
}
