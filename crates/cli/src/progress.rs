//! Rank 0's live view of the swarm, on stderr: segments done out of the
//! total, the rate, the ETA and the peers finished, all from what the
//! tracker knows (its [`Progress`], handed over by the tracker loop every
//! 100 ms).
//!
//! In a terminal it is an `indicatif` bar. Anywhere else (a file, a pipe,
//! mpirun forwarding rank 0's stderr, a batch scheduler's log) it is a
//! plain line every `--progress-interval` seconds, with no control
//! characters. `--quiet` shows nothing.

use crate::logging;
use indicatif::{HumanCount, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mpitorrent_core::tracker::Progress;
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
    rate: RateEstimate,
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
        }
    }

    /// A display that shows nothing (for ranks other than 0).
    pub fn hidden() -> Self {
        ProgressDisplay::new(true, Duration::ZERO)
    }

    /// Takes the tracker's latest progress.
    pub fn observe(&mut self, progress: &Progress) {
        let now = Instant::now();
        let elapsed = now - self.started;
        self.rate.add(elapsed, progress.segments_done);
        let status = Status {
            progress: *progress,
            per_second: self.rate.per_second(),
        };
        match &mut self.view {
            View::Hidden => {}
            View::Bar(bar) => {
                let bar = bar.get_or_insert_with(new_bar);
                bar.set_length(progress.segments_total);
                bar.set_position(progress.segments_done);
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

    /// Takes the bar off the screen, before the summary is printed.
    pub fn finish(&mut self) {
        if let View::Bar(Some(bar)) = &self.view {
            bar.finish_and_clear();
            logging::set_active_bar(None);
        }
    }
}

fn new_bar() -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed:>4} [{wide_bar}] {human_pos}/{human_len} segments {percent:>3}% · {msg}",
    )
    .expect("a valid progress template")
    .progress_chars("=> ");
    let bar =
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(style);
    logging::set_active_bar(Some(bar.clone()));
    bar
}

/// What one progress report says, worded for the bar or for a line.
struct Status {
    progress: Progress,
    per_second: Option<f64>,
}

impl Status {
    /// The plain line (after "mpitorrent: <elapsed>: ").
    fn line(&self) -> String {
        let p = &self.progress;
        let percent = if p.segments_total == 0 {
            0.0
        } else {
            100.0 * p.segments_done as f64 / p.segments_total as f64
        };
        format!(
            "{} of {} segments ({percent:.1}%); {}",
            HumanCount(p.segments_done),
            HumanCount(p.segments_total),
            self.details()
        )
    }

    /// Rate, ETA and peers: what the bar does not draw itself.
    fn details(&self) -> String {
        let p = &self.progress;
        let peers = format!("{} of {} peers done", p.peers_done, p.peers);
        let remaining = p.segments_total.saturating_sub(p.segments_done);
        match self.per_second {
            Some(rate) if rate > 0.0 => {
                let eta = Duration::from_secs_f64(remaining as f64 / rate);
                format!(
                    "{} segments/s, ETA {}; {peers}",
                    HumanCount(rate.round() as u64),
                    HumanDuration(eta)
                )
            }
            _ => peers,
        }
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
        let (&(t0, d0), &(t1, d1)) = (self.samples.front()?, self.samples.back()?);
        let seconds = (t1 - t0).as_secs_f64();
        (seconds > 0.0 && d1 > 0).then(|| d1.saturating_sub(d0) as f64 / seconds)
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
    fn a_line_says_done_total_rate_eta_and_peers() {
        let status = Status {
            progress: Progress {
                segments_done: 1_500,
                segments_total: 6_000,
                peers_done: 3,
                peers: 15,
            },
            per_second: Some(1_500.0),
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
        };
        assert_eq!(
            starting.line(),
            "0 of 0 segments (0.0%); 0 of 15 peers done"
        );
    }
}
