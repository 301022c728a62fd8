//! The transport interface every driver is written against, and the
//! [`Wake`] one thread of a rank rings to end another's wait for messages
//! early.

use crossbeam_channel::{bounded, Receiver, Sender};
use mpitorrent_core::wire::{self, WireError};
use mpitorrent_core::{Channel, Message, Rank, Transmit};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::Duration;

/// A transport failed (the MPI library, or a peer thread that vanished).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    #[error("rank {rank} is unreachable: {detail}")]
    Disconnected { rank: Rank, detail: String },
    #[error("rank {from} sent a message this rank cannot read: {source}")]
    Wire {
        from: Rank,
        #[source]
        source: WireError,
    },
    #[error("MPI error: {0}")]
    Mpi(String),
}

/// One received message: who sent it, on which channel, its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub from: Rank,
    pub channel: Channel,
    pub bytes: Vec<u8>,
}

impl Envelope {
    /// Decodes the message, naming the sender if it is malformed. A
    /// segment's payload keeps the received buffer (no copy).
    pub fn decode(self) -> Result<Message, TransportError> {
        let from = self.from;
        wire::decode_owned(self.bytes).map_err(|source| TransportError::Wire { from, source })
    }

    /// Decodes every message it holds: itself, or each of a bundle's (see
    /// [`wire::bundle`]), in order. Where bundles may arrive (a download
    /// thread's channel), receivers take them through this.
    pub fn decode_all(self) -> Result<Vec<Message>, TransportError> {
        let from = self.from;
        wire::decode_all(self.bytes).map_err(|source| TransportError::Wire { from, source })
    }
}

/// One thread's handle on the transport. Each thread owns its own (an MPI
/// communicator handle is not `Send`), and only receives on the channels
/// that thread serves, so threads never steal each other's messages.
pub trait Endpoint {
    /// This rank.
    fn rank(&self) -> Rank;

    /// Ranks in the job, tracker included.
    fn size(&self) -> u32;

    /// Sends `bytes` to `channel` on rank `to`. Returns once the bytes are
    /// handed off; it must not wait for the receiver to act.
    fn send(&self, to: Rank, channel: Channel, bytes: Vec<u8>) -> Result<(), TransportError>;

    /// Waits up to `timeout` for a message on any of `channels` of this rank.
    fn recv(
        &self,
        channels: &[Channel],
        timeout: Duration,
    ) -> Result<Option<Envelope>, TransportError> {
        self.recv_until_woken(channels, timeout, None)
    }

    /// [`recv`](Self::recv), whose wait also ends, with no message, as soon
    /// as `wake` is (or already was) woken; that takes the wake-up. A
    /// thread that waits for two things at once (messages, and its own
    /// rank's other thread) waits in one place, neither polling for the
    /// second nor sleeping through it.
    fn recv_until_woken(
        &self,
        channels: &[Channel],
        timeout: Duration,
        wake: Option<&Wake>,
    ) -> Result<Option<Envelope>, TransportError>;

    /// Encodes and sends what a state machine asked for.
    fn transmit(&self, transmit: &Transmit) -> Result<(), TransportError> {
        self.send(transmit.to, transmit.channel(), wire::encode(&transmit.msg))
    }
}

/// A doorbell between two threads of a rank: one calls [`wake`](Self::wake)
/// (the download thread, when it holds a new segment), and the other's
/// [`Endpoint::recv_until_woken`] returns at once (the upload thread, whose
/// requests may wait for that segment). A wake-up nobody waits for stays
/// until the next wait takes it, so none is lost between a thread's look
/// at what it waits for and its wait; several before a wait count as one.
///
/// The wake-up itself is a token in a one-slot channel, so that a
/// transport waiting on channels (`local`) selects on it next to its
/// queues. A transport that polls (`mpi`) sleeps with [`sleep`](Self::sleep)
/// instead, parked, and `wake` unparks it: parking costs nothing more than
/// sleeping (a channel's blocking receive would first spin and yield the
/// core several times, on every sleep).
#[derive(Debug)]
pub struct Wake {
    ring: Sender<()>,
    rung: Receiver<()>,
    /// The thread that sleeps on this wake (the first to call `sleep`; one
    /// thread listens to a wake).
    sleeper: OnceLock<Thread>,
}

