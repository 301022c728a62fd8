//! `relay`: paced hints in which a rank may be named as the source of a
//! segment it is still receiving.
//!
//! Under `paced` a segment can be passed on only once its holder has
//! reported it, up to an update later; at thousands of peers that lag, at
//! every hop of every segment, is what makes a download ask the tracker
//! every few segments. Here the tracker names a rank as soon as it was
//! hinted a segment: the requests to it wait at its upload side until the
//! segment arrives (SEGMENT_BATCH), so a fresh segment travels down a
//! chain of ranks the tracker planned in advance, one uplink per hop, and
//! a download may ask for many hints at a time. The download side is
//! paced's ([`super::paced`]), asking for relay hints and sending the
//! requests of one choice to one holder as one message.

use super::paced::PacedHints;

/// The tracker's side: paced hints that may name a relay.
pub(super) const RELAY_HINTS: PacedHints = PacedHints { relay: true };
