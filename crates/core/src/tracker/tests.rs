//! Unit tests of the tracker state machine, fed by hand.

use super::*;
use crate::strategy::HintKind;
use crate::{FileListing, Owner, Registration};

const T0: Duration = Duration::ZERO;

fn listing(name: &str, hashes: &[&str]) -> FileListing {
    FileListing {
        name: name.into(),
        hashes: hashes.iter().map(|h| h.to_string()).collect(),
    }
}

fn register(t: &mut Tracker, rank: u32, owned: Vec<FileListing>, wanted: &[&str]) {
    let wanted = wanted.iter().map(|w| w.to_string()).collect();
    let registration = Registration {
        owned,
        wanted,
        ..Registration::default()
    };
    t.handle_message(T0, Rank(rank), Message::Register(registration));
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
                file_ids: vec![FileId(1), FileId(0)],
                candidate_ids: vec![],
                wanted: vec![],
            }
        }
    );
    assert_eq!(sent[1].to, Rank(2));
    assert_eq!(t.poll_event(), Some(TrackerEvent::AllRegistered));
}

fn swarm_request(name: &str) -> Message {
    Message::SwarmRequest {
        name: name.into(),
        hints: HintRequest::NONE,
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
        hints: HintRequest::NONE,
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

/// The tracker's wiring: a SWARM_REQUEST's hints come from the policy it
/// names (which hints are right is each strategy's own tests' business).
#[test]
fn a_request_is_answered_with_the_hints_of_the_policy_it_names() {
    let mut t = registered();
    drain(&mut t);
    let request = Message::SwarmRequest {
        name: "a".into(),
        hints: HintRequest {
            kind: HintKind::Rarest,
            count: 5,
        },
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
        hints: HintRequest::NONE,
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

#[test]
fn progress_counts_wanted_segments_from_the_ack_to_the_end() {
    let mut t = tracker(3);
    register(&mut t, 1, vec![listing("a", &["h1", "h2"])], &[]);
    let nothing_known = Progress {
        peers: 2,
        ..Progress::default()
    };
    assert_eq!(t.progress(), nothing_known, "before every peer registered");
    // Rank 2 wants "a" (owned by 1) and "c", which it owns itself: only
    // "a"'s segments are to download.
    register(&mut t, 2, vec![listing("c", &["x", "y", "z"])], &["a", "c"]);
    drain(&mut t);
    let at_ack = Progress {
        segments_done: 0,
        segments_total: 2,
        peers_done: 0,
        peers: 2,
    };
    assert_eq!(t.progress(), at_ack);
    t.handle_message(T0, Rank(2), swarm_request("a"));
    let update = Message::PeerUpdate {
        file: FileId(0),
        received: vec![(1, Rank(1))],
        hints: HintRequest::NONE,
    };
    t.handle_message(T0, Rank(2), update);
    assert_eq!(t.progress().segments_done, 1);
    t.handle_message(T0, Rank(1), Message::AllFilesCompleted);
    assert_eq!(t.progress().peers_done, 1);
    // The completion reports the rest; the total stays once nothing is
    // pending any more.
    let completed = Message::FileCompleted {
        file: FileId(0),
        received: vec![(0, Rank(1))],
    };
    t.handle_message(T0, Rank(2), completed);
    t.handle_message(T0, Rank(2), Message::AllFilesCompleted);
    let at_end = Progress {
        segments_done: 2,
        segments_total: 2,
        peers_done: 2,
        peers: 2,
    };
    assert_eq!(t.progress(), at_end);
}

#[test]
fn want_all_gets_every_file_it_lacks_and_matching_candidates_count_as_held() {
    let mut t = tracker(4);
    register(
        &mut t,
        1,
        vec![listing("a", &["1"]), listing("b", &["2"])],
        &[],
    );
    register(&mut t, 2, vec![listing("c", &["3"])], &[]);
    let rerun = Registration {
        want_all: true,
        // "a" is already there intact, "b" is stale, "z" is not shared.
        candidates: vec![
            listing("a", &["1"]),
            listing("b", &["x"]),
            listing("z", &["9"]),
        ],
        ..Registration::default()
    };
    t.handle_message(T0, Rank(3), Message::Register(rerun));
    let acks = drain(&mut t);
    match &acks[2].msg {
        Message::RegisterAck {
            candidate_ids,
            wanted,
            ..
        } => {
            assert_eq!(candidate_ids, &vec![Some(FileId(0)), None, None]);
            assert_eq!(wanted, &vec!["b".to_string(), "c".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    // Rank 3 now serves "a" as a seed.
    t.handle_message(T0, Rank(2), swarm_request("a"));
    match drain(&mut t).pop().unwrap().msg {
        Message::SwarmReply { owners, .. } => {
            let ranks: Vec<u32> = owners.iter().map(|o| o.rank.0).collect();
            assert_eq!(ranks, vec![1, 3]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_peer_that_leaves_is_named_no_more_but_the_last_seed_cannot_leave() {
    let mut t = tracker(4);
    register(&mut t, 1, vec![listing("a", &["h1"])], &[]);
    register(&mut t, 2, vec![], &["a"]);
    register(&mut t, 3, vec![], &["a"]);
    drain(&mut t);
    let completed = Message::FileCompleted {
        file: FileId(0),
        received: vec![(0, Rank(1))],
    };
    t.handle_message(T0, Rank(2), swarm_request("a"));
    t.handle_message(T0, Rank(2), completed);
    t.handle_message(T0, Rank(2), Message::Leave { file: FileId(0) });
    drain(&mut t);
    t.handle_message(T0, Rank(3), swarm_request("a"));
    match drain(&mut t).pop().unwrap().msg {
        Message::SwarmReply { owners, .. } => {
            let ranks: Vec<u32> = owners.iter().map(|o| o.rank.0).collect();
            assert_eq!(ranks, vec![1], "rank 2 left with its segments");
        }
        other => panic!("{other:?}"),
    }
    t.handle_message(T0, Rank(1), Message::Leave { file: FileId(0) });
    let reason = abort_reason(&mut t);
    assert!(
        reason.contains("rank 1 left 'a', but it was the file's last seed"),
        "{reason}"
    );
}
