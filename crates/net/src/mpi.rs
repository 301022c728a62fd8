//! The MPI transport: rsmpi over the system's MPI library, polled, never
//! parked.
//!
//! # Why it looks like this
//!
//! A peer rank runs a download thread and an upload thread, and both call
//! MPI. That needs `MPI_THREAD_MULTIPLE`, which [`initialize`] asks for and
//! insists on. It is not enough, though: in Open MPI a thread blocked in
//! `MPI_Recv` or `MPI_Wait` busy-polls the progress engine, and on a
//! machine with fewer cores than threads it starves the rank's other thread
//! (of the core and of the library's locks). Measured here (Open MPI 4.1,
//! 2 cores, 4 ranks): 2,000 request/reply round trips between the download
//! and upload threads of two ranks took 5.6–17 s with blocking receives,
//! and 15–20 ms with the polling below (measurements next to `Backoff`).
//!
//! So no thread ever waits inside MPI:
//!
//! - [`MpiEndpoint::recv_until_woken`] polls each wanted channel's tag with
//!   `MPI_Improbe` (a matched probe: the message it finds is reserved for
//!   this thread, so the sibling thread cannot take it between probe and
//!   receive), receives the matched message with `MPI_Imrecv` and polls
//!   that request too (over TCP a large message takes as long as the link
//!   needs, and a blocking `MPI_Mrecv` would spin a core all that time),
//!   and between polls backs off (spin, then yield, then short sleeps), so
//!   a waiting thread answers within microseconds when traffic flows and
//!   costs little CPU when it does not. A receive given a [`Wake`] sleeps
//!   on it rather than on the clock, so that the rank's other thread ends
//!   the wait at once (the download thread wakes the upload thread when it
//!   holds a segment the latter may relay), instead of the waiting thread
//!   polling for it.
//! - [`MpiEndpoint::send`] starts an `MPI_Isend` and returns: the buffer
//!   stays with the endpoint until MPI says the send is complete, and every
//!   later `send` and `recv` tests the sends in flight. A small message
//!   (under Open MPI's shared-memory eager limit, 4 KiB) completes on the
//!   first test; a large one (rendezvous protocol) completes once the
//!   receiving thread has probed it. So an upload thread hands a segment to
//!   a rank whose download thread is busy (hashing, writing) and goes on
//!   serving the others, up to `MAX_IN_FLIGHT` sends; beyond that `send`
//!   waits for one to complete, which bounds the memory held.
//! - Between nodes (Open MPI's TCP transport), [`initialize`] raises the
//!   eager limit so that a default segment goes in one message without the
//!   rendezvous exchanges (see `TCP_EAGER`): then such a send completes
//!   once its bytes are with the socket, receiver or not.
//!
//! The backoff lives in one place, `Backoff` (`mpi/backoff.rs`), shared by all.
//!
//! Each thread gets its own endpoint and its own handle on the world
//! communicator ([`MpiFabric::endpoint`] is called on the thread that uses
//! it): rsmpi's communicators are not `Send` under Open MPI. Threads keep
//! their traffic apart by tag, one tag per [`Channel`], and each thread only
//! probes the tags of the channels it serves.
//!
//! # Order of things
//!
//! ```no_run
//! # fn main() -> Result<(), mpitorrent_net::TransportError> {
//! use mpitorrent_net::mpi::{initialize, MpiFabric};
//! use mpitorrent_net::{Endpoint, Fabric};
//!
//! let universe = initialize()?; // MPI_Init_thread(MPI_THREAD_MULTIPLE)
//! let fabric = MpiFabric::new();
//! std::thread::scope(|s| {
//!     s.spawn(|| fabric.endpoint().rank()); // one endpoint per thread
//! });
//! drop(universe); // MPI_Finalize: only after every thread is joined
//! # Ok(())
//! # }
//! ```
//!
//! # Caveat: large sends complete only when the receiver probes
//!
//! A message above the eager limit stays in flight until the destination
//! thread has probed it, and an endpoint finishes its sends in flight
//! before it is dropped. A send to a thread that has stopped receiving
//! would never complete. The protocol avoids it: large messages (segment
//! data, swarm replies) go to download threads, a download thread only
//! ever sends small ones (keep them under 4 KiB), and it receives every
//! reply it asked for before it stops. A download thread that quits on an
//! error breaks the last rule: an owner can then hold an ACK for it that
//! nobody takes. Three things keep that from hanging the job: a failed
//! download thread keeps receiving (and dropping) what arrives for it until
//! the tracker's abort reaches its rank; every rank, its threads joined,
//! keeps receiving (and dropping) until all ranks have got that far
//! ([`drain`]), so the owner's send completes and the ranks reach
//! `MPI_Finalize` together; and if a rank never arrives (it died), the
//! others give up after a few seconds ([`ABORT_GRACE`]: an endpoint leaves
//! its sends in flight to MPI, [`finalize_within`] exits without
//! `MPI_Finalize`) and `mpirun` ends whatever is still stuck.

