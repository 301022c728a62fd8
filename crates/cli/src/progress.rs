//! Rank 0's live view of the swarm, on stderr: what is done out of the
//! total, the rate, the ETA and the peers finished, all from what the
//! tracker knows (its [`Progress`], handed over by the tracker loop every
//! 100 ms). A `share` counts in MiB (its segments have a size: the bytes
//! each rank lacks come with the progress) and names the slowest rank
//! still downloading and its node; a classic swarm counts segments.
//!
//! In a terminal it is an `indicatif` bar. Anywhere else (a file, a pipe,
//! mpirun forwarding rank 0's stderr, a batch scheduler's log) it is a
//! plain line every `--progress-interval` seconds, with no control
//! characters. `--quiet` shows nothing.

use crate::logging;
use indicatif::{HumanCount, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mpitorrent_core::escape::shown;
use mpitorrent_core::tracker::Progress;
use mpitorrent_net::share::progress::RankBytes;
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// The rate is measured over this much recent time: long enough to smooth
/// the 10-segment steps of the updates, short enough to follow the swarm
/// as it speeds up.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// How the progress is shown.
enum View {
    Hidden,
    /// A bar, drawn once the first progress arrives.
    Bar(Option<ProgressBar>),
    /// A plain line every `every`, the next one at `next`.
    Lines {
        every: Duration,
        next: Instant,
    },
}

/// The display; the tracker loop feeds it through [`ProgressDisplay::observe`].
pub struct ProgressDisplay {
    view: View,
    started: Instant,
    /// Of segments, or of bytes in a `share`.
    rate: RateEstimate,
    ranks: Vec<RankTrack>,
}

impl ProgressDisplay {
    /// A display on stderr: a bar in a terminal, else lines every
    /// `interval`; nothing at all if `quiet`.
    pub fn new(quiet: bool, interval: Duration) -> Self {
        let view = if quiet {
            View::Hidden
        } else if std::io::stderr().is_terminal() {
            View::Bar(None)
        } else {
            View::Lines {
                every: interval,
                next: Instant::now() + interval,
            }
        };
        ProgressDisplay {
            view,
            started: Instant::now(),
            rate: RateEstimate::default(),
            ranks: Vec::new(),
        }
    }

    /// A display that shows nothing (for ranks other than 0).
    pub fn hidden() -> Self {
        ProgressDisplay::new(true, Duration::ZERO)
    }

    /// Takes the tracker's latest progress and (in a `share`) the bytes
    /// each peer rank still lacks.
    pub fn observe(&mut self, progress: &Progress, ranks: &[RankBytes]) {
        let now = Instant::now();
        let elapsed = now - self.started;
        let bytes = (!ranks.is_empty()).then(|| self.bytes(elapsed, ranks));
        let (done, total) = match &bytes {
            Some(bytes) => (bytes.done, bytes.total),
            None => (progress.segments_done, progress.segments_total),
        };
        self.rate.add(elapsed, done);
        let status = Status {
            progress: *progress,
            per_second: self.rate.per_second(),
            bytes,
        };
        match &mut self.view {
            View::Hidden => {}
            View::Bar(bar) => {
                let bar = bar.get_or_insert_with(|| new_bar(status.bytes.is_some()));
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(status.details());
            }
            View::Lines { every, next } => {
                if now >= *next {
                    *next = now + *every;
                    let line = format!(
                        "mpitorrent: {:.1} s: {}\n",
                        elapsed.as_secs_f64(),
                        status.line()
                    );
                    // A lost progress line is no reason to stop a swarm.
                    let _ = std::io::stderr().write_all(line.as_bytes());
                }
            }
        }
    }

    /// The bytes done and to do, and the slowest rank still downloading.
    /// A rank's total is the most it was seen to lack: what it lacked when
    /// every peer had registered (the tracker loop shows that moment).
    fn bytes(&mut self, elapsed: Duration, ranks: &[RankBytes]) -> ByteStatus {
        if self.ranks.len() < ranks.len() {
            self.ranks.resize_with(ranks.len(), RankTrack::default);
        }
        let mut status = ByteStatus::default();
        for (track, rank) in self.ranks.iter_mut().zip(ranks) {
            track.total = track.total.max(rank.missing);
            let done = track.total - rank.missing;
            track.rate.add(elapsed, done);
            (status.done, status.total) = (status.done + done, status.total + track.total);
            if rank.missing == 0 {
                continue;
            }
            let per_second = track.rate.over_window().unwrap_or(0.0);
            if status
                .slowest
                .as_ref()
                .is_none_or(|s| per_second < s.per_second)
            {
                status.slowest = Some(Slowest {
                    rank: rank.rank.0,
                    node: shown(rank.node).into_owned(),
                    per_second,
                });
            }
        }
        status
    }

    /// Takes the bar off the screen, before the summary is printed.
    pub fn finish(&mut self) {
        if let View::Bar(Some(bar)) = &self.view {
            bar.finish_and_clear();
            logging::set_active_bar(None);
        }
    }
}

/// A bar counting bytes (`share`) or segments.
fn new_bar(bytes: bool) -> ProgressBar {
    let counts = match bytes {
        true => "{binary_bytes}/{binary_total_bytes}",
        false => "{human_pos}/{human_len} segments",
    };
    let template =
        format!("{{spinner}} {{elapsed:>4}} [{{wide_bar}}] {counts} {{percent:>3}}% · {{msg}}");
    let style = ProgressStyle::with_template(&template)
        .expect("a valid progress template")
        .progress_chars("=> ");
    let bar =
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(style);
    logging::set_active_bar(Some(bar.clone()));
    bar
}

/// One peer rank's bytes, followed over the run.
#[derive(Default)]
struct RankTrack {
    /// The most it was seen to lack.
    total: u64,
    /// Of its bytes done.
    rate: RateEstimate,
}

/// A `share`'s progress in bytes.
#[derive(Default)]
struct ByteStatus {
    done: u64,
    total: u64,
    slowest: Option<Slowest>,
}

/// The rank still downloading with the lowest rate.
struct Slowest {
    rank: u32,
    /// Escaped (a peer named it).
    node: String,
    /// Bytes per second over the last [`RATE_WINDOW`].
    per_second: f64,
}

/// What one progress report says, worded for the bar or for a line.
struct Status {
    progress: Progress,
    /// Of segments, or of bytes with `bytes`.
    per_second: Option<f64>,
    bytes: Option<ByteStatus>,
}

/// Bytes as MiB, one decimal.
fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / (1024.0 * 1024.0))
}

