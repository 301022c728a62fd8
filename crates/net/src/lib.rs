//! Transports and drivers: everything that puts mpitorrent's state machines
//! on real threads and real messages.
//!
//! A transport gives each thread an [`Endpoint`]: send bytes to a channel
//! of a rank, receive bytes from a set of this rank's channels with a
//! timeout. Two implement it: [`local`] (every rank a set of threads in one
//! process, messages over crossbeam channels) and, with the `mpi` feature,
//! `mpi` (rsmpi over a real MPI library, non-blocking probes only).
//!
//! The drivers are the same for both: [`tracker_loop::run_tracker`] on
//! rank 0, and [`peer::run_peer`] on every other rank, which runs the
//! core's peer machine ([`mpitorrent_core::peer`]): the registration, then
//! its download side and upload side on two threads.
//!
//! [`launcher`] tells which MPI's `mpirun` starts a job and the flags it
//! needs, for the tests and the benchmark.

pub mod content;
pub mod endpoint;
pub mod fault;
pub mod job;
pub mod launcher;
pub mod local;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod outbox;
pub mod output;
pub mod peer;
pub mod resources;
pub mod share;
pub mod tracker_loop;

pub use endpoint::{Endpoint, Envelope, Fabric, TransportError};
