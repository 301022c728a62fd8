//! The in-process transport: every rank is a set of threads in one
//! process, and each (rank, channel) pair is an unbounded crossbeam queue.
//! Messages still go through the wire codec, so this runs exactly what MPI
//! runs, minus MPI. A receive given a [`Wake`] selects on it next to the
//! queues, so a wake-up ends the wait like a message would.

use crate::endpoint::Wake;
use crate::{Endpoint, Envelope, Fabric, TransportError};
use crossbeam_channel::{unbounded, Receiver, Select, Sender};
use mpitorrent_core::{Channel, Rank};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a queue carries: the sender's rank and the encoded message.
type Item = (Rank, Vec<u8>);
type Queue = (Sender<Item>, Receiver<Item>);

/// The queues of a whole in-process job.
#[derive(Debug)]
pub struct LocalNetwork {
    /// queues[rank][channel index]
    queues: Vec<Vec<Queue>>,
    /// Messages each rank sent, by rank.
    sent: Vec<AtomicU64>,
}

impl LocalNetwork {
    /// A network of `ranks` ranks (tracker included).
    pub fn new(ranks: u32) -> Arc<Self> {
        let queues = (0..ranks)
            .map(|_| Channel::ALL.iter().map(|_| unbounded()).collect())
            .collect();
        let sent = (0..ranks).map(|_| AtomicU64::new(0)).collect();
        Arc::new(LocalNetwork { queues, sent })
    }

    /// The fabric for the threads of `rank`.
    pub fn fabric(self: &Arc<Self>, rank: Rank) -> LocalFabric {
        LocalFabric {
            network: Arc::clone(self),
            rank,
        }
    }

    /// The messages sent and never received, each described in one line
    /// (receiver, sender, channel, kind), taken out of their queues. Once
    /// every thread of the job has ended, any is a protocol bug: the same
    /// run under MPI would leave it unreceived at `MPI_Finalize`.
    pub fn unreceived(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (rank, channels) in self.queues.iter().enumerate() {
            for (channel, (_, receiver)) in Channel::ALL.iter().zip(channels) {
                for (from, bytes) in receiver.try_iter() {
                    found.push(format!(
                        "rank {rank}: {} from rank {from} on the {channel:?} channel",
                        crate::endpoint::describe(&bytes)
                    ));
                }
            }
        }
        found
    }

    fn queue(&self, rank: Rank, channel: Channel) -> Option<&Queue> {
        self.queues
            .get(rank.index())
            .map(|channels| &channels[channel_index(channel)])
    }
}

fn channel_index(channel: Channel) -> usize {
    Channel::ALL
        .iter()
        .position(|&c| c == channel)
        .expect("every channel is in Channel::ALL")
}

/// Hands out endpoints for one rank of a [`LocalNetwork`].
#[derive(Clone, Debug)]
pub struct LocalFabric {
    network: Arc<LocalNetwork>,
    rank: Rank,
}

impl Fabric for LocalFabric {
    type Endpoint = LocalEndpoint;

    fn endpoint(&self) -> LocalEndpoint {
        LocalEndpoint {
            network: Arc::clone(&self.network),
            rank: self.rank,
        }
    }

    fn sent(&self) -> u64 {
        self.network.sent[self.rank.index()].load(Ordering::Relaxed)
    }
}

/// One thread's endpoint on a [`LocalNetwork`].
#[derive(Debug)]
pub struct LocalEndpoint {
    network: Arc<LocalNetwork>,
    rank: Rank,
}

impl Endpoint for LocalEndpoint {
    fn rank(&self) -> Rank {
        self.rank
    }

    fn size(&self) -> u32 {
        self.network.queues.len() as u32
    }

    fn send(&self, to: Rank, channel: Channel, bytes: Vec<u8>) -> Result<(), TransportError> {
        let (sender, _) =
            self.network
                .queue(to, channel)
                .ok_or_else(|| TransportError::Disconnected {
                    rank: to,
                    detail: format!("no such rank in a job of {}", self.size()),
                })?;
        self.network.sent[self.rank.index()].fetch_add(1, Ordering::Relaxed);
        // The network holds a receiver for every queue, so a send cannot
        // fail while it is alive.
        sender
            .send((self.rank, bytes))
            .map_err(|_| TransportError::Disconnected {
                rank: to,
                detail: "queue closed".into(),
            })
    }