impl Status {
    /// The plain line (after "mpitorrent: <elapsed>: ").
    fn line(&self) -> String {
        let (done, total) = self.done_total();
        let percent = if total == 0 {
            0.0
        } else {
            100.0 * done as f64 / total as f64
        };
        let counts = match self.bytes {
            Some(_) => format!("{} of {} MiB", mib(done as f64), mib(total as f64)),
            None => format!("{} of {} segments", HumanCount(done), HumanCount(total)),
        };
        format!("{counts} ({percent:.1}%); {}", self.details())
    }

    /// Bytes (`share`) or segments: done and in all.
    fn done_total(&self) -> (u64, u64) {
        match &self.bytes {
            Some(bytes) => (bytes.done, bytes.total),
            None => (self.progress.segments_done, self.progress.segments_total),
        }
    }

    /// Rate, ETA, the slowest rank and peers: what the bar does not draw
    /// itself.
    fn details(&self) -> String {
        let p = &self.progress;
        let mut details = String::new();
        let (done, total) = self.done_total();
        if let Some(rate) = self.per_second.filter(|rate| *rate > 0.0) {
            let eta = Duration::from_secs_f64(total.saturating_sub(done) as f64 / rate);
            let rate = match self.bytes {
                Some(_) => format!("{} MiB/s", mib(rate)),
                None => format!("{} segments/s", HumanCount(rate.round() as u64)),
            };
            details += &format!("{rate}, ETA {}; ", HumanDuration(eta));
        }
        if let Some(slowest) = self.bytes.as_ref().and_then(|b| b.slowest.as_ref()) {
            let node = match slowest.node.as_str() {
                "" => String::new(),
                node => format!(" on {node}"),
            };
            details += &format!(
                "slowest rank {}{node} at {} MiB/s; ",
                slowest.rank,
                mib(slowest.per_second)
            );
        }
        details + &format!("{} of {} peers done", p.peers_done, p.peers)
    }
}

