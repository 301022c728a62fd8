//! The download side of a peer as a state machine.
//!
//! For each wanted file in turn: ask the tracker for the swarm, then request
//! the missing segments one by one from the owners (whom and in which order
//! is the [`Strategy`]'s choice, asked through its download policy; the
//! classic one is round-robin). A NACK sends the same segment to the next
//! owner. Every `update_every` segments, or whenever the strategy asks for
//! work, it sends PEER_UPDATE with what it received from whom, which also
//! refreshes its owner list and hints (`updates.rs`). When a file is
//! complete it reports SINGLE_FILE_DOWNLOAD_COMPLETED and emits
//! [`DownloadEvent::FileCompleted`] so the driver writes the output; after
//! the last file, CLIENT_GOT_ALL_FILES and [`DownloadEvent::Finished`].
//!
//! Up to `window` requests may be outstanding at once; with a window of 1
//! this is exactly the classic one-request-at-a-time loop.

use crate::content::verify_segment;
use crate::holdings::{HeldFile, Holdings};
#[cfg(feature = "sim-speed")]
use crate::prefetch::{self, Depth};
use crate::stats::{millis, TransferCounts};
use crate::strategy::{DownloadPolicy, Strategy, SwarmView};
use crate::{
    FileId, Hint, Message, Owner, Payload, ProtocolError, Rank, Received, SegmentIdx, Transmit,
    TRACKER,
};
use late::next_segment;
pub(crate) use lookup::OwnerList;
use lookup::SegmentMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
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
    pub strategy: Strategy,
    /// Seeds this peer's random choices (mixed with its rank).
    pub seed: u64,
    /// Segments carry bytes (`share`): check each against its hash, hand
    /// it to the driver as [`DownloadEvent::Received`], and count it held
    /// only once the driver calls [`Downloader::segment_stored`].
    pub verify: bool,
}

impl DownloaderConfig {
    /// The classic set-up: round-robin, one request at a time, PEER_UPDATE
    /// every 10 segments.
    pub fn classic(rank: Rank, wanted: Vec<String>) -> Self {
        DownloaderConfig {
            rank,
            wanted,
            update_every: 10,
            window: 1,
            strategy: Strategy::RoundRobin,
            seed: 0,
            verify: false,
        }
    }
}

/// What the download side reports to its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownloadEvent {
    /// A wanted file is complete (downloaded, or owned from the start):
    /// write its output now.
    FileCompleted { file: Arc<HeldFile> },
    /// Every wanted file is complete and the tracker was told.
    Finished,
    /// (With `verify`.) A segment arrived and matches its hash: store it,
    /// then call [`Downloader::segment_stored`].
    Received {
        file: Arc<HeldFile>,
        index: SegmentIdx,
        payload: Payload,
    },
}

/// What the download side counted, for the run report.
#[derive(Clone, Debug, Default)]
pub struct DownloadStats {
    /// Segments received, by (file, sender).
    pub received: TransferCounts,
    pub nacks_received: u64,
    /// Segments whose bytes did not match their hash (thrown away and
    /// requested again from another owner).
    pub corrupt_received: u64,
    /// (file, milliseconds after start) for each downloaded file.
    pub completed: Vec<(FileId, u64)>,
    /// (milliseconds after start, segments downloaded so far).
    pub progress: Vec<(u64, u64)>,
}

/// A request on the wire, waiting for its ACK or NACK.
#[derive(Clone, Debug)]
struct InFlight {
    owner: Rank,
    /// Where in the owner list this segment's first request went; each NACK
    /// moves one further, so a segment visits every owner in turn.
    first_owner: usize,
    nacks: usize,
    /// The owners that failed it (NACK or bad bytes); empty, unallocated,
    /// for almost every request.
    nacked_by: Vec<Rank>,
}

/// The file being downloaded.
#[derive(Debug)]
struct Active {
    file: Arc<HeldFile>,
    owners: OwnerList,
    /// The round-robin position (of every strategy that picks in turn).
    cursor: usize,
    /// Segments are scanned from `start` round the file; `scanned` counts
    /// how far (every segment before it was held or requested once).
    start: SegmentIdx,
    scanned: SegmentIdx,
    /// The tracker's hints not yet used.
    hints: VecDeque<Hint>,
    in_flight: SegmentMap<InFlight>,
    /// Verified segments the driver is storing, with their senders.
    storing: SegmentMap<Rank>,
    since_update: Vec<Received>,
    /// The hashes as this download knows them, if the swarm reply had
    /// some still to come (`late.rs`); otherwise the file's own.
    late: Option<late::LateHashes>,
}

