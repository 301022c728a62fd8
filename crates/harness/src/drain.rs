//! Draining the machines, the same way in both drivers.

use mpitorrent_core::peer::{Peer, PeerEvent};
use mpitorrent_core::tracker::{Tracker, TrackerEvent};
use mpitorrent_core::{Rank, Transmit, TRACKER};

/// A driver of one tracker and its peers' machines: how it reaches them,
/// sends a message and handles an event. The draining (every transmit
/// first, as the machine queued them, then every event) is written once,
/// in the provided methods.
pub trait Drain {
    /// How the driver fails (a `SimError`; the tests panic instead).
    type Error;

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
}