/// Segments per second over the last [`RATE_WINDOW`].
#[derive(Default)]
struct RateEstimate {
    /// (time, segments done), oldest first, spanning about the window.
    samples: VecDeque<(Duration, u64)>,
}

impl RateEstimate {
    fn add(&mut self, at: Duration, done: u64) {
        self.samples.push_back((at, done));
        // Keep one sample older than the window, so the window is covered.
        while self.samples.len() > 2 && at.saturating_sub(self.samples[1].0) >= RATE_WINDOW {
            self.samples.pop_front();
        }
    }

    /// None until some time passed or while nothing has been reported.
    fn per_second(&self) -> Option<f64> {
        let done = self.samples.back()?.1;
        self.over_window().filter(|_| done > 0)
    }

    /// The rate over the window, 0 if nothing was done in it; None until
    /// some time passed.
    fn over_window(&self) -> Option<f64> {
        let (&(t0, d0), &(t1, d1)) = (self.samples.front()?, self.samples.back()?);
        let seconds = (t1 - t0).as_secs_f64();
        (seconds > 0.0).then(|| d1.saturating_sub(d0) as f64 / seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    #[test]
    fn the_rate_follows_the_recent_window() {
        let mut rate = RateEstimate::default();
        assert_eq!(rate.per_second(), None);
        rate.add(at(0), 0);
        rate.add(at(1), 0);
        assert_eq!(rate.per_second(), None, "nothing reported yet");
        for s in 2..=30 {
            rate.add(at(s), 100 * (s - 1));
        }
        // 100 segments a second, then twice as fast: the window forgets
        // the slow start.
        for s in 31..=50 {
            rate.add(at(s), 2900 + 200 * (s - 30));
        }
        let per_second = rate.per_second().unwrap();
        assert!((per_second - 200.0).abs() < 1e-9, "{per_second}");
        assert!(rate.samples.len() <= 12);
    }

    #[test]
    fn a_share_line_says_mib_rate_eta_and_the_slowest_rank_and_node() {
        let mut display = ProgressDisplay::hidden();
        let rank = |rank, missing| RankBytes {
            rank: mpitorrent_core::Rank(rank),
            node: if rank == 3 { "n\x1b2" } else { "n1" },
            missing,
        };
        let mib = 1 << 20;
        // At the ACK: rank 1 seeds, ranks 2 and 3 lack 8 MiB each.
        let at_ack = display.bytes(at(0), &[rank(1, 0), rank(2, 8 * mib), rank(3, 8 * mib)]);
        assert_eq!((at_ack.done, at_ack.total), (0, 16 * mib));
        let later = [rank(1, 0), rank(2, 2 * mib), rank(3, 7 * mib)];
        let status = Status {
            progress: Progress {
                segments_done: 7,
                segments_total: 16,
                peers_done: 1,
                peers: 3,
            },
            per_second: Some(3.5 * mib as f64),
            bytes: Some(display.bytes(at(2), &later)),
        };
        assert_eq!(
            status.line(),
            "7.0 of 16.0 MiB (43.8%); 3.5 MiB/s, ETA 3 seconds; \
             slowest rank 3 on n\\x1b2 at 0.5 MiB/s; 1 of 3 peers done"
        );
        let done = display.bytes(at(3), &[rank(1, 0), rank(2, 0), rank(3, 0)]);
        assert_eq!((done.done, done.total), (16 * mib, 16 * mib));
        assert!(done.slowest.is_none(), "nobody is downloading");
    }

    #[test]
    fn a_line_says_done_total_rate_eta_and_peers() {
        let status = Status {
            progress: Progress {
                segments_done: 1_500,
                segments_total: 6_000,
                peers_done: 3,
                peers: 15,
            },
            per_second: Some(1_500.0),
            bytes: None,
        };
        assert_eq!(
            status.line(),
            "1,500 of 6,000 segments (25.0%); 1,500 segments/s, ETA 3 seconds; \
             3 of 15 peers done"
        );
        let starting = Status {
            progress: Progress {
                peers: 15,
                ..Progress::default()
            },
            per_second: None,
            bytes: None,
        };
        assert_eq!(
            starting.line(),
            "0 of 0 segments (0.0%); 0 of 15 peers done"
        );
    }
}
