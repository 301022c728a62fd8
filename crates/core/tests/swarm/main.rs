//! Whole-swarm tests of the core, in one thread.
//!
//! A small harness (in the spirit of quinn-proto's `Pair::drive`) runs one
//! [`Tracker`] and, for every peer rank, the core's [`Peer`] machine (the
//! registration, then a download and an upload side sharing one
//! [`Holdings`], exactly as a real peer runs them). Every message
//! goes through [`wire::encode`] / [`wire::decode`] and waits in a pool of
//! in-flight messages; a seeded RNG picks which one arrives next, keeping
//! FIFO order per (sender, receiver, channel) as MPI does, so many seeds
//! explore many interleavings. As on a real peer, a peer's download and
//! upload sides receive nothing before its RegisterAck was handled (their
//! messages wait in the pool, as in MPI's queue).
//!
//! The checks are `mpitorrent-harness`'s, the ones the simulator makes
//! too: on every message, no self-sends and nothing sent to a peer after
//! its TERMINATE was sent; every output exact as it is completed; at the
//! end the message counts the scenario implies, the peers' STATS against
//! the tracker's counts and against what the harness saw, and TERMINATE
//! for everyone. This driver adds what only it can see: an ACK only from a
//! rank holding the segment, PEER_UPDATE at most every ten segments, and a
//! generated run repeated giving the same outcome. Delivering and draining
//! the machines is the harness's `Drain`, as in the simulator; what is this
//! driver's own is the pool and its random order.
//!
//! Every failure names the seed, the window and the scenario. A generated
//! case is replayed alone with
//! `SWARM_SEED=<seed> cargo test -p mpitorrent-core --test swarm generated`;
//! add `SWARM_TRACE=1` to print every delivery.
//!
//! [`harness`] drives the machines; [`checks`] says what every run must
//! satisfy; [`shapes`], [`generated`] and [`aborts`] are the tests.

mod aborts;
mod checks;
mod generated;
mod harness;
mod shapes;