mod backoff;
mod shutdown;
mod tally;

use crate::endpoint::Wake;
use crate::{Endpoint, Envelope, Fabric, TransportError};
use backoff::Backoff;
use mpi::environment::Universe;
use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Threading;
use mpitorrent_core::{Channel, Rank};
pub use shutdown::{
    abort, drain, finalize_within, Drained, ABORT_GRACE, FINALIZE_GRACE, SHUTDOWN_SETTLE,
};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::os::raw::c_int;
use std::time::{Duration, Instant};

/// Initialises MPI with `MPI_THREAD_MULTIPLE`.
///
/// Fails if MPI was already initialised in this process, or if the library
/// offers a lower thread level. Dropping the returned [`Universe`] calls
/// `MPI_Finalize`: join every thread that uses MPI first.
pub fn initialize() -> Result<Universe, TransportError> {
    prefer_eager_tcp();
    let (universe, provided) =
        mpi::initialize_with_threading(Threading::Multiple).ok_or_else(|| {
            TransportError::Mpi(
                "MPI was already initialised in this process; mpitorrent must initialise it \
                 itself, once, with MPI_THREAD_MULTIPLE"
                    .into(),
            )
        })?;
    require_multiple(provided)?;
    Ok(universe)
}

/// Open MPI's TCP transport sends a message above its eager limit (64 KiB
/// by default) with the rendezvous protocol: the first fragment, then a
/// wait until the receiving thread has matched it and answered, then the
/// rest. Every segment pays those extra exchanges between two threads that
/// each make progress only while they are inside an MPI call (both poll
/// with [`Backoff`], so either may be asleep), and the uplink idles
/// meanwhile. Sending a whole default segment eagerly (its bytes go to the
/// socket at once; the receiver buffers it until it is probed) cut a
/// 128 MiB `share` from one seeder to 4 nodes at 200 Mbit/s from
/// 13.1-14.0 s to 9.0-10.0 s (emulated cluster, `scripts/cluster.sh`,
/// 3 runs each, interleaved). Larger segments still go by rendezvous: the
/// TCP transport keeps a free list of buffers of the eager size, so the
/// limit is not raised further than one default segment needs.
///
/// Set only where the user (or the launcher, `mpirun --mca ...`) has not
/// set these parameters; other MPI libraries ignore them. Called before
/// `MPI_Init`, while the process has one thread.
const TCP_EAGER: [(&str, &str); 3] = [
    ("OMPI_MCA_btl_tcp_eager_limit", EAGER_BYTES),
    ("OMPI_MCA_btl_tcp_rndv_eager_limit", EAGER_BYTES),
    ("OMPI_MCA_btl_tcp_max_send_size", EAGER_BYTES),
];

/// One default segment (1 MiB) and room for its message header.
const EAGER_BYTES: &str = "1114112";

fn prefer_eager_tcp() {
    for (name, value) in TCP_EAGER {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
}

/// The error for a library that cannot give every thread MPI.
fn require_multiple(provided: Threading) -> Result<(), TransportError> {
    if provided < Threading::Multiple {
        return Err(TransportError::Mpi(format!(
            "the MPI library provides thread level {}, but mpitorrent needs \
             MPI_THREAD_MULTIPLE (its download and upload threads both call MPI)",
            thread_level_name(provided)
        )));
    }
    Ok(())
}

fn thread_level_name(level: Threading) -> &'static str {
    match level {
        Threading::Single => "MPI_THREAD_SINGLE",
        Threading::Funneled => "MPI_THREAD_FUNNELED",
        Threading::Serialized => "MPI_THREAD_SERIALIZED",
        Threading::Multiple => "MPI_THREAD_MULTIPLE",
    }
}

