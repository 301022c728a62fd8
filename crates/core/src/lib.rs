//! The mpitorrent protocol, with no I/O.
//!
//! The tracker ([`tracker::Tracker`]) and a peer ([`peer`]: its
//! registration, then its download side around a [`downloader::Downloader`]
//! and its upload side, an [`uploader::Uploader`]) are state machines: a driver feeds them messages with
//! `handle_message(now, from, msg)` and then drains `poll_transmit()` (what to
//! send) and `poll_event()` (what happened) until both are empty. They hold
//! no sockets, threads, clocks or files, so the MPI transport, the
//! in-process transport and the simulator all run exactly the same code,
//! through the same wire codec ([`wire`]).
//!
//! ```text
//!   driver loop (any transport):
//!     bytes = transport.recv(channel)      // MPI_Improbe, a channel, a sim queue
//!     machine.handle_message(now, from, wire::decode(bytes)?)
//!     while let Some(t) = machine.poll_transmit() { transport.send(t.to, wire::encode(&t.msg)) }
//!     while let Some(e) = machine.poll_event()    { act on it (write a file, stop) }
//! ```
//!
//! The `sim-speed` feature (off by default; the simulator turns it on) adds
//! what only a driver of thousands of machines in one thread needs:
//! the `prefetch` module and the machines' `prefetch` methods, and
//! `holdings::SharedHashes`.

pub mod classic;
pub mod content;
pub mod downloader;
pub mod escape;
pub mod holdings;
mod ids;
mod message;
mod payload;
pub mod peer;
#[cfg(feature = "sim-speed")]
pub mod prefetch;
pub mod report;
pub mod scenario;
pub mod shapes;
pub mod stats;
pub mod strategy;
pub mod tracker;
pub mod tree;
pub mod uploader;
pub mod wire;

pub use ids::{FileId, Rank, SegmentIdx, TRACKER};
pub use message::{
    hash_known, Channel, Destination, FileListing, Hint, Message, MessageKind, Owner, Received,
    Registration, Stripe, Transmit, HASH_TO_COME,
};
pub use payload::Payload;
pub use strategy::{HintKind, HintRequest};

/// Another rank broke the protocol: an unexpected or inconsistent message.
/// The job must abort; this says why, naming the ranks involved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("protocol error: {0}")]
pub struct ProtocolError(pub String);