impl Default for Wake {
    fn default() -> Self {
        let (ring, rung) = bounded(1);
        Wake {
            ring,
            rung,
            sleeper: OnceLock::new(),
        }
    }
}

impl Wake {
    /// Ends the current or the next wait on this wake. Cheap (no system
    /// call) while nobody waits.
    pub fn wake(&self) {
        // Full: already woken (and unparked), and one wake-up is as good
        // as several.
        if self.ring.try_send(()).is_ok() {
            if let Some(sleeper) = self.sleeper.get() {
                sleeper.unpark();
            }
        }
    }

    /// Whether it was woken since the last wait took a wake-up; takes it.
    pub fn take(&self) -> bool {
        self.rung.try_recv().is_ok()
    }

    /// Sleeps for about `duration`, or less if woken; whether woken (then
    /// the wake-up is taken). Called by one thread only.
    pub fn sleep(&self, duration: Duration) -> bool {
        // Known before the look below: a wake from now on unparks it.
        self.sleeper.get_or_init(std::thread::current);
        if self.take() {
            return true;
        }
        // An unpark left over from an earlier wake-up, already taken, ends
        // this sleep early: the caller polls once more and sleeps again.
        std::thread::park_timeout(duration);
        self.take()
    }

    /// What a transport that waits on crossbeam channels adds to its
    /// `Select`: ready once woken (receiving from it takes the wake-up).
    pub(crate) fn bell(&self) -> &Receiver<()> {
        &self.rung
    }
}

/// Makes endpoints for the threads of one rank. `endpoint()` is called on
/// the thread that will use the endpoint.
pub trait Fabric: Sync {
    type Endpoint: Endpoint;

    /// A fresh endpoint for the calling thread.
    fn endpoint(&self) -> Self::Endpoint;

    /// Messages this rank's endpoints have sent so far (a bundle counts
    /// once), for its STATS.
    fn sent(&self) -> u64;
}

/// What an encoded message is, in a word (its kind), for a diagnostic about
/// a message no thread took.
pub fn describe(bytes: &[u8]) -> String {
    match wire::decode_all(bytes.to_vec()).as_deref() {
        Ok([msg]) => msg.kind().name().to_string(),
        Ok(messages) => format!("a bundle of {} messages", messages.len()),
        Err(_) => format!("{} undecodable bytes", bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const LONG: Duration = Duration::from_secs(5);

    #[test]
    fn a_wake_up_ends_a_sleep_at_once_and_is_taken() {
        let wake = Wake::default();
        assert!(!wake.take());
        let start = Instant::now();
        assert!(!wake.sleep(Duration::from_millis(5)), "not woken");
        assert!(start.elapsed() >= Duration::from_millis(5));
        // Woken before the sleep: it ends at once; twice counts once.
        wake.wake();
        wake.wake();
        assert!(wake.sleep(LONG));
        assert!(!wake.take(), "taken by the sleep");
    }

    #[test]
    fn a_wake_up_from_another_thread_ends_a_long_sleep() {
        // Repeated: the wake-up may come before, during or after the
        // sleeper registers itself.
        let wake = Wake::default();
        for _ in 0..200 {
            let start = Instant::now();
            let woken = std::thread::scope(|s| {
                s.spawn(|| wake.wake());
                // The unpark of a wake-up the previous round took before it
                // parked may end one sleep early; then the caller sleeps
                // again, as a transport's receive does.
                wake.sleep(LONG) || wake.sleep(LONG)
            });
            assert!(woken, "not woken within {LONG:?}");
            assert!(start.elapsed() < LONG, "{:?}", start.elapsed());
        }
    }
}
