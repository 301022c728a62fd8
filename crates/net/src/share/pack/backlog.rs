//! The verified segments of a pack that wait to be written into its
//! members by a thread of their own ([`super::PackedFile::store`]), so
//! that the download thread holds (and can pass on) a segment the moment
//! it is verified, not after creating the thousands of files it holds:
//! a receiver that waited for that before passing the segment on made
//! the next rank of a chain wait for all of it. A segment stays here
//! until it is written, so it is served from here meanwhile; the first
//! failure is kept, and every later store and the pack's completion
//! return it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// The most bytes of pack segments that wait to be written on one rank,
/// over all its packs: a segment that would pass it is written by the
/// download thread itself, as it comes (so a pack of huge segments, at
/// `--segment-size 1GiB`, holds no more in memory than before).
pub const WAITING_BYTES: usize = 16 << 20;

/// A pack's segments waiting to be written, and whether a writer runs.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    state: Mutex<State>,
    /// Signalled when a writer ends.
    ended: Condvar,
    /// The bytes waiting in every pack of the rank (shared by them).
    waiting: Arc<AtomicUsize>,
}

/// What became of a segment given to [`Backlog::push`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Queued: a writer runs, or must be started if `start`.
    Queued { start: bool },
    /// Over [`WAITING_BYTES`]: the caller writes it.
    Full,
}

#[derive(Debug, Default)]
struct State {
    /// Oldest first; the first is being written while a writer runs.
    segments: VecDeque<(u64, Arc<[u8]>)>,
    writer: bool,
    /// Why writing failed (or stopped): no segment is written after it.
    failed: Option<String>,
}

impl Backlog {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A backlog counting its bytes in `waiting`, shared by the packs
    /// of a rank.
    pub fn new(waiting: Arc<AtomicUsize>) -> Self {
        Backlog {
            waiting,
            ..Backlog::default()
        }
    }

    /// Queues segment `index` if there is room, or says why writing
    /// failed before.
    pub fn push(&self, index: u64, bytes: Arc<[u8]>) -> Result<Pushed, String> {
        let mut state = self.lock();
        if let Some(failed) = &state.failed {
            return Err(failed.clone());
        }
        let len = bytes.len();
        let room = |waiting: usize| (waiting + len <= WAITING_BYTES).then_some(waiting + len);
        if self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, room)
            .is_err()
        {
            return Ok(Pushed::Full);
        }
        state.segments.push_back((index, bytes));
        let start = !state.writer;
        state.writer = true;
        Ok(Pushed::Queued { start })
    }

    /// The bytes of segment `index`, if it waits here.
    pub fn find(&self, index: u64) -> Option<Arc<[u8]>> {
        let state = self.lock();
        let found = state.segments.iter().find(|(i, _)| *i == index);
        found.map(|(_, bytes)| Arc::clone(bytes))
    }

    /// The writer's next segment (left queued until [`Self::written`]), or
    /// `None` when there is none or writing failed (what waits is then
    /// dropped): the writer then ends.
    pub fn next(&self) -> Option<(u64, Arc<[u8]>)> {
        let mut state = self.lock();
        if state.failed.is_some() {
            let dropped: usize = state.segments.drain(..).map(|(_, b)| b.len()).sum();
            self.waiting.fetch_sub(dropped, Ordering::AcqRel);
        }
        match state.segments.front() {
            Some((index, bytes)) => Some((*index, Arc::clone(bytes))),
            None => {
                state.writer = false;
                self.ended.notify_all();
                None
            }
        }
    }

    /// The writer wrote the first segment (or failed to, for `result`'s
    /// reason: nothing more is written).
    pub fn written(&self, result: Result<(), String>) {
        let mut state = self.lock();
        if let Some((_, bytes)) = state.segments.pop_front() {
            self.waiting.fetch_sub(bytes.len(), Ordering::AcqRel);
        }
        if let Err(reason) = result {
            state.failed.get_or_insert(reason);
        }
    }

    /// Waits until no writer runs: every segment queued is written, or
    /// why not.
    pub fn wait(&self) -> Result<(), String> {
        let mut state = self.lock();
        while state.writer {
            state = self
                .ended
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.failed.clone().map_or(Ok(()), Err)
    }

    /// Writes nothing more (the job failed): drops what waits once the
    /// segment being written is done, and returns when no writer runs.
    pub fn stop(&self) {
        self.lock()
            .failed
            .get_or_insert_with(|| "the job was abandoned".into());
        let _ = self.wait();
    }
}