/// Makes [`MpiEndpoint`]s for the threads of this rank. Create it after
/// [`initialize`]; it holds nothing, so it is `Sync` and free to share.
#[derive(Clone, Copy, Debug, Default)]
pub struct MpiFabric {
    _private: (),
}

impl MpiFabric {
    /// The fabric of this rank. MPI must be initialised (see [`initialize`])
    /// before any endpoint is made.
    pub fn new() -> Self {
        MpiFabric { _private: () }
    }
}

impl Fabric for MpiFabric {
    type Endpoint = MpiEndpoint;

    /// An endpoint with its own world communicator handle.
    ///
    /// # Panics
    ///
    /// If MPI is not initialised or already finalised (a bug in the caller:
    /// calling MPI then would crash the process less politely).
    fn endpoint(&self) -> MpiEndpoint {
        assert!(
            mpi::is_initialized() && !mpi::is_finalized(),
            "MpiFabric::endpoint needs MPI initialised (mpi::initialize) and not yet finalised"
        );
        let world = SimpleCommunicator::world();
        let rank = Rank(u32::try_from(world.rank()).expect("MPI ranks are non-negative"));
        let size = u32::try_from(world.size()).expect("MPI sizes are non-negative");
        MpiEndpoint {
            world,
            rank,
            size,
            tally: tally::tally(size),
            next_channel: Cell::new(0),
            in_flight: RefCell::new(Vec::new()),
        }
    }

    /// The process's sends: MPI's ranks are processes.
    fn sent(&self) -> u64 {
        let size = u32::try_from(SimpleCommunicator::world().size()).unwrap_or(0);
        tally::tally(size).sent().iter().sum()
    }
}

/// One thread's endpoint on `MPI_COMM_WORLD`; see the [module docs](self).
pub struct MpiEndpoint {
    /// Not `Send`: an endpoint stays on the thread that made it.
    world: SimpleCommunicator,
    rank: Rank,
    size: u32,
    /// The process's message counts, which this endpoint adds to.
    tally: &'static tally::Tally,
    /// Where in the caller's channel list the next probe round starts, so a
    /// busy channel cannot starve the others.
    next_channel: Cell<usize>,
    /// Sends started and not yet complete, in no particular order.
    in_flight: RefCell<Vec<PendingSend>>,
}

/// At most this many sends in flight per endpoint: for an upload thread,
/// eight segments (8 MiB at the default size) handed to ranks that have not
/// taken them yet.
const MAX_IN_FLIGHT: usize = 8;

/// A send MPI has started: its buffer must stay where it is, untouched,
/// until `MPI_Test` says the send is complete.
struct PendingSend {
    request: ffi::MPI_Request,
    /// Never read: held so that the bytes outlive the send.
    _bytes: Vec<u8>,
}

