//! The peer machine fed by hand: registration's checks, LEAVE, STATS and
//! the counting of what it sent.

use super::*;
use crate::downloader::DownloadEvent;
use crate::{Channel, FileId, FileListing, Owner};

fn listing(name: &str, segments: usize) -> FileListing {
    FileListing {
        name: name.into(),
        hashes: (0..segments).map(|i| format!("{name}{i}")).collect(),
    }
}

fn config(rank: u32, leaves: bool) -> PeerConfig {
    PeerConfig {
        downloader: DownloaderConfig::classic(Rank(rank), Vec::new()),
        leaves,
    }
}

/// A peer of rank 2 owning `a` (2 segments), with `b` as a candidate,
/// wanting `c`.
fn registering(leaves: bool) -> Registering {
    let registration = Registration {
        owned: vec![listing("a", 2)],
        candidates: vec![listing("b", 1)],
        wanted: vec!["c".into()],
        ..Registration::default()
    };
    Registering::new(registration, config(2, leaves), Holdings::new())
}

fn ack(owned: usize, candidates: Vec<Option<FileId>>) -> Message {
    Message::RegisterAck {
        file_ids: (0..owned as u32).map(FileId).collect(),
        candidate_ids: candidates,
        wanted: vec!["c".into()],
    }
}

fn kinds(transmits: impl Iterator<Item = Transmit>) -> Vec<MessageKind> {
    transmits.map(|t| t.msg.kind()).collect()
}

#[test]
fn registers_and_builds_the_holdings_from_the_ack() {
    let mut peer = registering(false);
    let register = peer.poll_transmit().unwrap();
    assert_eq!(register.to, TRACKER);
    assert!(matches!(&register.msg, Message::Register(r) if r.owned[0].name == "a"));
    let t = Duration::ZERO;
    peer.handle_message(t, TRACKER, ack(1, vec![Some(FileId(5))]))
        .unwrap();
    let Some(RegistrationEvent::Registered(sides)) = peer.poll_event() else {
        panic!("registered");
    };
    let holdings = sides.download.holdings();
    assert!(holdings.get(FileId(0)).is_some_and(|f| f.is_complete()));
    assert!(holdings.get(FileId(5)).is_some_and(|f| f.name == "b"));
    assert_eq!(sides.download.wanted(), 1);
    assert_eq!(
        sides.download.sent().to_counts().get(MessageKind::Register),
        1
    );
    assert!(peer.poll_transmit().is_none());
}

#[test]
fn an_ack_that_does_not_fit_the_registration_is_reported() {
    for bad in [
        ack(2, vec![None]),
        ack(1, vec![]),
        Message::Terminate,
        Message::AllFilesCompleted,
    ] {
        let mut peer = registering(false);
        peer.poll_transmit();
        let err = peer
            .handle_message(Duration::ZERO, TRACKER, bad)
            .unwrap_err();
        assert!(err.0.starts_with("rank 2"), "{err}");
        let abort = peer.poll_transmit().unwrap();
        let Message::Abort { reason } = abort.msg else {
            panic!("the tracker is told");
        };
        assert_eq!(reason, format!("protocol error: {}", err.0));
        assert!(peer.waits_for_abort());
        assert!(peer.poll_event().is_none());
    }
    let mut peer = registering(false);
    let from_a_peer = peer.handle_message(Duration::ZERO, Rank(3), ack(1, vec![None]));
    assert!(from_a_peer.unwrap_err().0.contains("from rank 3"));
}

#[test]
fn a_peer_unable_to_read_its_input_asks_for_an_abort_and_waits_for_it() {
    let mut peer = Registering::unable(config(4, false), "rank 4: in4.txt line 1: bad".into());
    assert!(peer.waits_for_abort());
    assert_eq!(
        kinds(std::iter::from_fn(|| peer.poll_transmit())),
        [MessageKind::Abort]
    );
    // Anything before the abort is ignored; the abort ends it.
    peer.handle_message(Duration::ZERO, TRACKER, ack(0, vec![]))
        .unwrap();
    assert!(peer.poll_event().is_none());
    let reason = "rank 4: in4.txt line 1: bad".to_string();
    let abort = Message::Abort {
        reason: reason.clone(),
    };
    peer.handle_message(Duration::ZERO, TRACKER, abort).unwrap();
    assert!(
        matches!(peer.poll_event(), Some(RegistrationEvent::Aborted { reason: r }) if r == reason)
    );
}

