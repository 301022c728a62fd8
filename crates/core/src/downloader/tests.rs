//! Unit tests of the download state machine, fed by hand.

use super::*;
use crate::content::hash_segment;
use crate::strategy::{HintRequest, Strategy};

const T0: Duration = Duration::ZERO;

fn downloader(rank: u32, wanted: &[&str], window: u32) -> (Downloader, Arc<Holdings>) {
    let holdings = Arc::new(Holdings::new());
    let wanted = wanted.iter().map(|w| w.to_string()).collect();
    let config = DownloaderConfig {
        window,
        ..DownloaderConfig::classic(Rank(rank), wanted)
    };
    (Downloader::new(config, Arc::clone(&holdings)), holdings)
}

/// A started downloader of `strategy` wanting one file "f", as rank 1.
pub(crate) fn started(strategy: Strategy, window: u32) -> Downloader {
    let config = DownloaderConfig {
        strategy,
        window,
        ..DownloaderConfig::classic(Rank(1), vec!["f".into()])
    };
    let mut d = Downloader::new(config, Arc::new(Holdings::new()));
    d.start(T0);
    d
}

pub(crate) fn drain(d: &mut Downloader) -> Vec<Transmit> {
    std::iter::from_fn(|| d.poll_transmit()).collect()
}

pub(crate) fn seeds(ranks: &[u32]) -> Vec<Owner> {
    ranks
        .iter()
        .map(|&r| Owner {
            rank: Rank(r),
            seed: true,
            held: 1,
            load: 0,
        })
        .collect()
}

pub(crate) fn hashes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("h{i}")).collect()
}

fn reply(d: &mut Downloader, file: u32, segments: usize, owners: &[u32]) {
    let msg = Message::SwarmReply {
        file: FileId(file),
        hashes: hashes(segments),
        owners: seeds(owners),
        hints: vec![],
    };
    d.handle_message(T0, TRACKER, msg).unwrap();
}

fn ack(d: &mut Downloader, from: u32, file: u32, index: u32) -> Result<(), ProtocolError> {
    let msg = Message::SegmentAck {
        file: FileId(file),
        index,
        payload: Payload::default(),
    };
    d.handle_message(T0, Rank(from), msg)
}

#[test]
fn nothing_wanted_finishes_at_once() {
    let (mut d, _) = downloader(1, &[], 1);
    d.start(T0);
    assert_eq!(drain(&mut d)[0].msg, Message::AllFilesCompleted);
    assert_eq!(d.poll_event(), Some(DownloadEvent::Finished));
    assert!(d.is_finished());
}

#[test]
fn requests_round_robin_and_updates_every_ten() {
    let (mut d, holdings) = downloader(1, &["f"], 1);
    d.start(T0);
    assert_eq!(
        drain(&mut d)[0].msg,
        Message::SwarmRequest {
            name: "f".into(),
            hints: HintRequest::NONE
        }
    );
    reply(&mut d, 0, 12, &[2, 3, 4]);
    let mut targets = Vec::new();
    for index in 0..12 {
        let sent = drain(&mut d);
        let request = sent
            .iter()
            .find(|t| matches!(t.msg, Message::SegmentRequest { .. }))
            .unwrap();
        assert_eq!(
            request.msg,
            Message::SegmentRequest {
                file: FileId(0),
                index
            }
        );
        targets.push(request.to.0);
        if index == 10 {
            let received = targets.iter().enumerate().take(10);
            let received = received.map(|(i, &r)| (i as u32, Rank(r))).collect();
            let update = Message::PeerUpdate {
                file: FileId(0),
                received,
                hints: HintRequest::NONE,
            };
            assert!(sent.iter().any(|t| t.msg == update));
        }
        ack(&mut d, request.to.0, 0, index).unwrap();
    }
    // Rank 1 starts at owner 1 % 3 and goes round.
    assert_eq!(targets, vec![3, 4, 2, 3, 4, 2, 3, 4, 2, 3, 4, 2]);
    let sent = drain(&mut d);
    let tail = vec![(10, Rank(4)), (11, Rank(2))];
    assert_eq!(
        sent[0].msg,
        Message::FileCompleted {
            file: FileId(0),
            received: tail
        }
    );
    assert_eq!(sent[1].msg, Message::AllFilesCompleted);
    assert_eq!(d.stats().received.total(), 12);
    match d.poll_event() {
        Some(DownloadEvent::FileCompleted { file }) => assert!(file.is_complete()),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.poll_event(), Some(DownloadEvent::Finished));
    assert!(holdings.has(FileId(0), 11));
}

#[test]
fn a_nack_tries_the_next_owner() {
    let (mut d, _) = downloader(2, &["f"], 1);
    d.start(T0);
    drain(&mut d);
    reply(&mut d, 0, 1, &[3, 4]);
    let first = drain(&mut d).pop().unwrap();
    assert_eq!(first.to, Rank(3));
    let nack = Message::SegmentNack {
        file: FileId(0),
        index: 0,
    };
    d.handle_message(T0, Rank(3), nack).unwrap();
    let retry = drain(&mut d).pop().unwrap();
    assert_eq!(retry.to, Rank(4));
    assert!(
        ack(&mut d, 3, 0, 0).is_err(),
        "rank 3 no longer has the request"
    );
    ack(&mut d, 4, 0, 0).unwrap();
    assert!(d.is_finished());
}

