//! The traffic itself, over any [`Fabric`] (MPI in the binary, the
//! in-process transport in the tests), laid out like mpitorrent's threads:
//!
//! - a peer's **download thread** sends one request per segment on
//!   [`Channel::Upload`] to the segment's source, keeps `window` of them
//!   outstanding, and takes each reply on [`Channel::Download`]; when all
//!   are answered it sends FINISHED to every other rank (the tracker's on
//!   [`Channel::Tracker`], the peers' upload threads on [`Channel::Upload`]);
//! - a peer's **upload thread** polls [`Channel::Upload`] and
//!   [`Channel::Control`] (as mpitorrent's does), answers each request with
//!   a reply to the requester's download thread, and ends once every other
//!   peer has sent FINISHED;
//! - rank 0 only waits for every peer's FINISHED.
//!
//! Messages are a kind byte, plus a 4-byte request number that the reply
//! echoes: a few bytes, like mpitorrent's segment requests and ACKs, and
//! far under the eager limit. Nothing is encoded or decoded beyond that.

use crate::round_trips::RoundTrips;
use anyhow::{bail, Result};
use mpitorrent_core::{Channel, Rank};
use mpitorrent_net::{Endpoint, Fabric};
use std::collections::BTreeSet;
use std::time::Duration;

const REQUEST: u8 = 1;
const REPLY: u8 = 2;
const FINISHED: u8 = 3;

/// How long one `recv` polls before the loop goes round (nothing else to
/// check in between; mpitorrent's threads use the same slice).
const SLICE: Duration = Duration::from_millis(100);

/// Runs this rank's part of the traffic to its end; fails at once if
/// `trips` names ranks this job does not have.
pub fn run_rank<F: Fabric>(fabric: &F, trips: &RoundTrips, window: u32) -> Result<()> {
    let (rank, ranks) = {
        let endpoint = fabric.endpoint();
        trips.check(endpoint.size())?;
        if endpoint.rank().is_tracker() {
            return serve(&endpoint, &[Channel::Tracker], false);
        }
        (endpoint.rank(), endpoint.size())
    };
    let order = trips.schedule(rank.0, ranks);
    std::thread::scope(|scope| {
        let download = scope.spawn(|| download(&fabric.endpoint(), &order, window));
        let upload = scope.spawn(|| {
            serve(
                &fabric.endpoint(),
                &[Channel::Upload, Channel::Control],
                true,
            )
        });
        let downloaded = download.join().expect("the download thread does not panic");
        let uploaded = upload.join().expect("the upload thread does not panic");
        downloaded.and(uploaded)
    })
}

/// The download thread: every request of `order`, `window` at a time, then
/// FINISHED to every other rank.
fn download<E: Endpoint>(endpoint: &E, order: &[Rank], window: u32) -> Result<()> {
    let window = window.max(1) as usize;
    let me = endpoint.rank();
    let mut outstanding = vec![0u64; endpoint.size() as usize];
    let (mut sent, mut in_flight) = (0, 0);
    while sent < order.len() || in_flight > 0 {
        while in_flight < window && sent < order.len() {
            let source = order[sent];
            let number = u32::try_from(sent).unwrap_or(u32::MAX).to_le_bytes();
            let mut request = vec![REQUEST];
            request.extend(number);
            endpoint.send(source, Channel::Upload, request)?;
            outstanding[source.index()] += 1;
            sent += 1;
            in_flight += 1;
        }
        let Some(envelope) = endpoint.recv(&[Channel::Download], SLICE)? else {
            continue;
        };
        let from = envelope.from;
        match outstanding.get_mut(from.index()) {
            Some(waiting) if *waiting > 0 && envelope.bytes.first() == Some(&REPLY) => {
                *waiting -= 1;
                in_flight -= 1;
            }
            _ => bail!("rank {me}: unexpected message from rank {from} on the download channel"),
        }
    }
    for rank in (0..endpoint.size()).map(Rank).filter(|&r| r != me) {
        let channel = if rank.is_tracker() {
            Channel::Tracker
        } else {
            Channel::Upload
        };
        endpoint.send(rank, channel, vec![FINISHED])?;
    }
    Ok(())
}

/// Receives on `channels` until every other peer has sent FINISHED,
/// answering each request with a reply if `answers` (the upload thread;
/// the tracker gets none).
fn serve<E: Endpoint>(endpoint: &E, channels: &[Channel], answers: bool) -> Result<()> {
    let me = endpoint.rank();
    let mut waiting: BTreeSet<Rank> = (1..endpoint.size())
        .map(Rank)
        .filter(|&r| r != me)
        .collect();
    while !waiting.is_empty() {
        let Some(envelope) = endpoint.recv(channels, SLICE)? else {
            continue;
        };
        let (from, channel, mut bytes) = (envelope.from, envelope.channel, envelope.bytes);
        match bytes.first() {
            Some(&REQUEST) if answers => {
                bytes[0] = REPLY;
                endpoint.send(from, Channel::Download, bytes)?;
            }
            Some(&FINISHED) if waiting.remove(&from) => {}
            _ => bail!("rank {me}: unexpected message from rank {from} on the {channel:?} channel"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpitorrent_net::local::LocalNetwork;

    /// Runs every rank of `trips` on threads over the in-process transport.
    fn run_locally(ranks: u32, trips: &RoundTrips, window: u32) -> Result<()> {
        let network = LocalNetwork::new(ranks);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..ranks)
                .map(|r| {
                    let fabric = network.fabric(Rank(r));
                    scope.spawn(move || run_rank(&fabric, trips, window))
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().expect("a rank does not panic"))
        })
    }

    #[test]
    fn every_rank_ends_after_all_round_trips() {
        let mut trips = RoundTrips::default();
        for rank in 1..5 {
            for source in (1..5).filter(|&s| s != rank) {
                trips.add(rank, source, 50 * u64::from(source));
            }
        }
        for window in [1, 8] {
            run_locally(5, &trips, window).unwrap();
        }
    }

    #[test]
    fn ranks_without_traffic_still_end() {
        run_locally(4, &RoundTrips::default(), 1).unwrap();
        run_locally(1, &RoundTrips::default(), 1).unwrap();
    }
}
