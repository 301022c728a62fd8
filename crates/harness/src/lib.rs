//! One set of invariant checks for the two drivers that run the protocol's
//! machines in one thread: the core's swarm tests (a random delivery order
//! over a pool of in-flight messages) and the simulator (virtual time with
//! links). Each driver moves messages its own way; what a run must
//! satisfy is written once, here:
//!
//! - [`Sends`]: no rank sends to itself, to a rank that does not exist, or
//!   to a rank after its TERMINATE (checked on every message, so it is
//!   cheap: two comparisons and a bit, no allocation unless it fails).
//! - [`Outputs`]: every wanted file is completed once, with exactly its
//!   owners' hashes, and nothing else is.
//! - [`Implied`] and [`check_counts`]: the message counts a scenario fixes
//!   (one REGISTER per peer, one ACK per downloaded segment, ...), and
//!   [`check_reported`]: the peers' STATS agree with the tracker's own
//!   counts of what it received; [`check_observed`], for a driver that
//!   counts what it sees: the report agrees with what was sent.
//! - [`Drain`]: an arrived message is decoded and handed to its machine,
//!   and the machine's transmits and events drained, the same way by both
//!   drivers; a driver only says when and in what order messages arrive.
//! - [`seeds_from_env`] and [`draw_shape`]: which seeds a generated test
//!   runs (all, or one to replay a failure) and the swarm shape each draws.
//!
//! That a run repeats exactly is checked by running it twice and comparing
//! what each driver produced (its outcome or report).
//!
//! Every check returns `Err(String)` naming what went wrong; the driver
//! adds where (a tick, a seed) and fails its own way (the simulator with a
//! `SimError`, the tests with a panic).

mod counts;
mod drain;
mod outputs;
mod seeds;
mod sends;

pub use counts::{check_counts, check_observed, check_reported, Implied};
pub use drain::Drain;
pub use outputs::Outputs;
pub use seeds::{draw_shape, seeds_from_env};
pub use sends::Sends;
