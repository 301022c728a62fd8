//! The checks made on every message as it is sent.

use mpitorrent_core::{MessageKind, Rank};

/// Who may still be sent to: every rank of the job until its TERMINATE
/// was sent. Drivers call [`Sends::check`] on every message, before it is
/// queued.
#[derive(Clone, Debug)]
pub struct Sends {
    /// Ranks the tracker sent TERMINATE to, by rank.
    terminated: Vec<bool>,
}

impl Sends {
    /// A job of `ranks` ranks (the tracker included).
    pub fn new(ranks: u32) -> Sends {
        Sends {
            terminated: vec![false; ranks as usize],
        }
    }

    /// Whether `from` may send a message of `kind` to `to`: not to itself,
    /// not to a rank that does not exist, not after `to`'s TERMINATE. A
    /// TERMINATE that passes is remembered.
    #[inline]
    pub fn check(&mut self, from: Rank, to: Rank, kind: MessageKind) -> Result<(), String> {
        if to == from {
            return Err(Self::refused(from, to, kind, "to itself"));
        }
        let Some(terminated) = self.terminated.get_mut(to.index()) else {
            return Err(Self::refused(from, to, kind, ", which does not exist"));
        };
        if *terminated {
            return Err(Self::refused(from, to, kind, " after its TERMINATE"));
        }
        *terminated = kind == MessageKind::Terminate;
        Ok(())
    }

    /// Whether `rank` was sent its TERMINATE.
    pub fn is_terminated(&self, rank: Rank) -> bool {
        self.terminated.get(rank.index()).copied().unwrap_or(false)
    }

    #[cold]
    fn refused(from: Rank, to: Rank, kind: MessageKind, why: &str) -> String {
        match why {
            "to itself" => format!("rank {from} sent {} to itself", kind.name()),
            _ => format!("rank {from} sent {} to rank {to}{why}", kind.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_to_itself_nowhere_or_after_terminate_is_refused() {
        let mut sends = Sends::new(3);
        let err = sends.check(Rank(1), Rank(1), MessageKind::AllFilesCompleted);
        assert_eq!(
            err.unwrap_err(),
            "rank 1 sent CLIENT_GOT_ALL_FILES to itself"
        );
        let err = sends.check(Rank(1), Rank(7), MessageKind::SegmentRequest);
        assert_eq!(
            err.unwrap_err(),
            "rank 1 sent SEGMENT_REQUEST to rank 7, which does not exist"
        );
        sends
            .check(Rank(1), Rank(2), MessageKind::SegmentRequest)
            .unwrap();
        assert!(!sends.is_terminated(Rank(2)));
        sends
            .check(Rank(0), Rank(2), MessageKind::Terminate)
            .unwrap();
        assert!(sends.is_terminated(Rank(2)));
        let err = sends.check(Rank(1), Rank(2), MessageKind::SegmentAck);
        assert_eq!(
            err.unwrap_err(),
            "rank 1 sent ACK to rank 2 after its TERMINATE"
        );
        sends.check(Rank(2), Rank(0), MessageKind::Stats).unwrap();
    }
}
