//! Unit tests of the tracker state machine, fed by hand.

use super::*;
use crate::{FileListing, Owner};

const T0: Duration = Duration::ZERO;

fn listing(name: &str, hashes: &[&str]) -> FileListing {
    FileListing {
        name: name.into(),
        hashes: hashes.iter().map(|h| h.to_string()).collect(),
    }
}

fn register(t: &mut Tracker, rank: u32, owned: Vec<FileListing>, wanted: &[&str]) {
    let wanted = wanted.iter().map(|w| w.to_string()).collect();
    t.handle_message(T0, Rank(rank), Message::Register { owned, wanted });
}

fn drain(t: &mut Tracker) -> Vec<Transmit> {
    std::iter::from_fn(|| t.poll_transmit()).collect()
}

fn tracker(ranks: u32) -> Tracker {
    Tracker::new(
        TrackerConfig {
            stall_timeout: Some(Duration::from_secs(60)),
            ..TrackerConfig::new(ranks)
        },
        T0,
    )
}

/// Two peers: 1 owns "b" and "a", 2 wants "a".
fn registered() -> Tracker {
    let mut t = tracker(3);
    register(
        &mut t,
        1,
        vec![listing("b", &["x"]), listing("a", &["h1", "h2"])],
        &[],
    );
    assert!(
        drain(&mut t).is_empty(),
        "no ACK before everyone registered"
    );
    register(&mut t, 2, vec![], &["a"]);
    t
}

#[test]
fn acks_every_peer_with_ids_in_name_order() {
    let mut t = registered();
    let sent = drain(&mut t);
    assert_eq!(
        sent[0],
        Transmit {
            to: Rank(1),
            msg: Message::RegisterAck {
                file_ids: vec![FileId(1), FileId(0)]
            }
        }
    );
    assert_eq!(sent[1].to, Rank(2));
    assert_eq!(t.poll_event(), Some(TrackerEvent::AllRegistered));
}

fn swarm_request(name: &str) -> Message {
    Message::SwarmRequest {
        name: name.into(),
        hints: 0,
    }
}

