//! How an MPI job ends: aborting it, finalising within a grace period, and
//! checking that every message sent was received before `MPI_Finalize`.

use super::MpiFabric;
use crate::{Endpoint, Fabric, TransportError};
use mpi::environment::Universe;
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
/// Every rank met the others at the shutdown barrier before it (see
/// [`unreceived_messages`]), so nothing is left to do but the library's
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

/// How long [`unreceived_messages`] keeps probing after the barrier: ample
/// for a message sent before the barrier to arrive (the ones it looks for
/// were sent long before the end of the run).
pub const SHUTDOWN_SETTLE: Duration = Duration::from_millis(50);

/// The messages sent to this rank that nobody received, each described in
/// one line (sender, channel, kind), for a check just before
/// `MPI_Finalize`: the MPI standard requires every message to be received
/// by then (UCX-based MPICH warns, other MPIs may hang). Every rank must
/// call it, after joining its threads: it meets the others at a barrier,
/// so every send of the run has started, then probes every channel for
/// `settle` and receives (drops) what it finds.
pub fn unreceived_messages(settle: Duration) -> Result<Vec<String>, TransportError> {
    let endpoint = MpiFabric::new().endpoint();
    endpoint.world.barrier();
    let mut found = Vec::new();
    let deadline = Instant::now() + settle;
    while let Some(envelope) = endpoint.recv(&Channel::ALL, settle)? {
        found.push(format!(
            "{} from rank {} on the {:?} channel",
            crate::endpoint::describe(&envelope.bytes),
            envelope.from,
            envelope.channel
        ));
        if Instant::now() >= deadline {
            break;
        }
    }
    Ok(found)
}
