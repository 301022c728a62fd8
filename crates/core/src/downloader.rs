//! The download side of a peer as a state machine.
//!
//! For each wanted file in turn: ask the tracker for the swarm, then request
//! the missing segments one by one from the owners, round-robin. A NACK
//! sends the same segment to the next owner. Every `update_every` segments
//! it sends PEER_UPDATE (which also refreshes the owner list). When a file is
//! complete it reports SINGLE_FILE_DOWNLOAD_COMPLETED and emits
//! [`DownloadEvent::FileCompleted`] so the driver writes the output; after
//! the last file, CLIENT_GOT_ALL_FILES and [`DownloadEvent::Finished`].
//!
//! Up to `window` requests may be outstanding at once (to different owners
//! where there are several); with a window of 1 this is exactly the
//! classic one-request-at-a-time loop.

use crate::holdings::{HeldFile, Holdings};
use crate::{FileId, Message, Owner, ProtocolError, Rank, SegmentIdx, Transmit, TRACKER};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How a download side is set up.
#[derive(Clone, Debug)]
pub struct DownloaderConfig {
    /// This peer's rank (never asked for a segment).
    pub rank: Rank,
    /// The wanted file names, in the order of the input.
    pub wanted: Vec<String>,
    /// Send PEER_UPDATE after this many downloaded segments (the classic 10).
    pub update_every: u32,
    /// How many segment requests may be outstanding at once (at least 1).
    pub window: u32,
}

/// What the download side reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownloadEvent {
    /// A wanted file is complete (downloaded, or owned from the start):
    /// write its output now.
    FileCompleted { file: Arc<HeldFile> },
    /// Every wanted file is complete and the tracker was told.
    Finished,
}

/// A request on the wire, waiting for its ACK or NACK.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    owner: Rank,
    /// Where in the owner list this segment's first request went; each NACK
    /// moves one further, so a segment visits every owner in turn.
    first_owner: usize,
    nacks: usize,
}

/// The file being downloaded.
#[derive(Debug)]
struct Active {
    file: Arc<HeldFile>,
    owners: Vec<Rank>,
    /// The round-robin position: the next new request goes to owners[cursor].
    cursor: usize,
    /// Segments below this index were all held or requested once already.
    scan: SegmentIdx,
    in_flight: HashMap<SegmentIdx, InFlight>,
    since_update: Vec<SegmentIdx>,
}

/// The download state machine.
#[derive(Debug)]
pub struct Downloader {
    config: DownloaderConfig,
    holdings: Arc<Holdings>,
    queue: VecDeque<String>,
    awaiting_swarm: Option<String>,
    active: Option<Active>,
    finished: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<DownloadEvent>,
}