impl fmt::Debug for MpiEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpiEndpoint")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl MpiEndpoint {
    /// Starts sending `bytes` (already checked) and keeps them in flight.
    fn start_send(&self, to: Rank, tag: c_int, bytes: Vec<u8>) -> Result<(), TransportError> {
        let mut request = std::mem::MaybeUninit::<ffi::MPI_Request>::uninit();
        // SAFETY: the buffer is valid for `bytes.len()` bytes and is kept,
        // unmoved (a `Vec`'s heap block stays put when the `Vec` moves) and
        // unchanged, in `in_flight` until MPI_Test reports the send
        // complete; the communicator is this endpoint's, alive as long as
        // it is.
        let code = unsafe {
            ffi::MPI_Isend(
                bytes.as_ptr().cast(),
                bytes.len() as c_int,
                ffi::RSMPI_UINT8_T,
                to.0 as c_int,
                tag,
                self.world.as_raw(),
                request.as_mut_ptr(),
            )
        };
        if code != ffi::MPI_SUCCESS as c_int {
            return Err(TransportError::Mpi(format!(
                "MPI_Isend of {} bytes to rank {to} failed (error {code})",
                bytes.len()
            )));
        }
        // SAFETY: MPI_Isend succeeded, so it wrote the request.
        let request = unsafe { request.assume_init() };
        self.tally.sent_to(to.0);
        self.in_flight.borrow_mut().push(PendingSend {
            request,
            _bytes: bytes,
        });
        Ok(())
    }

    /// Tests every send in flight once and frees the buffers of those that
    /// are complete; the number still in flight.
    fn progress_sends(&self) -> Result<usize, TransportError> {
        let mut in_flight = self.in_flight.borrow_mut();
        let mut i = 0;
        while i < in_flight.len() {
            let mut done: c_int = 0;
            // SAFETY: the request is an active one MPI_Isend returned; on
            // completion MPI_Test frees it (and sets it to null), after
            // which the buffer is ours again.
            let code = unsafe {
                ffi::MPI_Test(
                    &mut in_flight[i].request,
                    &mut done,
                    ffi::RSMPI_STATUS_IGNORE,
                )
            };
            if code != ffi::MPI_SUCCESS as c_int {
                return Err(TransportError::Mpi(format!(
                    "MPI_Test of a send failed (error {code})"
                )));
            }
            if done != 0 {
                // Order among the rest does not matter: MPI keeps messages
                // between two ranks in the order they were started.
                in_flight.swap_remove(i);
            } else {
                i += 1;
            }
        }
        Ok(in_flight.len())
    }

    /// One round of matched probes over `channels`, starting at the channel
    /// after the one that last delivered; receives the first message found.
    fn poll(&self, channels: &[Channel]) -> Result<Option<Envelope>, TransportError> {
        let count = channels.len();
        let first = self.next_channel.get();
        let any = self.world.any_process();
        for offset in 0..count {
            let position = (first + offset) % count;
            let channel = channels[position];
            let Some((message, status)) = any.immediate_matched_probe_with_tag(channel.tag())
            else {
                continue;
            };
            let bytes = self.receive_matched(message, &status)?;
            self.next_channel.set((position + 1) % count);
            let from = u32::try_from(status.source_rank()).map_err(|_| {
                TransportError::Mpi(format!(
                    "MPI reported source rank {} for a message on tag {}",
                    status.source_rank(),
                    channel.tag()
                ))
            })?;
            self.tally.received_from(from);
            return Ok(Some(Envelope {
                from: Rank(from),
                channel,
                bytes,
            }));
        }
        Ok(None)
    }
}

impl MpiEndpoint {
    /// Receives a message matched by a probe with `MPI_Imrecv`, polling
    /// the request with the same [`Backoff`] as every other wait (and
    /// progressing this thread's sends meanwhile), so that no thread waits
    /// inside MPI while a large message crosses a slow link: over TCP a
    /// 1 MiB segment takes as long as the link needs (40 ms at 200
    /// Mbit/s), and a blocking `MPI_Mrecv` spins a core for all of it.
    fn receive_matched(
        &self,
        mut message: mpi::point_to_point::Message,
        status: &mpi::point_to_point::Status,
    ) -> Result<Vec<u8>, TransportError> {
        let len = status.count(u8::equivalent_datatype());
        let len = usize::try_from(len)
            .map_err(|_| TransportError::Mpi(format!("MPI reported a message of {len} bytes")))?;
        let mut bytes: Vec<u8> = Vec::with_capacity(len);
        let mut request = std::mem::MaybeUninit::<ffi::MPI_Request>::uninit();
        // SAFETY: the buffer has room for `len` bytes, the probed size, and
        // is neither read nor freed until the request completes below (or
        // is leaked if polling fails). MPI_Imrecv takes
        // the matched message and sets it to MPI_MESSAGE_NULL, which is
        // what rsmpi's `Message` expects when it is dropped.
        let code = unsafe {
            ffi::MPI_Imrecv(
                bytes.as_mut_ptr().cast(),
                len as c_int,
                ffi::RSMPI_UINT8_T,
                message.as_raw_mut(),
                request.as_mut_ptr(),
            )
        };
        if code != ffi::MPI_SUCCESS as c_int {
            return Err(TransportError::Mpi(format!(
                "MPI_Imrecv of {len} bytes failed (error {code})"
            )));
        }
        // SAFETY: MPI_Imrecv succeeded, so it wrote the request.
        let mut request = unsafe { request.assume_init() };
        let mut backoff = Backoff::new();
        loop {
            let mut done: c_int = 0;
            // SAFETY: an active request from MPI_Imrecv; MPI_Test frees it
            // on completion.
            let code = unsafe { ffi::MPI_Test(&mut request, &mut done, ffi::RSMPI_STATUS_IGNORE) };
            let failed = if code != ffi::MPI_SUCCESS as c_int {
                Some(TransportError::Mpi(format!(
                    "MPI_Test of a {len}-byte receive failed (error {code})"
                )))
            } else if done != 0 {
                break;
            } else {
                self.progress_sends().err()
            };
            if let Some(err) = failed {
                // MPI may still write into the buffer: leave it to MPI.
                std::mem::forget(bytes);
                return Err(err);
            }
            backoff.snooze(None);
        }
        // SAFETY: the receive is complete: MPI wrote all `len` bytes.
        unsafe { bytes.set_len(len) };
        Ok(bytes)
    }
}