#[test]
fn answers_swarm_requests_and_tracks_the_swarm() {
    let mut t = registered();
    drain(&mut t);
    let now = Duration::from_secs(1);
    t.handle_message(now, Rank(2), swarm_request("a"));
    let reply = drain(&mut t).pop().unwrap();
    let seed = Owner {
        rank: Rank(1),
        seed: true,
        held: 2,
        load: 0,
    };
    assert_eq!(
        reply.msg,
        Message::SwarmReply {
            file: FileId(0),
            hashes: vec!["h1".into(), "h2".into()],
            owners: vec![seed],
            hints: vec![],
        }
    );
    let update = Message::PeerUpdate {
        file: FileId(0),
        received: vec![(1, Rank(1))],
        hints: 0,
    };
    t.handle_message(now, Rank(2), update);
    let refresh = drain(&mut t).pop().unwrap();
    assert_eq!(refresh.to, Rank(2));
    // Rank 1 served one segment: that is its load now.
    let loaded = Owner { load: 1, ..seed };
    assert!(matches!(refresh.msg, Message::SwarmRefresh { ref owners, .. } if owners == &[loaded]));
    // The requester never appears in its own owner list, but others see it.
    t.handle_message(now, Rank(1), swarm_request("a"));
    match drain(&mut t).pop().unwrap().msg {
        Message::SwarmReply { owners, .. } => {
            let partial = Owner {
                rank: Rank(2),
                seed: false,
                held: 1,
                load: 0,
            };
            assert_eq!(owners, vec![partial])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn hints_point_at_rare_segments_when_asked() {
    let mut t = registered();
    drain(&mut t);
    let request = Message::SwarmRequest {
        name: "a".into(),
        hints: 5,
    };
    t.handle_message(T0, Rank(2), request);
    match drain(&mut t).pop().unwrap().msg {
        Message::SwarmReply { mut hints, .. } => {
            hints.sort();
            assert_eq!(hints, vec![(0, Rank(1)), (1, Rank(1))]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_update_naming_a_segment_out_of_range_aborts() {
    let mut t = registered();
    drain(&mut t);
    t.handle_message(T0, Rank(2), swarm_request("a"));
    drain(&mut t);
    let update = Message::PeerUpdate {
        file: FileId(0),
        received: vec![(9, Rank(1))],
        hints: 0,
    };
    t.handle_message(T0, Rank(2), update);
    assert!(abort_reason(&mut t).contains("segment 9 of 'a'"));
}

#[test]
fn terminates_everyone_then_collects_statistics() {
    let mut t = registered();
    drain(&mut t);
    let completed = Message::FileCompleted {
        file: FileId(0),
        received: vec![(0, Rank(1)), (1, Rank(1))],
    };
    t.handle_message(T0, Rank(2), completed);
    t.handle_message(T0, Rank(2), Message::AllFilesCompleted);
    assert!(drain(&mut t).is_empty());
    let end = Duration::from_secs(3);
    t.handle_message(end, Rank(1), Message::AllFilesCompleted);
    let sent = drain(&mut t);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|tx| tx.msg == Message::Terminate));
    assert!(!t.is_finished(), "still collecting statistics");
    assert!(t.take_run_data().is_none());
    for rank in [2, 1] {
        let stats = Message::Stats(Box::default());
        t.handle_message(end, Rank(rank), stats);
    }
    assert!(t.is_finished());
    assert_eq!(t.poll_event(), Some(TrackerEvent::AllRegistered));
    assert_eq!(t.poll_event(), Some(TrackerEvent::Terminated));
    let data = t.take_run_data().unwrap();
    assert_eq!(data.wall, end);
    assert_eq!(data.peers.len(), 2);
    assert_eq!(data.files[0].initial_owners, vec![Rank(1)]);
    assert_eq!(data.tracker_received.get(crate::MessageKind::Stats), 2);
    assert_eq!(data.tracker_sent.get(crate::MessageKind::Terminate), 2);
}

fn abort_reason(t: &mut Tracker) -> String {
    let sent = drain(t);
    assert!(sent
        .iter()
        .all(|tx| matches!(tx.msg, Message::Abort { .. })));
    loop {
        match t.poll_event() {
            Some(TrackerEvent::Aborted { reason }) => return reason,
            Some(_) => continue,
            None => panic!("no abort"),
        }
    }
}

#[test]
fn conflicting_listings_name_both_ranks_and_the_segment() {
    let mut t = tracker(3);
    register(&mut t, 1, vec![listing("f", &["a", "b", "c"])], &[]);
    register(&mut t, 2, vec![listing("f", &["a", "x", "c"])], &[]);
    let reason = abort_reason(&mut t);
    assert!(reason.contains("ranks 1 and 2"), "{reason}");
    assert!(
        reason.contains("segment 2 is 'b' on rank 1 but 'x' on rank 2"),
        "{reason}"
    );
    let mut t = tracker(3);
    register(&mut t, 1, vec![listing("f", &["a"])], &[]);
    register(&mut t, 2, vec![listing("f", &["a", "b"])], &[]);
    assert!(abort_reason(&mut t).contains("1 segments on rank 1 but 2 on rank 2"));
}

#[test]
fn a_wanted_file_nobody_owns_aborts_before_downloads() {
    let mut t = tracker(3);
    register(&mut t, 1, vec![], &[]);
    register(&mut t, 2, vec![], &["ghost"]);
    let reason = abort_reason(&mut t);
    assert_eq!(reason, "rank 2 wants file 'ghost', which no rank owns");
}

#[test]
fn a_peer_abort_reaches_every_peer() {
    let mut t = registered();
    drain(&mut t);
    let reason = "rank 2: cannot write client2_a".to_string();
    t.handle_message(
        T0,
        Rank(2),
        Message::Abort {
            reason: reason.clone(),
        },
    );
    assert_eq!(abort_reason(&mut t), reason);
    assert!(t.is_finished());
}

#[test]
fn unexpected_messages_abort() {
    let mut t = tracker(3);
    t.handle_message(T0, Rank(1), Message::AllFilesCompleted);
    assert!(abort_reason(&mut t).contains("CLIENT_GOT_ALL_FILES"));
}

#[test]
fn a_stall_aborts_and_says_who_waits_for_what() {
    let mut t = registered();
    drain(&mut t);
    t.handle_message(T0, Rank(1), Message::AllFilesCompleted);
    assert_eq!(t.poll_timeout(), Some(Duration::from_secs(60)));
    t.handle_timeout(Duration::from_secs(59));
    assert!(!t.is_finished());
    t.handle_timeout(Duration::from_secs(60));
    let reason = abort_reason(&mut t);
    assert!(reason.contains("no progress for 60 s"), "{reason}");
    assert!(
        reason.contains("rank 2 waits for 'a' (0 of 2 segments reported)"),
        "{reason}"
    );
}

#[test]
fn a_peer_that_never_registers_is_named() {
    let mut t = tracker(3);
    register(&mut t, 1, vec![], &[]);
    t.handle_timeout(Duration::from_secs(61));
    assert!(abort_reason(&mut t).contains("rank 2 never registered"));
}