impl Downloader {
    pub fn new(config: DownloaderConfig, holdings: Arc<Holdings>) -> Self {
        let queue = config.wanted.iter().cloned().collect();
        Downloader {
            config,
            holdings,
            queue,
            awaiting_swarm: None,
            active: None,
            finished: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Starts on the first wanted file.
    pub fn start(&mut self, _now: Duration) {
        self.next_file();
    }

    /// True once every wanted file is complete and the tracker was told.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<DownloadEvent> {
        self.events.pop_front()
    }

    /// Feeds one message received on the download channel.
    pub fn handle_message(
        &mut self,
        _now: Duration,
        from: Rank,
        msg: Message,
    ) -> Result<(), ProtocolError> {
        match msg {
            Message::SwarmReply {
                file,
                hashes,
                owners,
            } if from == TRACKER => self.handle_swarm_reply(file, hashes, &owners),
            Message::SwarmRefresh { file, owners } if from == TRACKER => {
                // A refresh for a file finished since it was asked is stale.
                if let Some(active) = self.active.as_mut().filter(|a| a.file.id == file) {
                    active.owners = usable_owners(&owners, self.config.rank);
                    self.fill_window()?;
                }
                Ok(())
            }
            Message::SegmentAck { file, index, .. } => self.handle_ack(from, file, index),
            Message::SegmentNack { file, index } => self.handle_nack(from, file, index),
            other => Err(ProtocolError(format!(
                "rank {} got {} from rank {from} on its download channel",
                self.config.rank,
                other.kind().name()
            ))),
        }
    }

    fn handle_swarm_reply(
        &mut self,
        file: FileId,
        hashes: Vec<String>,
        owners: &[Owner],
    ) -> Result<(), ProtocolError> {
        let Some(name) = self.awaiting_swarm.take() else {
            return Err(ProtocolError(format!(
                "rank {} got a swarm reply it did not ask for",
                self.config.rank
            )));
        };
        let owners = usable_owners(owners, self.config.rank);
        let held = self.holdings.add_empty(file, name, hashes);
        // Start each peer at a different owner so that peers asking for the
        // same file at the same moment do not all hit the lowest rank first.
        let cursor = self.config.rank.index() % owners.len().max(1);
        self.active = Some(Active {
            file: held,
            owners,
            cursor,
            scan: 0,
            in_flight: HashMap::new(),
            since_update: Vec::new(),
        });
        self.fill_window()?;
        self.complete_if_done();
        Ok(())
    }

    fn handle_ack(
        &mut self,
        from: Rank,
        file: FileId,
        index: SegmentIdx,
    ) -> Result<(), ProtocolError> {
        let update_every = self.config.update_every;
        let active = self.expect_in_flight(from, file, index)?;
        active.in_flight.remove(&index);
        active.file.insert(index);
        active.since_update.push(index);
        if active.since_update.len() as u32 >= update_every {
            let segments = std::mem::take(&mut active.since_update);
            self.transmits.push_back(Transmit {
                to: TRACKER,
                msg: Message::PeerUpdate { file, segments },
            });
        }
        self.fill_window()?;
        self.complete_if_done();
        Ok(())
    }

    fn handle_nack(
        &mut self,
        from: Rank,
        file: FileId,
        index: SegmentIdx,
    ) -> Result<(), ProtocolError> {
        let rank = self.config.rank;
        let active = self.expect_in_flight(from, file, index)?;
        let request = active.in_flight.get_mut(&index).expect("checked in flight");
        request.nacks += 1;
        // Seeds never leave and always ACK, so a segment that went round
        // every owner twice means the swarm lost its seed: a protocol bug.
        if active.owners.is_empty() || request.nacks > 2 * active.owners.len() + 2 {
            return Err(ProtocolError(format!(
                "rank {rank}: every owner of '{}' answered NACK for segment {}",
                active.file.name,
                index + 1
            )));
        }
        let owner = active.owners[(request.first_owner + request.nacks) % active.owners.len()];
        request.owner = owner;
        self.transmits.push_back(Transmit {
            to: owner,
            msg: Message::SegmentRequest { file, index },
        });
        Ok(())
    }

    /// The active file, after checking that `index` of `file` is in flight
    /// to `from` (anything else is a protocol error).
    fn expect_in_flight(
        &mut self,
        from: Rank,
        file: FileId,
        index: SegmentIdx,
    ) -> Result<&mut Active, ProtocolError> {
        let rank = self.config.rank;
        match self.active.as_mut() {
            Some(active)
                if active.file.id == file
                    && active
                        .in_flight
                        .get(&index)
                        .is_some_and(|r| r.owner == from) =>
            {
                Ok(active)
            }
            _ => Err(ProtocolError(format!(
                "rank {rank} got an answer from rank {from} for segment {index} of {file}, \
                 which it did not request from that rank"
            ))),
        }
    }

    /// Sends new requests until the window is full or nothing is left to ask.
    fn fill_window(&mut self) -> Result<(), ProtocolError> {
        let rank = self.config.rank;
        let window = self.config.window.max(1) as usize;
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        let total = active.file.segment_count();
        while active.in_flight.len() < window && active.scan < total {
            let index = active.scan;
            active.scan += 1;
            if active.file.has(index) || active.in_flight.contains_key(&index) {
                continue;
            }
            if active.owners.is_empty() {
                return Err(ProtocolError(format!(
                    "rank {rank}: the tracker named no rank that can serve '{}'",
                    active.file.name
                )));
            }
            let position = active.cursor % active.owners.len();
            active.cursor = active.cursor.wrapping_add(1);
            let owner = active.owners[position];
            active.in_flight.insert(
                index,
                InFlight {
                    owner,
                    first_owner: position,
                    nacks: 0,
                },
            );
            self.transmits.push_back(Transmit {
                to: owner,
                msg: Message::SegmentRequest {
                    file: active.file.id,
                    index,
                },
            });
        }
        Ok(())
    }

    /// Finishes the active file if every segment is held, then moves on.
    fn complete_if_done(&mut self) {
        let Some(active) = self.active.as_ref() else {
            return;
        };
        if !active.file.is_complete() {
            return;
        }
        let file = Arc::clone(&active.file);
        self.active = None;
        self.transmits.push_back(Transmit {
            to: TRACKER,
            msg: Message::FileCompleted { file: file.id },
        });
        self.events.push_back(DownloadEvent::FileCompleted { file });
        self.next_file();
    }

    /// Asks for the next wanted file's swarm, or reports that all are done.
    fn next_file(&mut self) {
        while let Some(name) = self.queue.pop_front() {
            match self.holdings.find_by_name(&name) {
                // Owned from the start: nothing to download, but the user
                // still gets its output file.
                Some(file) if file.is_complete() => {
                    self.events.push_back(DownloadEvent::FileCompleted { file });
                }
                _ => {
                    self.transmits.push_back(Transmit {
                        to: TRACKER,
                        msg: Message::SwarmRequest { name: name.clone() },
                    });
                    self.awaiting_swarm = Some(name);
                    return;
                }
            }
        }
        self.transmits.push_back(Transmit {
            to: TRACKER,
            msg: Message::AllFilesCompleted,
        });
        self.finished = true;
        self.events.push_back(DownloadEvent::Finished);
    }
}

/// The owners this peer may ask: everyone the tracker named but itself.
fn usable_owners(owners: &[Owner], me: Rank) -> Vec<Rank> {
    owners.iter().map(|o| o.rank).filter(|&r| r != me).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::ZERO;

    fn downloader(rank: u32, wanted: &[&str], window: u32) -> (Downloader, Arc<Holdings>) {
        let holdings = Arc::new(Holdings::new());
        let config = DownloaderConfig {
            rank: Rank(rank),
            wanted: wanted.iter().map(|w| w.to_string()).collect(),
            update_every: 10,
            window,
        };
        (Downloader::new(config, Arc::clone(&holdings)), holdings)
    }

    fn drain(d: &mut Downloader) -> Vec<Transmit> {
        std::iter::from_fn(|| d.poll_transmit()).collect()
    }

    fn seeds(ranks: &[u32]) -> Vec<Owner> {
        ranks
            .iter()
            .map(|&r| Owner {
                rank: Rank(r),
                seed: true,
                held: 1,
            })
            .collect()
    }

    fn hashes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("h{i}")).collect()
    }

    fn reply(d: &mut Downloader, file: u32, segments: usize, owners: &[u32]) {
        let msg = Message::SwarmReply {
            file: FileId(file),
            hashes: hashes(segments),
            owners: seeds(owners),
        };
        d.handle_message(T0, TRACKER, msg).unwrap();
    }

    fn ack(d: &mut Downloader, from: u32, file: u32, index: u32) -> Result<(), ProtocolError> {
        let msg = Message::SegmentAck {
            file: FileId(file),
            index,
            payload: vec![],
        };
        d.handle_message(T0, Rank(from), msg)
    }

    #[test]
    fn nothing_wanted_finishes_at_once() {
        let (mut d, _) = downloader(1, &[], 1);
        d.start(T0);
        assert_eq!(drain(&mut d)[0].msg, Message::AllFilesCompleted);
        assert_eq!(d.poll_event(), Some(DownloadEvent::Finished));
        assert!(d.is_finished());
    }

    #[test]
    fn requests_round_robin_and_updates_every_ten() {
        let (mut d, holdings) = downloader(1, &["f"], 1);
        d.start(T0);
        assert_eq!(
            drain(&mut d)[0].msg,
            Message::SwarmRequest { name: "f".into() }
        );
        reply(&mut d, 0, 12, &[2, 3, 4]);
        let mut targets = Vec::new();
        for index in 0..12 {
            let sent = drain(&mut d);
            let request = sent
                .iter()
                .find(|t| matches!(t.msg, Message::SegmentRequest { .. }))
                .unwrap();
            assert_eq!(
                request.msg,
                Message::SegmentRequest {
                    file: FileId(0),
                    index
                }
            );
            targets.push(request.to.0);
            if index == 10 {
                assert!(sent.iter().any(|t| t.msg
                    == Message::PeerUpdate {
                        file: FileId(0),
                        segments: (0..10).collect()
                    }));
            }
            ack(&mut d, request.to.0, 0, index).unwrap();
        }
        // Rank 1 starts at owner 1 % 3 and goes round.
        assert_eq!(targets, vec![3, 4, 2, 3, 4, 2, 3, 4, 2, 3, 4, 2]);
        let sent = drain(&mut d);
        assert_eq!(sent[0].msg, Message::FileCompleted { file: FileId(0) });
        assert_eq!(sent[1].msg, Message::AllFilesCompleted);
        match d.poll_event() {
            Some(DownloadEvent::FileCompleted { file }) => assert!(file.is_complete()),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.poll_event(), Some(DownloadEvent::Finished));
        assert!(holdings.has(FileId(0), 11));
    }

    #[test]
    fn a_nack_tries_the_next_owner() {
        let (mut d, _) = downloader(2, &["f"], 1);
        d.start(T0);
        drain(&mut d);
        reply(&mut d, 0, 1, &[3, 4]);
        let first = drain(&mut d).pop().unwrap();
        assert_eq!(first.to, Rank(3));
        let nack = Message::SegmentNack {
            file: FileId(0),
            index: 0,
        };
        d.handle_message(T0, Rank(3), nack).unwrap();
        let retry = drain(&mut d).pop().unwrap();
        assert_eq!(retry.to, Rank(4));
        assert!(
            ack(&mut d, 3, 0, 0).is_err(),
            "rank 3 no longer has the request"
        );
        ack(&mut d, 4, 0, 0).unwrap();
        assert!(d.is_finished());
    }

    #[test]
    fn endless_nacks_are_a_protocol_error() {
        let (mut d, _) = downloader(2, &["f"], 1);
        d.start(T0);
        reply(&mut d, 0, 1, &[3]);
        let nack = Message::SegmentNack {
            file: FileId(0),
            index: 0,
        };
        let results: Vec<_> = (0..5)
            .map(|_| d.handle_message(T0, Rank(3), nack.clone()))
            .collect();
        assert!(results.iter().any(Result::is_err));
    }

    #[test]
    fn a_window_keeps_several_requests_out() {
        let (mut d, _) = downloader(1, &["f"], 4);
        d.start(T0);
        drain(&mut d);
        reply(&mut d, 0, 10, &[2, 3]);
        let sent = drain(&mut d);
        assert_eq!(sent.len(), 4);
        let to: Vec<u32> = sent.iter().map(|t| t.to.0).collect();
        assert_eq!(to, vec![3, 2, 3, 2]);
    }

    #[test]
    fn an_owned_wanted_file_completes_without_download() {
        let (mut d, holdings) = downloader(1, &["mine"], 1);
        holdings.add_complete(FileId(5), "mine".into(), hashes(3));
        d.start(T0);
        assert_eq!(drain(&mut d)[0].msg, Message::AllFilesCompleted);
        assert!(matches!(
            d.poll_event(),
            Some(DownloadEvent::FileCompleted { file }) if file.name == "mine"
        ));
    }

    #[test]
    fn an_empty_wanted_file_completes_on_its_swarm_reply() {
        let (mut d, _) = downloader(1, &["empty"], 1);
        d.start(T0);
        drain(&mut d);
        reply(&mut d, 0, 0, &[2]);
        let sent = drain(&mut d);
        assert_eq!(sent[0].msg, Message::FileCompleted { file: FileId(0) });
        assert!(d.is_finished());
    }

    #[test]
    fn unrequested_answers_are_protocol_errors() {
        let (mut d, _) = downloader(1, &["f"], 1);
        d.start(T0);
        assert!(ack(&mut d, 2, 0, 0).is_err());
        assert!(d.handle_message(T0, Rank(2), Message::Terminate).is_err());
    }
}