#[test]
fn endless_nacks_are_a_protocol_error() {
    let (mut d, _) = downloader(2, &["f"], 1);
    d.start(T0);
    reply(&mut d, 0, 1, &[3]);
    let nack = Message::SegmentNack {
        file: FileId(0),
        index: 0,
    };
    let results: Vec<_> = (0..5)
        .map(|_| d.handle_message(T0, Rank(3), nack.clone()))
        .collect();
    assert!(results.iter().any(Result::is_err));
}

#[test]
fn a_window_keeps_several_requests_out() {
    let (mut d, _) = downloader(1, &["f"], 4);
    d.start(T0);
    drain(&mut d);
    reply(&mut d, 0, 10, &[2, 3]);
    let sent = drain(&mut d);
    assert_eq!(sent.len(), 4);
    let to: Vec<u32> = sent.iter().map(|t| t.to.0).collect();
    assert_eq!(to, vec![3, 2, 3, 2]);
}

#[test]
fn an_owned_wanted_file_completes_without_download() {
    let (mut d, holdings) = downloader(1, &["mine"], 1);
    holdings.add_complete(FileId(5), "mine".into(), hashes(3));
    d.start(T0);
    assert_eq!(drain(&mut d)[0].msg, Message::AllFilesCompleted);
    assert!(matches!(
        d.poll_event(),
        Some(DownloadEvent::FileCompleted { file }) if file.name == "mine"
    ));
}

#[test]
fn an_empty_wanted_file_completes_on_its_swarm_reply() {
    let (mut d, _) = downloader(1, &["empty"], 1);
    d.start(T0);
    drain(&mut d);
    reply(&mut d, 0, 0, &[2]);
    let sent = drain(&mut d);
    assert!(matches!(
        sent[0].msg,
        Message::FileCompleted {
            file: FileId(0),
            ..
        }
    ));
    assert!(d.is_finished());
}

#[test]
fn unrequested_answers_are_protocol_errors() {
    let (mut d, _) = downloader(1, &["f"], 1);
    d.start(T0);
    assert!(ack(&mut d, 2, 0, 0).is_err());
    assert!(d.handle_message(T0, Rank(2), Message::Terminate).is_err());
}

/// A verifying downloader for one file of real bytes, with its swarm reply
/// handled; returns it and the segments' bytes.
fn verifying(window: u32) -> (Downloader, Vec<Vec<u8>>) {
    let holdings = Arc::new(Holdings::new());
    let config = DownloaderConfig {
        verify: true,
        window,
        ..DownloaderConfig::classic(Rank(1), vec!["f".into()])
    };
    let mut d = Downloader::new(config, holdings);
    d.start(T0);
    drain(&mut d);
    let segments: Vec<Vec<u8>> = vec![b"first".to_vec(), b"second".to_vec()];
    let msg = Message::SwarmReply {
        file: FileId(0),
        hashes: segments.iter().map(|s| hash_segment(s)).collect(),
        owners: seeds(&[2, 3]),
        hints: vec![],
    };
    d.handle_message(T0, TRACKER, msg).unwrap();
    (d, segments)
}

fn ack_with(d: &mut Downloader, from: u32, index: u32, payload: &[u8]) {
    let msg = Message::SegmentAck {
        file: FileId(0),
        index,
        payload: payload.to_vec().into(),
    };
    d.handle_message(T0, Rank(from), msg).unwrap();
}

#[test]
fn bad_bytes_are_thrown_away_and_asked_of_the_next_owner() {
    let (mut d, segments) = verifying(1);
    let first = drain(&mut d).pop().unwrap();
    assert_eq!(first.to, Rank(3));
    ack_with(&mut d, 3, 0, b"forged");
    assert_eq!(d.stats().corrupt_received, 1);
    let retry = drain(&mut d).pop().unwrap();
    assert_eq!(retry.to, Rank(2));
    assert!(d.poll_event().is_none(), "nothing to store yet");
    ack_with(&mut d, 2, 0, &segments[0]);
    match d.poll_event() {
        Some(DownloadEvent::Received {
            index,
            payload,
            file,
        }) => {
            assert_eq!((index, payload), (0, segments[0].clone().into()));
            assert!(!file.has(0), "held only once stored");
        }
        other => panic!("{other:?}"),
    }
    d.segment_stored(T0, FileId(0), 0).unwrap();
    assert!(d.segment_stored(T0, FileId(0), 0).is_err(), "stored twice");
}

#[test]
fn a_segment_being_stored_is_not_requested_again() {
    let (mut d, segments) = verifying(4);
    let sent = drain(&mut d);
    assert_eq!(sent.len(), 2);
    ack_with(&mut d, sent[0].to.0, 0, &segments[0]);
    assert!(
        drain(&mut d).is_empty(),
        "segment 0 is being stored, 1 is in flight"
    );
    ack_with(&mut d, sent[1].to.0, 1, &segments[1]);
    d.segment_stored(T0, FileId(0), 1).unwrap();
    d.segment_stored(T0, FileId(0), 0).unwrap();
    let sent = drain(&mut d);
    assert!(matches!(sent[0].msg, Message::FileCompleted { .. }));
    assert!(d.is_finished());
}