impl Endpoint for MpiEndpoint {
    fn rank(&self) -> Rank {
        self.rank
    }

    fn size(&self) -> u32 {
        self.size
    }

    fn send(&self, to: Rank, channel: Channel, bytes: Vec<u8>) -> Result<(), TransportError> {
        // rsmpi asserts on a bad rank and MPI aborts on an oversized count;
        // both are caller errors we would rather report.
        if to.0 >= self.size {
            return Err(TransportError::Disconnected {
                rank: to,
                detail: format!("no such rank in a job of {}", self.size),
            });
        }
        if i32::try_from(bytes.len()).is_err() {
            return Err(TransportError::Mpi(format!(
                "a message of {} bytes to rank {to} is over MPI's limit of {} bytes",
                bytes.len(),
                i32::MAX
            )));
        }
        // Room first: at most MAX_IN_FLIGHT buffers wait for receivers.
        let mut backoff = Backoff::new();
        while self.progress_sends()? >= MAX_IN_FLIGHT {
            backoff.snooze(None);
        }
        self.start_send(to, channel.tag(), bytes)?;
        // A small message completes here and its buffer goes at once.
        self.progress_sends()?;
        Ok(())
    }

    fn recv_until_woken(
        &self,
        channels: &[Channel],
        timeout: Duration,
        wake: Option<&Wake>,
    ) -> Result<Option<Envelope>, TransportError> {
        // A timeout too large for the clock means "wait forever".
        let deadline = Instant::now().checked_add(timeout);
        let mut backoff = Backoff::new();
        loop {
            if let Some(envelope) = self.poll(channels)? {
                return Ok(Some(envelope));
            }
            self.progress_sends()?;
            if wake.is_some_and(Wake::take) || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            if backoff.snooze_until_woken(deadline, wake) {
                return Ok(None);
            }
        }
    }
}

impl Drop for MpiEndpoint {
    /// Finishes the sends in flight: every receiver of the protocol takes
    /// what it asked for before it stops, so this is quick, except after a
    /// failure (see the module docs): then, after [`ABORT_GRACE`], the
    /// buffers are left to MPI (leaked) rather than freed under it.
    fn drop(&mut self) {
        let deadline = Instant::now() + ABORT_GRACE;
        let mut backoff = Backoff::new();
        loop {
            match self.progress_sends() {
                Ok(0) => return,
                Ok(_) if Instant::now() < deadline => backoff.snooze(Some(deadline)),
                _ => break,
            }
        }
        let stuck = std::mem::take(&mut *self.in_flight.borrow_mut());
        tracing::warn!(
            "rank {}: {} send(s) not taken by their receivers after {:?}; left to MPI",
            self.rank,
            stuck.len(),
            ABORT_GRACE
        );
        std::mem::forget(stuck);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn less_than_thread_multiple_is_a_clear_error() {
        assert!(require_multiple(Threading::Multiple).is_ok());
        let err = require_multiple(Threading::Serialized)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("provides thread level MPI_THREAD_SERIALIZED"),
            "{err}"
        );
        assert!(err.contains("needs MPI_THREAD_MULTIPLE"), "{err}");
    }

    #[test]
    fn thread_levels_have_their_mpi_names() {
        assert_eq!(
            thread_level_name(Threading::Serialized),
            "MPI_THREAD_SERIALIZED"
        );
    }
}
