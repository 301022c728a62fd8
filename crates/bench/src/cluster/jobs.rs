//! Running one job on the emulated cluster (`scripts/cluster.sh`) and
//! measuring it as a whole: wall time from start to end, and the CPU time
//! of every process it started on every node. The nodes are network
//! namespaces of this machine, so every process of a job (mpirun, the ssh
//! stand-in, each node's MPI daemon and ranks, an HTTP server and its
//! clients) is a descendant of this one, and `getrusage(RUSAGE_CHILDREN)`
//! counts every descendant that was waited for. Not every one is waited
//! for by its parent: mpirun may end before its node daemons do, which
//! then pass to the nearest "subreaper". So this process is one
//! (`PR_SET_CHILD_SUBREAPER`), and after a job it waits for every orphan
//! the job left before it reads the counter.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
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

/// How long a job's orphans (node daemons that outlive mpirun) may take
/// to end after it.
const ORPHANS_GRACE: Duration = Duration::from_secs(10);

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
    /// after the time limit, quoting the log. Its CPU time is right only if
    /// no other job ran meanwhile (several at once: use one [`Meter`]
    /// around all of them).
    pub fn run(&self, args: &[OsString], log: &str) -> Result<Cost> {
        let (mut command, path) = self.command(args, log)?;
        let meter = Meter::start()?;
        let start = Instant::now();
        let mut child = Started::spawn(&mut command)?;
        let status = child.0.wait_timeout(self.timeout)?;
        let wall = start.elapsed();
        match status {
            Some(status) if status.success() => {
                drop(child);
                Ok(Cost {
                    wall,
                    cpu: meter.cpu(log)?,
                })
            }
            Some(status) => bail!("{log}: exited with {status}{}", tail(&path)),
            None => {
                stop(&mut child.0);
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
        let child = Started::spawn(&mut command)?;
        Ok(Background { child, log })
    }
}

/// The CPU time of every process started from now on, once each has ended.
pub struct Meter {
    before: Duration,
}

impl Meter {
    pub fn start() -> Result<Meter> {
        become_subreaper()?;
        Ok(Meter {
            before: children_cpu(),
        })
    }

    /// The CPU time since [`Meter::start`] of every process that ended,
    /// after waiting for the orphans of the jobs that ended (`what` names
    /// them in an error).
    pub fn cpu(&self, what: &str) -> Result<Duration> {
        wait_for_orphans(what)?;
        Ok(children_cpu().saturating_sub(self.before))
    }
}

/// A child this process started, listed in [`STARTED`] while it lives so
/// that [`wait_for_orphans`] leaves it alone.
struct Started(Child);

impl Started {
    fn spawn(command: &mut Command) -> Result<Started> {
        let child = command.spawn().context("cannot start scripts/cluster.sh")?;
        started().push(child.id() as i32);
        Ok(Started(child))
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        started().retain(|&p| p != pid);
    }
}

/// The children this process started itself and has not finished with.
static STARTED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn started() -> std::sync::MutexGuard<'static, Vec<i32>> {
    STARTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A process started with [`Cluster::spawn`]; ended (and waited for, so
/// its CPU time is counted) when dropped.
pub struct Background {
    child: Started,
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
        stop(&mut self.child.0);
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

/// Makes orphaned descendants of this process its children (instead of
/// init's), so that their CPU time can be counted.
fn become_subreaper() -> Result<()> {
    // SAFETY: prctl with an integer option and argument.
    let code = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if code != 0 {
        bail!(
            "cannot become a child subreaper: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Waits for the children this process did not start itself: orphans of
/// the jobs that ended (those it started are waited for where they are
/// started). Fails if they outlive [`ORPHANS_GRACE`].
fn wait_for_orphans(what: &str) -> Result<()> {
    let deadline = Instant::now() + ORPHANS_GRACE;
    loop {
        let orphans: Vec<i32> = children()
            .into_iter()
            .filter(|pid| !started().contains(pid))
            .collect();
        if orphans.is_empty() {
            return Ok(());
        }
        for &pid in &orphans {
            // SAFETY: waitpid on a child of this process, without blocking.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        }
        if Instant::now() >= deadline {
            bail!(
                "{what}: processes {orphans:?} were still running {} s after the job ended",
                ORPHANS_GRACE.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The children of this process (of every thread), from /proc.
fn children() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
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
