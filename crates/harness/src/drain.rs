//! Delivering to the machines and draining them, the same way in both
//! drivers.

use mpitorrent_core::peer::{Peer, PeerEvent};
use mpitorrent_core::tracker::{Tracker, TrackerEvent};
use mpitorrent_core::{wire, Channel, Rank, Transmit, TRACKER};
use std::time::Duration;

/// A driver of one tracker and its peers' machines: how it reaches them,
/// sends a message and handles an event. Delivering an arrived message
/// and draining a machine (every transmit first, as the machine queued
/// them, then every event) are written once, in the provided methods; the
/// driver only says when and in what order messages arrive.
pub trait Drain {
    /// How the driver fails (a `SimError`; the tests panic instead).
    type Error;

    /// Whether the driver delivers everything sent to a rank in the order
    /// it was sent, whatever the channel (the simulator: one latency for
    /// every control message). Then nothing may arrive after a rank's
    /// TERMINATE. MPI orders each channel alone, and so does the tests'
    /// pool: a SWARM_REFRESH sent to the download side before TERMINATE
    /// may arrive after it, which a real peer ignores.
    const IN_ORDER: bool;

    /// The driver's failure for a broken run, saying `what`.
    fn fail(&self, what: String) -> Self::Error;

    fn tracker_mut(&mut self) -> &mut Tracker;
    /// Rank `rank`'s machine (never the tracker's rank).
    fn peer_mut(&mut self, rank: Rank) -> &mut Peer;
    /// Checks and queues one message from `from`.
    fn send(&mut self, from: Rank, transmit: Transmit) -> Result<(), Self::Error>;
    fn tracker_event(&mut self, event: TrackerEvent) -> Result<(), Self::Error>;
    fn peer_event(&mut self, rank: Rank, event: PeerEvent) -> Result<(), Self::Error>;

    /// Sends what the tracker wants sent, then handles its events.
    fn drain_tracker(&mut self) -> Result<(), Self::Error> {
        while let Some(transmit) = self.tracker_mut().poll_transmit() {
            self.send(TRACKER, transmit)?;
        }
        while let Some(event) = self.tracker_mut().poll_event() {
            self.tracker_event(event)?;
        }
        Ok(())
    }

    /// Sends what `rank`'s peer wants sent, then handles its events.
    fn drain_peer(&mut self, rank: Rank) -> Result<(), Self::Error> {
        while let Some(transmit) = self.peer_mut(rank).poll_transmit() {
            self.send(rank, transmit)?;
        }
        while let Some(event) = self.peer_mut(rank).poll_event() {
            self.peer_event(rank, event)?;
        }
        Ok(())
    }

    /// A message from `from` arrived at `to` on `channel`: decodes it,
    /// hands it to the machine it is for and drains that machine. Fails
    /// on bytes that do not decode, a tracker message for a peer, a
    /// message for a peer that stopped (see [`Drain::IN_ORDER`]), or the
    /// machine's own error.
    fn deliver(
        &mut self,
        now: Duration,
        from: Rank,
        to: Rank,
        channel: Channel,
        bytes: &[u8],
    ) -> Result<(), Self::Error> {
        let msg = match wire::decode(bytes) {
            Ok(msg) => msg,
            Err(e) => {
                let what = format!("rank {to} cannot decode what rank {from} sent: {e}");
                return Err(self.fail(what));
            }
        };
        if to.is_tracker() {
            self.tracker_mut().handle_message(now, from, msg);
            return self.drain_tracker();
        }
        let kind = msg.kind().name();
        if channel == Channel::Tracker {
            return Err(self.fail(format!(
                "rank {from} sent {kind}, a message for the tracker, to rank {to}"
            )));
        }
        if Self::IN_ORDER && self.peer_mut(to).is_stopped() {
            let what = format!("rank {to} received {kind} from rank {from} after its TERMINATE");
            return Err(self.fail(what));
        }
        if let Err(e) = self.peer_mut(to).handle_message(now, from, channel, msg) {
            // (The machine's error names the rank.)
            return Err(self.fail(e.to_string()));
        }
        self.drain_peer(to)
    }
}
