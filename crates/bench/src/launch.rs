//! Launching one MPI job and timing it: `mpirun [FLAGS] -np N PROGRAM
//! ARGS...` in a folder, with its output in a log file and a time limit.
//! The launcher is `mpirun` or the one `MPITORRENT_MPIRUN` names, with the
//! flags its MPI needs (Open MPI: `--oversubscribe --bind-to none`; see
//! `mpitorrent_net::launcher`). The wall time is the whole mpirun, launch
//! included, measured the same way for mpitorrent and for the floor.

use anyhow::{bail, Context, Result};
use mpitorrent_net::launcher::Launcher;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use wait_timeout::ChildExt;

/// Lines of the log shown when a job fails.
const LOG_TAIL_LINES: usize = 15;

/// One `mpirun` invocation.
#[derive(Debug)]
pub struct Job<'a> {
    pub np: u32,
    pub program: &'a Path,
    pub args: Vec<OsString>,
    /// The working folder of every rank.
    pub dir: &'a Path,
    /// Where the job's stdout and stderr go.
    pub log: PathBuf,
    pub timeout: Duration,
}

impl Job<'_> {
    /// Runs the job to its end and returns its wall time. A non-zero exit
    /// or a job over the time limit is an error that quotes the log's end.
    pub fn run(&self) -> Result<Duration> {
        let log = File::create(&self.log)
            .with_context(|| format!("cannot create {}", self.log.display()))?;
        let launcher = Launcher::global();
        let mut command = launcher.command(self.np);
        command
            .arg(self.program)
            .args(&self.args)
            .current_dir(self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let start = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (is MPI installed and on PATH? MPITORRENT_MPIRUN names another launcher)",
                    launcher.program.to_string_lossy()
                )
            })?;
        let status = child.wait_timeout(self.timeout)?;
        let wall = start.elapsed();
        match status {
            Some(status) if status.success() => Ok(wall),
            Some(status) => bail!(
                "{} exited with {status}{}",
                launcher.program.to_string_lossy(),
                self.log_tail()
            ),
            None => {
                // Killing mpirun makes it take its ranks down with it.
                child.kill().ok();
                child.wait().ok();
                bail!(
                    "killed after {} s (--timeout){}",
                    self.timeout.as_secs(),
                    self.log_tail()
                )
            }
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its output ends:\n    {}", tail.join("\n    "))
        }
    }
}
