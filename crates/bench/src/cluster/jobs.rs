//! Running one job on the emulated cluster (`scripts/cluster.sh`) and
//! measuring it as a whole: wall time from start to end, and the CPU time
//! of every process it started on every node. The nodes are network
//! namespaces of this machine, so every process of a job (mpirun, the ssh
//! stand-in, each node's MPI daemon and ranks, an HTTP server and its
//! clients) is a descendant of this one: `getrusage(RUSAGE_CHILDREN)` after
//! it was waited for counts all of them.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wait_timeout::ChildExt;

/// Lines of a log shown when a job fails.
const LOG_TAIL_LINES: usize = 12;

/// What one job cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cost {
    pub wall: Duration,
    /// User plus system time of every process of the job.
    pub cpu: Duration,
}

/// The emulated cluster's script, and where job logs go.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub script: PathBuf,
    /// The prefix of its namespaces (`MPITORRENT_CLUSTER`).
    pub prefix: String,
    pub logs: PathBuf,
    pub timeout: Duration,
}

impl Cluster {
    /// `cluster.sh ARGS...` as a command, its output to `log`.
    fn command(&self, args: &[OsString], log: &str) -> Result<(Command, PathBuf)> {
        let path = self.logs.join(format!("{log}.log"));
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut command = Command::new("bash");
        command
            .arg(&self.script)
            .args(args)
            .env("MPITORRENT_CLUSTER", &self.prefix)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            // Its own process group, so that a kill reaches every process
            // it started (see `stop`).
            .process_group(0);
        Ok((command, path))
    }

    /// Runs `cluster.sh ARGS...` to its end; fails on a non-zero exit or
    /// after the time limit, quoting the log.
    pub fn run(&self, args: &[OsString], log: &str) -> Result<Cost> {
        let (mut command, path) = self.command(args, log)?;
        let before = children_cpu();
        let start = Instant::now();
        let mut child = command.spawn().context("cannot start scripts/cluster.sh")?;
        let status = child.wait_timeout(self.timeout)?;
        let wall = start.elapsed();
        match status {
            Some(status) if status.success() => Ok(Cost {
                wall,
                cpu: children_cpu().saturating_sub(before),
            }),
            Some(status) => bail!("{log}: exited with {status}{}", tail(&path)),
            None => {
                stop(&mut child);
                bail!(
                    "{log}: killed after {} s (--timeout){}",
                    self.timeout.as_secs(),
                    tail(&path)
                )
            }
        }
    }

    /// Starts `cluster.sh ARGS...` in the background (a server).
    pub fn spawn(&self, args: &[OsString], log: &str) -> Result<Background> {
        let (mut command, log) = self.command(args, log)?;
        let child = command.spawn().context("cannot start scripts/cluster.sh")?;
        Ok(Background { child, log })
    }
}

/// A process started with [`Cluster::spawn`]; ended (and waited for, so
/// its CPU time is counted) when dropped.
pub struct Background {
    child: Child,
    log: PathBuf,
}

impl Background {
    /// The end of its log, for an error message.
    pub fn tail(&self) -> String {
        tail(&self.log)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Ends `child`'s whole process group (SIGTERM, then SIGKILL after a
/// moment) and waits for it.
fn stop(child: &mut Child) {
    let group = -(child.id() as i32);
    // SAFETY: kill(2) on a process group this program created.
    unsafe { libc::kill(group, libc::SIGTERM) };
    if let Ok(None) = child.wait_timeout(Duration::from_secs(3)) {
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
    }
    child.wait().ok();
}

/// User plus system time of every waited-for descendant so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The last lines of a log, indented, or nothing.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    match tail.is_empty() {
        true => String::new(),
        false => format!("; its output ends:\n    {}", tail.join("\n    ")),
    }
}

/// `OsString`s from anything path- or string-like.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    items.into_iter().map(Into::into).collect()
}
