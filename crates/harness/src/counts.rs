//! Message counts that add up: what a scenario fixes, and the peers'
//! STATS against the tracker's own counts.

use mpitorrent_core::scenario::Scenario;
use mpitorrent_core::tracker::RunData;
use mpitorrent_core::{MessageKind, Rank};
use std::collections::{BTreeMap, BTreeSet};

/// What a scenario implies about its traffic, whatever the timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Implied {
    pub peers: u64,
    /// Distinct files anyone owns.
    pub files: u64,
    /// (peer, segments) of every download (a wanted file the peer does
    /// not own), in rank order.
    pub downloads: Vec<(Rank, u64)>,
}

impl Implied {
    pub fn of(scenario: &Scenario) -> Implied {
        // Each file's segments as its first owner lists them (as
        // `Scenario::hashes_of` says), gathered once for large scenarios.
        let mut owned: BTreeMap<&str, u64> = BTreeMap::new();
        for file in scenario.inputs.iter().flat_map(|input| &input.owned) {
            owned
                .entry(file.name.as_str())
                .or_insert(file.hashes.len() as u64);
        }
        let mut downloads = Vec::new();
        for (rank, input) in scenario.peers() {
            for name in &input.wanted {
                if input.owned.iter().all(|f| &f.name != name) {
                    let segments = owned.get(name.as_str()).copied().unwrap_or(0);
                    downloads.push((rank, segments));
                }
            }
        }
        Implied {
            peers: scenario.inputs.len() as u64,
            files: owned.len() as u64,
            downloads,
        }
    }

    /// Segments to download in all: each must be ACKed exactly once.
    pub fn segments(&self) -> u64 {
        self.downloads.iter().map(|d| d.1).sum()
    }

    /// Files `rank` downloads (`downloads` is in rank order).
    pub fn downloads_of(&self, rank: Rank) -> usize {
        let start = self.downloads.partition_point(|d| d.0 < rank);
        let end = self.downloads.partition_point(|d| d.0 <= rank);
        end - start
    }

    /// PEER_UPDATEs (and SWARM_REFRESHes) a strategy that updates every
    /// `every` segments sends: one after the `every`-th, 2`every`-th, ...
    /// segment of a download unless it was the last.
    pub fn updates(&self, every: u64) -> u64 {
        let every = every.max(1);
        self.downloads
            .iter()
            .map(|d| d.1.saturating_sub(1) / every)
            .sum()
    }
}

/// The counts of a run that ended well add up: one REGISTER, REGISTER_ACK,
/// CLIENT_GOT_ALL_FILES, TERMINATE and STATS per peer; one SWARM_REQUEST,
/// SWARM_REPLY and SINGLE_FILE_DOWNLOAD_COMPLETED per download; one ACK per
/// segment; a SEGMENT_REQUEST per ACK or NACK (a SEGMENT_BATCH asks for
/// one or more, so with batches the requests are at most the answers); a
/// SWARM_REFRESH per
/// PEER_UPDATE; no ABORT, and no LEAVE unless some peer `leaves`.
/// `count` gives the job's count of a kind.
pub fn check_counts(
    implied: &Implied,
    count: impl Fn(MessageKind) -> u64,
    leaves: bool,
) -> Result<(), String> {
    use MessageKind::*;
    let downloads = implied.downloads.len() as u64;
    let mut exact = vec![
        (Register, implied.peers),
        (RegisterAck, implied.peers),
        (SwarmRequest, downloads),
        (SwarmReply, downloads),
        (FileCompleted, downloads),
        (AllFilesCompleted, implied.peers),
        (Terminate, implied.peers),
        (Stats, implied.peers),
        (Abort, 0),
        (SegmentAck, implied.segments()),
        (SwarmRefresh, count(PeerUpdate)),
    ];
    let answers = count(SegmentAck) + count(SegmentNack);
    match count(SegmentBatch) {
        0 => exact.push((SegmentRequest, answers)),
        batches if count(SegmentRequest) + batches > answers => {
            return Err(format!(
                "sent {} SEGMENT_REQUEST and {batches} SEGMENT_BATCH for {answers} answers",
                count(SegmentRequest)
            ))
        }
        _ => {}
    }
    if !leaves {
        exact.push((Leave, 0));
    }
    for (kind, expected) in exact {
        let got = count(kind);
        if got != expected {
            return Err(format!(
                "sent {got} {} where {expected} were expected",
                kind.name()
            ));
        }
    }
    Ok(())
}

/// Kinds only ever sent to the tracker (an ABORT goes either way).
const TO_TRACKER: [MessageKind; 8] = [
    MessageKind::Register,
    MessageKind::SwarmRequest,
    MessageKind::PeerUpdate,
    MessageKind::FileCompleted,
    MessageKind::AllFilesCompleted,
    MessageKind::Stats,
    MessageKind::Leave,
    MessageKind::TreeOffer,
];

/// The tracker's report of a finished run is consistent: it has every
/// peer's STATS (`peers` of them), each listing exactly the files that
/// peer downloads, and for every kind only peers send to the tracker,
/// what the peers say they sent is what the tracker counted receiving.
pub fn check_reported(implied: &Implied, run: &RunData) -> Result<(), String> {
    if run.peers.len() as u64 != implied.peers {
        return Err(format!(
            "the tracker has statistics of {} peers where {} ran",
            run.peers.len(),
            implied.peers
        ));
    }
    for (rank, stats) in &run.peers {
        let want = implied.downloads_of(*rank);
        if stats.completed.len() != want {
            return Err(format!(
                "rank {rank}'s STATS list {} completed files where it downloads {want}",
                stats.completed.len()
            ));
        }
    }
    for kind in TO_TRACKER {
        let said: u64 = run
            .peers
            .iter()
            .map(|(_, s)| s.messages_sent.get(kind))
            .sum();
        let counted = run.tracker_received.get(kind);
        if said != counted {
            return Err(format!(
                "the peers' STATS say they sent {said} {} but the tracker received {counted}",
                kind.name()
            ));
        }
    }
    Ok(())
}

