//! The transport interface every driver is written against.

use mpitorrent_core::wire::{self, WireError};
use mpitorrent_core::{Channel, Message, Rank, Transmit};
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
    ) -> Result<Option<Envelope>, TransportError>;

    /// Encodes and sends what a state machine asked for.
    fn transmit(&self, transmit: &Transmit) -> Result<(), TransportError> {
        self.send(transmit.to, transmit.channel(), wire::encode(&transmit.msg))
    }
}

/// Makes endpoints for the threads of one rank. `endpoint()` is called on
/// the thread that will use the endpoint.
pub trait Fabric: Sync {
    type Endpoint: Endpoint;

    /// A fresh endpoint for the calling thread.
    fn endpoint(&self) -> Self::Endpoint;
}

/// What an encoded message is, in a word (its kind), for a diagnostic about
/// a message no thread took.
pub fn describe(bytes: &[u8]) -> String {
    match mpitorrent_core::wire::decode(bytes) {
        Ok(msg) => msg.kind().name().to_string(),
        Err(_) => format!("{} undecodable bytes", bytes.len()),
    }
}
