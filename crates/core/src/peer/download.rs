//! [`DownloadSide`]: the [`Downloader`] as a peer runs it. It counts every
//! message the side sends, sends LEAVE for the files it downloaded once it
//! has them all (a leaving peer), and asks the tracker to abort when its
//! driver fails; the downloader itself is left as it is.

use crate::downloader::{DownloadEvent, DownloadStats, Downloader};
use crate::holdings::Holdings;
#[cfg(feature = "sim-speed")]
use crate::prefetch::{self, Depth};
use crate::stats::SentCounts;
use crate::{FileId, Message, ProtocolError, Rank, SegmentIdx, Transmit, TRACKER};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// The download side of a registered peer.
#[derive(Debug)]
pub struct DownloadSide {
    downloader: Downloader,
    holdings: Arc<Holdings>,
    /// What this side sent, with what the peer sent while registering.
    sent: SentCounts,
    /// Files held from the registration on (owned, or a matching
    /// candidate): not downloaded, so never left.
    held_at_start: Vec<FileId>,
    /// Files completed by downloading them, in order.
    downloaded: Vec<FileId>,
    /// How many files the tracker's ACK said to fetch.
    wanted: usize,
    leaves: bool,
    started: bool,
    /// The driver failed: nothing the downloader still queued is sent (the
    /// tracker must not count a file done that could not be written).
    failed: bool,
    bytes_stored: u64,
    /// This side's own messages (LEAVE, ABORT), after the downloader's.
    transmits: VecDeque<Transmit>,
    events: VecDeque<DownloadEvent>,
}

impl DownloadSide {
    pub(super) fn new(
        downloader: Downloader,
        holdings: Arc<Holdings>,
        sent: SentCounts,
        held_at_start: Vec<FileId>,
        wanted: usize,
        leaves: bool,
    ) -> Self {
        DownloadSide {
            downloader,
            holdings,
            sent,
            held_at_start,
            downloaded: Vec::new(),
            wanted,
            leaves,
            started: false,
            failed: false,
            bytes_stored: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Starts downloading the first wanted file.
    pub fn start(&mut self, now: Duration) {
        self.started = true;
        self.downloader.start(now);
        self.take_events();
    }

    /// Whether [`DownloadSide::start`] was called.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Feeds one message received on the download channel.
    pub fn handle_message(
        &mut self,
        now: Duration,
        from: Rank,
        msg: Message,
    ) -> Result<(), ProtocolError> {
        let handled = self.downloader.handle_message(now, from, msg);
        self.take_events();
        handled
    }

    /// The driver stored the `len` bytes of segment `index` of `file`, which
    /// it got as [`DownloadEvent::Received`].
    pub fn segment_stored(
        &mut self,
        now: Duration,
        file: FileId,
        index: SegmentIdx,
        len: usize,
    ) -> Result<(), ProtocolError> {
        self.bytes_stored += len as u64;
        let stored = self.downloader.segment_stored(now, file, index);
        self.take_events();
        stored
    }

    /// The driver failed (a segment it could not store, a bad message):
    /// asks the tracker to abort the job, and sends nothing else.
    pub fn report_failure(&mut self, reason: String) {
        self.failed = true;
        self.transmits.push_back(Transmit {
            to: TRACKER,
            msg: Message::Abort { reason },
        });
    }

    /// The next message to send, counted.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let next = match self.failed {
            false => self.downloader.poll_transmit(),
            true => None,
        };
        let transmit = next.or_else(|| self.transmits.pop_front())?;
        self.sent.add(transmit.msg.kind());
        Some(transmit)
    }

    /// The next event for the driver: the downloader's, as it gave them.
    pub fn poll_event(&mut self) -> Option<DownloadEvent> {
        self.events.pop_front()
    }

    /// Takes the downloader's events as they come: what the peer does on
    /// them (note downloads, leave) is done before the driver sees them.
    fn take_events(&mut self) {
        while let Some(event) = self.downloader.poll_event() {
            match &event {
                DownloadEvent::FileCompleted { file } if !self.held_at_start.contains(&file.id) => {
                    self.downloaded.push(file.id)
                }
                DownloadEvent::Finished if self.leaves => self.leave(),
                _ => {}
            }
            self.events.push_back(event);
        }
    }

    /// Leaves the swarm of every file downloaded: its segments go (the
    /// upload side answers NACK for them from now on) and the tracker is
    /// told, file by file.
    fn leave(&mut self) {
        for &file in &self.downloaded {
            self.holdings.remove(file);
            let msg = Message::Leave { file };
            self.transmits.push_back(Transmit { to: TRACKER, msg });
        }
    }

    /// Whether every wanted file is complete and the tracker was told.
    pub fn is_finished(&self) -> bool {
        self.downloader.is_finished()
    }

    /// Answers of the tracker still on their way (see
    /// [`Downloader::replies_owed`]).
    pub fn replies_owed(&self) -> u32 {
        self.downloader.replies_owed()
    }

    /// How many files the tracker's ACK said to fetch (or write).
    pub fn wanted(&self) -> usize {
        self.wanted
    }

    /// Whether `file` was downloaded (rather than held from the start).
    pub fn downloaded(&self, file: FileId) -> bool {
        self.downloaded.contains(&file)
    }

    pub fn stats(&self) -> &DownloadStats {
        self.downloader.stats()
    }

    /// Bytes of segments stored (0 where segments are only hashes).
    pub fn bytes_stored(&self) -> u64 {
        self.bytes_stored
    }

    /// Messages sent so far (the registration's included).
    pub fn sent(&self) -> &SentCounts {
        &self.sent
    }

    /// The holdings this side fills (and its upload side serves from).
    pub fn holdings(&self) -> &Arc<Holdings> {
        &self.holdings
    }

    /// Starts loading into the cache (see [`crate::prefetch`]) what the
    /// next message on the download channel touches; `Fields` loads this
    /// side in place.
    #[cfg(feature = "sim-speed")]
    pub fn prefetch(&self, depth: Depth) {
        match depth {
            // The downloader's fields and the counts are in place here.
            Depth::Fields => prefetch::lines(self, usize::MAX),
            _ => self.downloader.prefetch(depth),
        }
    }
}