/// The download state machine.
#[derive(Debug)]
pub struct Downloader {
    config: DownloaderConfig,
    holdings: Arc<Holdings>,
    /// The strategy's choices, and what it keeps to make them.
    policy: Box<dyn DownloadPolicy>,
    /// Boxed: 320 bytes that only the rarest-first and least-loaded
    /// strategies touch, and then once per file or request, kept out of
    /// the cache lines that every message reads.
    rng: Box<ChaCha8Rng>,
    queue: VecDeque<String>,
    awaiting_swarm: Option<String>,
    active: Option<Active>,
    finished: bool,
    /// PEER_UPDATEs whose SWARM_REFRESH has not arrived yet. The tracker
    /// answers every one, also after the file or the whole download is
    /// done, and MPI requires every message to be received before
    /// `MPI_Finalize`: a driver keeps receiving until this is 0.
    refreshes_owed: u32,
    stats: DownloadStats,
    transmits: VecDeque<Transmit>,
    events: VecDeque<DownloadEvent>,
}

impl Downloader {
    pub fn new(config: DownloaderConfig, holdings: Arc<Holdings>) -> Self {
        let policy = config.strategy.download_policy();
        let mut queue: VecDeque<String> = config.wanted.iter().cloned().collect();
        if policy.in_name_order() {
            queue.make_contiguous().sort();
        }
        let rng = Box::new(ChaCha8Rng::seed_from_u64(
            config.seed ^ (config.rank.0 as u64).rotate_left(32),
        ));
        Downloader {
            policy,
            config,
            holdings,
            rng,
            queue,
            awaiting_swarm: None,
            active: None,
            finished: false,
            refreshes_owed: 0,
            stats: DownloadStats::default(),
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

    /// How many answers of the tracker are still on their way (SWARM_REFRESHes
    /// of PEER_UPDATEs sent). A driver that stops receiving before this
    /// is 0 leaves messages nobody takes.
    pub fn replies_owed(&self) -> u32 {
        self.refreshes_owed
    }

    /// What was counted so far.
    pub fn stats(&self) -> &DownloadStats {
        &self.stats
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) what the
    /// next segment ACK or swarm refresh will touch, `depth` steps from
    /// this machine's own fields (which `Depth::Fields` loads).
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self, depth: Depth) {
        match (depth, &self.active) {
            (Depth::Fields, _) => prefetch::lines(self, usize::MAX),
            (Depth::Pointees, Some(active)) => {
                active.prefetch();
                self.stats.received.prefetch();
                prefetch::lines(&*self.policy, 1);
            }
            (Depth::Beyond, Some(active)) => active.file.prefetch(Depth::Pointees),
            (_, None) => {}
        }
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
        now: Duration,
        from: Rank,
        msg: Message,
    ) -> Result<(), ProtocolError> {
        match msg {
            Message::SwarmReply {
                file,
                hashes,
                owners,
                hints,
            } if from == TRACKER => self.handle_swarm_reply(now, file, hashes, owners, hints),
            Message::Hashes {
                file,
                first,
                hashes,
            } if from == TRACKER => self.handle_hashes(now, file, first, hashes),
            Message::SwarmRefresh {
                file,
                owners,
                hints,
            } if from == TRACKER => {
                self.refreshes_owed = self.refreshes_owed.checked_sub(1).ok_or_else(|| {
                    ProtocolError(format!(
                        "rank {} got a SWARM_REFRESH it did not ask for",
                        self.config.rank
                    ))
                })?;
                let me = self.config.rank;
                // A refresh for a file finished since it was asked is stale.
                if let Some(active) = self.active.as_mut().filter(|a| a.file.id == file) {
                    let view = SwarmView {
                        me,
                        owners: &mut active.owners,
                        hints: &mut active.hints,
                    };
                    self.policy.refreshed(owners, hints, view);
                    self.fill_window()?;
                    self.ask_for_work(now);
                }
                Ok(())
            }
            Message::SegmentAck {
                file,
                index,
                payload,
            } => self.handle_ack(now, from, file, index, payload),
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
        now: Duration,
        file: FileId,
        hashes: Vec<String>,
        owners: Vec<Owner>,
        hints: Vec<Hint>,
    ) -> Result<(), ProtocolError> {
        let Some(name) = self.awaiting_swarm.take() else {
            return Err(ProtocolError(format!(
                "rank {} got a swarm reply it did not ask for",
                self.config.rank
            )));
        };
        let owners = OwnerList::new(owners, self.config.rank);
        let late = late::LateHashes::of_reply(&hashes);
        let held = self.holdings.add_empty(file, name, hashes);
        let segments = held.segment_count();
        // Start each peer at a different owner so that peers asking for the
        // same file at the same moment do not all hit the lowest rank first.
        let cursor = self.config.rank.index() % owners.len().max(1);
        let start = self.policy.start_file(segments, &mut self.rng);
        self.active = Some(Active {
            file: held,
            owners,
            cursor,
            start,
            scanned: 0,
            hints: hints.into(),
            in_flight: SegmentMap::default(),
            storing: SegmentMap::default(),
            since_update: Vec::new(),
            late,
        });
        self.fill_window()?;
        self.complete_if_done(now);
        self.ask_for_work(now);
        Ok(())
    }

    fn handle_ack(
        &mut self,
        now: Duration,
        from: Rank,
        file: FileId,
        index: SegmentIdx,
        payload: Payload,
    ) -> Result<(), ProtocolError> {
        let verify = self.config.verify;
        let active = self.expect_in_flight(from, file, index)?;
        if !verify {
            active.in_flight.remove(index);
            return self.accept(now, from, file, index);
        }
        if !verify_segment(&payload, active.hash(index)) {
            self.stats.corrupt_received += 1;
            return self.ask_next_owner(from, file, index);
        }
        active.in_flight.remove(index);
        active.storing.insert(index, from);
        let file = Arc::clone(&active.file);
        self.events.push_back(DownloadEvent::Received {
            file,
            index,
            payload,
        });
        self.fill_window()
    }

    /// (With `verify`.) The driver stored segment `index` of `file`, which
    /// it got as [`DownloadEvent::Received`]: it is held from now on.
    pub fn segment_stored(
        &mut self,
        now: Duration,
        file: FileId,
        index: SegmentIdx,
    ) -> Result<(), ProtocolError> {
        let from = self
            .active
            .as_mut()
            .filter(|a| a.file.id == file)
            .and_then(|a| a.storing.remove(index))
            .ok_or_else(|| {
                ProtocolError(format!(
                    "rank {}: segment {index} of {file} was stored but never received",
                    self.config.rank
                ))
            })?;
        self.accept(now, from, file, index)
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
                    && active.in_flight.get(index).is_some_and(|r| r.owner == from) =>
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
        let scan = self.policy.scans();
        let batches = self.policy.batches();
        // (With `batches`: the segments asked of each owner, in order.)
        let mut batch: Vec<(Rank, Vec<SegmentIdx>)> = Vec::new();
        let free = window.saturating_sub(active.in_flight.len());
        if free < self.policy.refill_at(window) && active.in_flight.len() > 0 {
            return Ok(());
        }
        while active.in_flight.len() < window {
            let Some((index, hinted)) = next_segment(active, scan) else {
                break;
            };
            if active.owners.is_empty() {
                return Err(ProtocolError(format!(
                    "rank {rank}: the tracker named no rank that can serve '{}'",
                    active.file.name
                )));
            }
            let hinted_position = hinted.and_then(|holder| active.owners.position_of(holder));
            let position = match hinted_position {
                Some(position) => position,
                None => self
                    .policy
                    .pick_owner(&active.owners, &mut active.cursor, &mut self.rng),
            };
            // A hinted holder the (sampled) owner list does not show is
            // still the one to ask: the tracker knows it holds the segment.
            let owner = hinted.unwrap_or(active.owners[position].rank);
            active.in_flight.insert(
                index,
                InFlight {
                    owner,
                    first_owner: position,
                    nacks: 0,
                    nacked_by: Vec::new(),
                },
            );
            self.policy.requested(owner);
            if batches {
                match batch.iter_mut().find(|(to, _)| *to == owner) {
                    Some((_, indices)) => indices.push(index),
                    None => batch.push((owner, vec![index])),
                }
                continue;
            }
            self.transmits.push_back(Transmit {
                to: owner,
                msg: Message::SegmentRequest {
                    file: active.file.id,
                    index,
                },
            });
        }
        let file = active.file.id;
        self.transmits
            .extend(batch.into_iter().map(|(to, indices)| Transmit {
                to,
                msg: Message::SegmentBatch { file, indices },
            }));
        Ok(())
    }

    /// Finishes the active file if every segment is held, then moves on.
    fn complete_if_done(&mut self, now: Duration) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        if !active.file.is_complete() {
            return;
        }
        let file = Arc::clone(&active.file);
        let received = std::mem::take(&mut active.since_update);
        self.active = None;
        self.transmits.push_back(Transmit {
            to: TRACKER,
            msg: Message::FileCompleted {
                file: file.id,
                received,
            },
        });
        self.stats.completed.push((file.id, millis(now)));
        let total = self.stats.received.total();
        self.stats.progress.push((millis(now), total));
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
                    let hints = self.policy.hint_request(&self.window());
                    self.transmits.push_back(Transmit {
                        to: TRACKER,
                        msg: Message::SwarmRequest {
                            name: name.clone(),
                            hints,
                        },
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

#[cfg(feature = "sim-speed")]
impl Active {
    /// Starts loading into the cache the file's entry and the tables and
    /// queues an ACK reads or appends to.
    fn prefetch(&self) {
        self.file.prefetch(Depth::Fields);
        self.in_flight.prefetch();
        self.owners.prefetch();
        prefetch::lines(self.hints.as_slices().0, 1);
        prefetch::line(self.since_update.as_ptr_range().end);
    }
}

mod late;
mod lookup;
mod refused;
#[cfg(test)]
pub(crate) mod tests;
mod updates;