/// What the driver saw sent (`observed`, by kind) is what the run's report
/// says was sent: the peers' STATS plus the tracker's own count. The check
/// of a driver that counts every message itself.
pub fn check_observed(run: &RunData, observed: &BTreeMap<MessageKind, u64>) -> Result<(), String> {
    let mut reported = run.tracker_sent.clone();
    for (_, stats) in &run.peers {
        reported.merge(&stats.messages_sent);
    }
    let kinds: BTreeSet<MessageKind> = reported.0.keys().chain(observed.keys()).copied().collect();
    for kind in kinds {
        let (said, saw) = (
            reported.get(kind),
            observed.get(&kind).copied().unwrap_or(0),
        );
        if said != saw {
            return Err(format!(
                "the report says {said} {} were sent but the driver saw {saw}",
                kind.name()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_core::classic::{OwnedFile, PeerInput};
    use mpitorrent_core::stats::PeerStats;
    use std::time::Duration;

    /// Rank 1 owns a file of 25 segments, ranks 2 and 3 want it.
    fn scenario() -> Scenario {
        let owner = PeerInput {
            owned: vec![OwnedFile {
                name: "f".into(),
                hashes: (0..25).map(|i| format!("h{i}")).collect(),
            }],
            wanted: vec![],
        };
        let leecher = || PeerInput {
            owned: vec![],
            wanted: vec!["f".into()],
        };
        Scenario::from_inputs(vec![owner, leecher(), leecher()])
    }

    #[test]
    fn the_scenario_fixes_its_downloads_and_counts() {
        let implied = Implied::of(&scenario());
        assert_eq!(implied.downloads, [(Rank(2), 25), (Rank(3), 25)]);
        assert_eq!((implied.peers, implied.files), (3, 1));
        assert_eq!(implied.segments(), 50);
        assert_eq!(implied.updates(10), 4);
        assert_eq!(implied.downloads_of(Rank(1)), 0);
        assert_eq!(implied.downloads_of(Rank(3)), 1);
        use MessageKind::*;
        let mut counts = BTreeMap::from([
            (Register, 3),
            (RegisterAck, 3),
            (SwarmRequest, 2),
            (SwarmReply, 2),
            (FileCompleted, 2),
            (AllFilesCompleted, 3),
            (Terminate, 3),
            (Stats, 3),
            (SegmentAck, 50),
            (SegmentNack, 4),
            (SegmentRequest, 54),
        ]);
        let count = |c: &BTreeMap<MessageKind, u64>| {
            let c = c.clone();
            move |kind| c.get(&kind).copied().unwrap_or(0)
        };
        check_counts(&implied, count(&counts), false).unwrap();
        counts.insert(Leave, 1);
        let err = check_counts(&implied, count(&counts), false).unwrap_err();
        assert_eq!(err, "sent 1 LEAVE where 0 were expected");
        check_counts(&implied, count(&counts), true).unwrap();
        counts.insert(SegmentRequest, 53);
        let err = check_counts(&implied, count(&counts), true).unwrap_err();
        assert_eq!(err, "sent 53 SEGMENT_REQUEST where 54 were expected");
    }

    #[test]
    fn the_peers_stats_must_match_what_the_tracker_received() {
        let implied = Implied::of(&scenario());
        let stats = |completed: usize| {
            let mut stats = PeerStats {
                completed: vec![(mpitorrent_core::FileId(0), 1); completed],
                ..PeerStats::default()
            };
            stats.messages_sent.add(MessageKind::Register);
            stats
        };
        let mut run = RunData {
            ranks: 4,
            wall: Duration::ZERO,
            files: Vec::new(),
            peers: vec![
                (Rank(1), stats(0)),
                (Rank(2), stats(1)),
                (Rank(3), stats(1)),
            ],
            nodes: Vec::new(),
            tracker_received: Default::default(),
            tracker_sent: Default::default(),
        };
        let err = check_reported(&implied, &run).unwrap_err();
        assert_eq!(
            err,
            "the peers' STATS say they sent 3 REGISTER but the tracker received 0"
        );
        for _ in 0..3 {
            run.tracker_received.add(MessageKind::Register);
        }
        check_reported(&implied, &run).unwrap();
        let observed = BTreeMap::from([(MessageKind::Register, 3)]);
        check_observed(&run, &observed).unwrap();
        let observed = BTreeMap::from([(MessageKind::Register, 3), (MessageKind::SegmentAck, 1)]);
        let err = check_observed(&run, &observed).unwrap_err();
        assert_eq!(err, "the report says 0 ACK were sent but the driver saw 1");
        run.peers[0]
            .1
            .completed
            .push((mpitorrent_core::FileId(0), 1));
        let err = check_reported(&implied, &run).unwrap_err();
        assert!(
            err.contains("rank 1's STATS list 1 completed files"),
            "{err}"
        );
        run.peers.pop();
        let err = check_reported(&implied, &run).unwrap_err();
        assert!(err.contains("statistics of 2 peers where 3 ran"), "{err}");
    }
}