    fn recv_until_woken(
        &self,
        channels: &[Channel],
        timeout: Duration,
        wake: Option<&Wake>,
    ) -> Result<Option<Envelope>, TransportError> {
        let receivers: Vec<(Channel, &Receiver<Item>)> = channels
            .iter()
            .filter_map(|&c| self.network.queue(self.rank, c).map(|(_, r)| (c, r)))
            .collect();
        let mut select = Select::new();
        for (_, receiver) in &receivers {
            select.recv(receiver);
        }
        // Last, so its index is past the queues'.
        if let Some(wake) = wake {
            select.recv(wake.bell());
        }
        let Ok(operation) = select.select_timeout(timeout) else {
            return Ok(None);
        };
        let (channel, receiver) = match (receivers.get(operation.index()), wake) {
            (Some(&queue), _) => queue,
            (None, Some(wake)) => {
                // Woken: take the wake-up (it cannot fail: the wake holds
                // its own sender).
                let _ = operation.recv(wake.bell());
                return Ok(None);
            }
            (None, None) => unreachable!("Select picks one of its operations"),
        };
        let (from, bytes) = operation
            .recv(receiver)
            .map_err(|_| TransportError::Disconnected {
                rank: self.rank,
                detail: "queue closed".into(),
            })?;
        Ok(Some(Envelope {
            from,
            channel,
            bytes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn delivers_to_the_right_rank_and_channel() {
        let network = LocalNetwork::new(3);
        let a = network.fabric(Rank(1)).endpoint();
        let b = network.fabric(Rank(2)).endpoint();
        a.send(Rank(2), Channel::Upload, vec![1]).unwrap();
        a.send(Rank(2), Channel::Download, vec![2]).unwrap();
        let short = Duration::from_millis(10);
        let got = b.recv(&[Channel::Download], short).unwrap().unwrap();
        assert_eq!((got.from, got.bytes), (Rank(1), vec![2]));
        let got = b.recv(&[Channel::Control, Channel::Upload], short).unwrap();
        assert_eq!(got.unwrap().channel, Channel::Upload);
        assert!(b.recv(&[Channel::Upload], short).unwrap().is_none());
        assert!(a.send(Rank(9), Channel::Upload, vec![]).is_err());
        assert!(network.unreceived().is_empty());
        let msg = mpitorrent_core::wire::encode(&mpitorrent_core::Message::Terminate);
        a.send(Rank(2), Channel::Upload, msg).unwrap();
        assert_eq!(
            network.unreceived(),
            ["rank 2: TERMINATE from rank 1 on the Upload channel"]
        );
        assert!(network.unreceived().is_empty(), "taken out of the queue");
    }

    #[test]
    fn a_wake_up_ends_a_receive_with_no_message() {
        let network = LocalNetwork::new(2);
        let endpoint = network.fabric(Rank(1)).endpoint();
        let wake = Wake::default();
        let long = Duration::from_secs(5);
        for _ in 0..200 {
            let start = Instant::now();
            let got = std::thread::scope(|s| {
                s.spawn(|| wake.wake());
                endpoint.recv_until_woken(&[Channel::Upload], long, Some(&wake))
            });
            assert!(got.unwrap().is_none());
            assert!(start.elapsed() < long, "{:?}", start.elapsed());
            assert!(!wake.take(), "the receive took the wake-up");
        }
        // A message still comes first when there is one, and a wake-up
        // nobody waited for ends the next wait.
        let other = network.fabric(Rank(0)).endpoint();
        other.send(Rank(1), Channel::Upload, vec![7]).unwrap();
        let got = endpoint.recv_until_woken(&[Channel::Upload], long, Some(&wake));
        assert_eq!(got.unwrap().unwrap().bytes, vec![7]);
        wake.wake();
        let short = Duration::from_millis(10);
        assert!(endpoint.recv(&[Channel::Upload], short).unwrap().is_none());
        assert!(wake.take(), "a plain receive leaves the wake-up");
    }
}
