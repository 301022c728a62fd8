//! How an MPI job ends: aborting it, finalising within a grace period, and
//! checking that every message sent was received before `MPI_Finalize`.

use super::tally::{missing, tally};
use super::MpiFabric;
use crate::{Endpoint, Fabric, TransportError};
use mpi::environment::Universe;
use mpi::request::StaticScope;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpitorrent_core::Channel;
use std::time::{Duration, Instant};

/// Ends the whole job now (`MPI_Abort` on the world communicator), for when
/// a rank cannot tell the others through the protocol. Outside an MPI run
/// (not initialised, or already finalised) it exits the process with `code`.
pub fn abort(code: i32) -> ! {
    if mpi::is_initialized() && !mpi::is_finalized() {
        SimpleCommunicator::world().abort(code)
    }
    std::process::exit(code)
}

/// How long a rank of an aborted job waits in `MPI_Finalize` before it
/// gives up on the others (see [`finalize_within`]). Ranks that are not
/// stuck learn of the abort within a poll interval (100 ms), clean up and
/// reach `MPI_Finalize` well within this.
pub const ABORT_GRACE: Duration = Duration::from_secs(3);

/// How long a rank of a job that ended normally waits in `MPI_Finalize`.
/// Every rank met the others at the shutdown meeting before it (see
/// [`drain`]), so nothing is left to do but the library's
/// own teardown, which normally takes milliseconds; MPICH over UCX's TCP
/// transport was seen to hang there for good, even in a plain C program.
pub const FINALIZE_GRACE: Duration = Duration::from_secs(10);

/// Calls `MPI_Finalize` (by dropping `universe`), but if it has not
/// returned after `grace`, ends the process with `code` without it.
///
/// For the ranks of an aborted job. `MPI_Finalize` waits for every rank
/// (Open MPI fences), and after an abort a rank can be stuck for good: an
/// owner's upload thread handing a large ACK to a download thread that
/// failed and stopped receiving (see the module docs). Exiting non-zero
/// lets `mpirun` end whatever is left of the job instead of waiting on it.
///
/// `warning`, if given, is printed on stderr when the grace runs out.
pub fn finalize_within(universe: Universe, grace: Duration, code: i32, warning: Option<String>) {
    std::thread::spawn(move || {
        std::thread::sleep(grace);
        use std::io::Write;
        if let Some(warning) = warning {
            eprintln!("{warning}");
        }
        let _ = std::io::stderr().flush();
        let _ = std::io::stdout().flush();
        // SAFETY: `_exit` ends the process at once; no Rust state is
        // touched afterwards. `exit` is avoided because it would run
        // MPI's exit handlers while the main thread is inside MPI.
        unsafe { libc::_exit(code) }
    });
    drop(universe);
}

/// How long [`drain`] waits, once every rank has met it, for the messages
/// still on their way to this rank (it knows how many: see [`drain`]).
/// They were sent before their senders reached the meeting, so they
/// arrive within moments (a 1 MiB segment crosses a 200 Mbit/s link in
/// 40 ms); one that has not after this is reported as never received.
pub const SHUTDOWN_SETTLE: Duration = Duration::from_secs(1);

/// What [`drain`] saw.
#[derive(Debug)]
pub struct Drained {
    /// The messages sent to this rank that nobody received, each described
    /// in one line (sender, channel, kind), and those that were sent and
    /// never arrived.
    pub unreceived: Vec<String>,
    /// Whether every rank met the others within the grace. If not (a rank
    /// died or is stuck), `MPI_Finalize` would wait for it.
    pub all_met: bool,
}

/// The last MPI step of every rank before `MPI_Finalize`, after its
/// threads are joined: it waits until every rank has got here, receiving
/// (and dropping) whatever arrives meanwhile, then receives the messages
/// still on their way to it, at most `settle` long.
///
/// The meeting is an all-to-all of the process's message counts (see
/// `tally`): each rank tells each other how many messages it sent it, so
/// that after the meeting a rank knows exactly how many it still lacks
/// from whom, and waits for those, not a fixed time (which every job would
/// pay, and which only guesses: over TCP a message sent before the meeting
/// may still be on the wire after it).
///
/// Receiving while waiting matters when a job aborts: a rank whose upload
/// thread still hands a segment (too large to go eagerly) to a rank that
/// stopped downloading cannot finish that send, and so cannot get here,
/// until the receiver takes it. Ranks that only waited in a barrier or in
/// `MPI_Finalize` left such a rank stuck until the grace ran out; ranks
/// then left `MPI_Finalize` one by one with `_exit`, in the middle of its
/// fence, which Open MPI 4.1's `mpirun` answered, one job in three, by
/// crashing or hanging in its own teardown. Draining lets every send
/// complete, so that the ranks of an aborted job reach `MPI_Finalize`
/// together, as they do at the end of a good run.
///
/// The MPI standard requires every message to be received before
/// `MPI_Finalize` (UCX-based MPICH warns, other MPIs may hang): at the end
/// of a good run [`Drained::unreceived`] must be empty.
///
/// Waits at most `grace` for the others (`all_met` false after that).
pub fn drain(grace: Duration, settle: Duration) -> Result<Drained, TransportError> {
    let endpoint = MpiFabric::new().endpoint();
    let mut unreceived = Vec::new();
    let mut describe = |envelope: crate::Envelope| {
        unreceived.push(format!(
            "{} from rank {} on the {:?} channel",
            crate::endpoint::describe(&envelope.bytes),
            envelope.from,
            envelope.channel
        ))
    };
    let counts = tally(endpoint.size());
    // Every thread that sent has been joined: these counts are final. The
    // buffers are leaked (a few bytes a rank, once): a request that never
    // completes (a rank that died) must keep them for MPI.
    let sent: &'static [u64] = Box::leak(counts.sent().into_boxed_slice());
    let sent_to_me: &'static mut [u64] = Box::leak(vec![0; sent.len()].into_boxed_slice());
    let deadline = Instant::now() + grace;
    let mut meeting = endpoint
        .world
        .immediate_all_to_all_into(StaticScope, sent, sent_to_me);
    let sent_to_me = loop {
        meeting = match meeting.test_with_data() {
            Ok((_, sent_to_me)) => break sent_to_me,
            Err(pending) => pending,
        };
        if Instant::now() >= deadline {
            // A request must not be dropped unfinished; MPI keeps it.
            std::mem::forget(meeting);
            return Ok(Drained {
                unreceived,
                all_met: false,
            });
        }
        if let Some(envelope) = endpoint.recv(&Channel::ALL, MEETING_POLL)? {
            describe(envelope);
        }
    };
    let deadline = Instant::now() + settle;
    loop {
        let missing = missing(sent_to_me, &counts.received());
        if missing.is_empty() {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match endpoint.recv(&Channel::ALL, left)? {
            Some(envelope) => describe(envelope),
            None => {
                unreceived.extend(missing.into_iter().map(|(from, count)| {
                    format!(
                        "{count} message(s) that rank {from} sent never arrived within {} ms",
                        settle.as_millis()
                    )
                }));
                break;
            }
        }
    }
    Ok(Drained {
        unreceived,
        all_met: true,
    })
}

/// How long [`drain`] listens for messages between two tests of whether
/// every rank has arrived.
const MEETING_POLL: Duration = Duration::from_millis(1);