/// A one-thread peer (rank 2, as [`registering`]) taken through a whole
/// run: `c` (1 segment) downloaded from rank 3, then TERMINATE.
fn run_to_the_end(leaves: bool) -> (Peer, Vec<Transmit>) {
    let registration = Registration {
        owned: vec![listing("a", 2)],
        wanted: vec!["c".into()],
        ..Registration::default()
    };
    let mut peer = Peer::new(registration, config(2, leaves), Holdings::new());
    let t = Duration::ZERO;
    let mut sent = Vec::new();
    let mut feed = |peer: &mut Peer, from: Rank, channel: Channel, msg: Message| {
        peer.handle_message(t, from, channel, msg).unwrap();
        sent.extend(std::iter::from_fn(|| peer.poll_transmit()));
    };
    feed(&mut peer, TRACKER, Channel::Control, ack(1, vec![]));
    assert_eq!(peer.poll_event(), Some(PeerEvent::Registered));
    peer.start_downloads(t);
    let reply = Message::SwarmReply {
        file: FileId(1),
        hashes: vec!["c0".into()],
        owners: vec![Owner {
            rank: Rank(3),
            seed: true,
            held: 1,
            load: 0,
        }],
        hints: vec![],
    };
    feed(&mut peer, TRACKER, Channel::Download, reply);
    let segment = Message::SegmentAck {
        file: FileId(1),
        index: 0,
        payload: Default::default(),
    };
    feed(&mut peer, Rank(3), Channel::Download, segment);
    let request = Message::SegmentRequest {
        file: FileId(0),
        index: 1,
    };
    feed(&mut peer, Rank(3), Channel::Upload, request);
    feed(&mut peer, TRACKER, Channel::Upload, Message::Terminate);
    (peer, sent)
}

#[test]
fn a_whole_run_counts_everything_it_sent_in_its_stats() {
    let (mut peer, sent) = run_to_the_end(false);
    let events: Vec<PeerEvent> = std::iter::from_fn(|| peer.poll_event()).collect();
    assert!(events
        .iter()
        .any(|e| matches!(e, PeerEvent::Serve(s) if s.to == Rank(3))));
    assert!(events.contains(&PeerEvent::Download(DownloadEvent::Finished)));
    assert_eq!(events.last(), Some(&PeerEvent::Terminated));
    assert!(peer.is_stopped());
    assert!(peer.download().unwrap().downloaded(FileId(1)));
    assert!(!peer.download().unwrap().downloaded(FileId(0)));
    let Some(Transmit {
        to: TRACKER,
        msg: Message::Stats(stats),
    }) = sent.last()
    else {
        panic!("STATS last: {sent:?}");
    };
    let mut expected = crate::stats::MessageCounts::default();
    // REGISTER and the STATS were sent outside `sent`, the ACK as an event.
    for kind in kinds(sent.iter().cloned()) {
        expected.add(kind);
    }
    expected.add(MessageKind::Register);
    expected.add(MessageKind::SegmentAck);
    assert_eq!(stats.messages_sent, expected);
    assert_eq!(stats.uploads.len(), 1);
    assert_eq!(stats.downloads.len(), 1);
    assert!(!kinds(sent.into_iter()).contains(&MessageKind::Leave));
}

#[test]
fn a_leaving_peer_leaves_the_files_it_downloaded_only() {
    let (peer, sent) = run_to_the_end(true);
    let leaves: Vec<&Transmit> = sent
        .iter()
        .filter(|t| t.msg.kind() == MessageKind::Leave)
        .collect();
    assert_eq!(leaves.len(), 1);
    assert_eq!(leaves[0].msg, Message::Leave { file: FileId(1) });
    let holdings = peer.holdings().unwrap();
    assert!(holdings.get(FileId(1)).is_none(), "its segments went");
    assert!(holdings.get(FileId(0)).is_some(), "what it owned stays");
    // After the download side's own messages.
    let after = sent
        .iter()
        .position(|t| t.msg.kind() == MessageKind::AllFilesCompleted);
    assert!(after < sent.iter().position(|t| t.msg.kind() == MessageKind::Leave));
}

/// Why `peer` refuses `msg` from rank 3 on `channel` (it must).
fn refusal(peer: &mut Peer, channel: Channel, msg: Message) -> String {
    let refused = peer.handle_message(Duration::ZERO, Rank(3), channel, msg);
    refused.unwrap_err().0
}

#[test]
fn a_peer_refuses_messages_before_its_ack_and_before_its_downloads() {
    let mut peer = Peer::new(Registration::default(), config(2, false), Holdings::new());
    let (file, index) = (FileId(0), 0);
    let err = refusal(
        &mut peer,
        Channel::Upload,
        Message::SegmentRequest { file, index },
    );
    assert!(err.contains("before its REGISTER_ACK"), "{err}");
    peer.handle_message(Duration::ZERO, TRACKER, Channel::Control, ack(0, vec![]))
        .unwrap();
    let err = refusal(
        &mut peer,
        Channel::Download,
        Message::SegmentNack { file, index },
    );
    assert!(err.contains("before its download side started"), "{err}");
}

#[test]
fn a_failed_download_side_sends_only_its_abort() {
    let mut peer = registering(false);
    peer.poll_transmit();
    peer.handle_message(Duration::ZERO, TRACKER, ack(1, vec![None]))
        .unwrap();
    let Some(RegistrationEvent::Registered(sides)) = peer.poll_event() else {
        panic!("registered");
    };
    let mut download = sides.download;
    download.start(Duration::ZERO);
    download.report_failure("rank 2: disk full".into());
    let sent = kinds(std::iter::from_fn(|| download.poll_transmit()));
    assert_eq!(sent, [MessageKind::Abort], "not the SWARM_REQUEST queued");
}
