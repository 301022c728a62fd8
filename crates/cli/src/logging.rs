//! Logging through `tracing`, on stderr.
//!
//! Warnings only by default; `-v` adds info and `-vv` debug, and `RUST_LOG`
//! (e.g. `RUST_LOG=mpitorrent_net=debug`) overrides both. The drivers open
//! a span per thread (`tracker`, `peer`, `download`, `upload`) with the
//! rank as a field, so every line says who wrote it:
//!
//! ```text
//! 2026-01-01T12:00:00.123456Z  INFO download{rank=3}: wrote client3_file1
//! ```
//!
//! While the progress bar is on screen, log lines are written with the bar
//! hidden for a moment, so the two never garble each other.

use indicatif::ProgressBar;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The bar on screen, if any: log lines must step around it.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Installs the global subscriber for `-v` given `verbosity` times.
pub fn init(verbosity: u8) {
    let default = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colours only for a person: a file or a pipe gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(BarAwareStderr)
        .init();
}

/// Tells log lines to step around `bar` while it is on screen (`None` once
/// it is gone).
pub fn set_active_bar(bar: Option<ProgressBar>) {
    *ACTIVE_BAR.lock().unwrap_or_else(|e| e.into_inner()) = bar;
}

/// Stderr, with the progress bar (if any) hidden while a line is written.
struct BarAwareStderr;

/// One log line, buffered so that it is written whole.
struct LogLine(Vec<u8>);

impl<'a> MakeWriter<'a> for BarAwareStderr {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let write = || {
            // Nowhere to report a failed write of a log line.
            let _ = std::io::stderr().write_all(&self.0);
        };
        match &*ACTIVE_BAR.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}
