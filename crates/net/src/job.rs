//! One rank's part of a classic job, the same whatever the transport: rank
//! 0 runs the tracker, every other rank reads its `in<R>.txt` and runs a
//! peer. [`run_local_job`] runs every rank of a job as threads of this
//! process.

use crate::local::LocalNetwork;
use crate::output::OutputDir;
use crate::peer::{run_peer, PeerError, PeerOptions, PeerReport, PeerSetup};
use crate::share::early::EarlyScan;
use crate::share::job::ShareSpec;
use crate::share::plan::{plan_job, plan_peer, PlanError};
use crate::share::progress::RankBytes;
use crate::tracker_loop::{run_tracker, TrackerError};
use crate::{Endpoint, Fabric, TransportError};
use mpitorrent_core::classic::{input_file_name, output_file_name, parse_peer_input, PeerInput};
use mpitorrent_core::escape::shown_path;
use mpitorrent_core::tracker::{Progress, RunData, Tracker, TrackerConfig};
use mpitorrent_core::tree::RerunCounts;
use mpitorrent_core::{Rank, Registration};
use mpitorrent_fs::bounded::{read_text, PEER_INPUT};
use mpitorrent_fs::{Error as FsError, NAME_MAX};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything a rank needs to know about the job.
#[derive(Clone, Debug)]
pub struct JobConfig {
    /// Where `in<R>.txt` are read from.
    pub input_dir: PathBuf,
    /// Where `client<R>_<file>` are written.
    pub output_dir: PathBuf,
    pub peer: PeerOptions,
    /// Abort if the swarm makes no progress for this long.
    pub stall_timeout: Option<Duration>,
    /// The tracker's bound on owners per swarm answer.
    pub swarm_sample: Option<usize>,
    /// Share real files instead (`input_dir` and `output_dir` unused).
    pub share: Option<ShareSpec>,
    /// Why the job cannot work, found by rank 0 before it started (its
    /// `--report` or `--timeline` cannot be written): the tracker aborts
    /// the job with this message before any transfer.
    pub refuse: Option<String>,
}

/// How one rank's part of the job ended.
#[derive(Debug)]
pub enum RankOutcome {
    /// The tracker ends with the run's data, for the report (and, in a
    /// `share`, what the tree plan saved on a rerun).
    Tracker(Box<RunData>, Option<RerunCounts>),
    Peer(PeerReport),
}

/// Why one rank's part of the job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job was aborted. `reason` is the one message for the user, and
    /// `reporter` says whether this rank is the one that prints it (the
    /// tracker) or should stay quiet (a peer: the tracker prints it).
    #[error("{reason}")]
    Aborted { reason: String, reporter: bool },
    #[error("rank {rank}: {source}")]
    Transport {
        rank: Rank,
        #[source]
        source: TransportError,
    },
}

/// The tracker's progress observer, as the job functions take it (see
/// [`run_tracker`]); `Send` so that a local job can hand it to rank 0's
/// thread.
/// It gets the swarm's progress by segment and, in a `share` job, the bytes
/// each peer rank still lacks (empty in a classic job, whose segments have
/// no size).
pub type ObserveProgress<'a> = &'a mut (dyn FnMut(&Progress, &[RankBytes]) + Send);

/// Runs this rank's part of the job (tracker on rank 0, peer elsewhere).
/// On rank 0, `observe` follows the swarm's progress; peers never call it.
/// `early` is a `share` seeder's scan started before the transport was
/// ([`EarlyScan`]), used if it was started for this rank.
pub fn run_rank<F: Fabric>(
    fabric: &F,
    job: &JobConfig,
    early: Option<EarlyScan>,
    observe: ObserveProgress,
) -> Result<RankOutcome, JobError> {
    let endpoint = fabric.endpoint();
    let rank = endpoint.rank();
    let transport = |source| JobError::Transport { rank, source };
    let planned = |e: PlanError, reporter: bool| match e {
        PlanError::Aborted(reason) => JobError::Aborted { reason, reporter },
        PlanError::Transport(source) => JobError::Transport { rank, source },
    };
    if rank.is_tracker() {
        let (reruns, bytes) = match &job.share {
            Some(spec) => {
                let (counts, bytes) = plan_job(&endpoint, spec).map_err(|e| planned(e, true))?;
                (Some(counts), Some(bytes))
            }
            None => (None, None),
        };
        let mut observe_tracker = |tracker: &Tracker| {
            let ranks = bytes.as_ref().map(|b| b.missing(tracker));
            observe(&tracker.progress(), ranks.as_deref().unwrap_or_default())
        };
        let config = TrackerConfig {
            ranks: endpoint.size(),
            stall_timeout: job.stall_timeout,
            swarm_sample: job.swarm_sample,
            seed: job.peer.seed,
        };
        return match run_tracker(&endpoint, config, job.refuse.clone(), &mut observe_tracker) {
            Ok(data) => Ok(RankOutcome::Tracker(Box::new(data), reruns)),
            Err(TrackerError::Aborted(reason)) => Err(JobError::Aborted {
                reason,
                reporter: true,
            }),
            Err(TrackerError::Transport(source)) => Err(transport(source)),
        };
    }
    let setup = match &job.share {
        None => classic_setup(rank, job),
        Some(spec) => {
            let mut warn = |line: String| eprintln!("mpitorrent: warning: rank {rank}: {line}");
            plan_peer(&endpoint, spec, early, &mut warn)
                .map_err(|e| planned(e, false))?
                .map(|(registration, content)| PeerSetup {
                    registration,
                    content: Box::new(content),
                })
        }
    };
    drop(endpoint);
    match run_peer(fabric, setup, &job.peer) {
        Ok(report) => Ok(RankOutcome::Peer(report)),
        Err(PeerError::Aborted(reason)) => Err(JobError::Aborted {
            reason,
            reporter: false,
        }),
        Err(PeerError::Failed(reason)) => Err(JobError::Aborted {
            reason,
            reporter: true,
        }),
        Err(PeerError::Transport(source)) => Err(transport(source)),
    }
}

/// What a classic peer registers and how its contents are kept: its
/// `in<R>.txt` and `client<R>_<file>` outputs (a `share` peer's setup
/// comes from its tree plan: [`plan_peer`]).
fn classic_setup(rank: Rank, job: &JobConfig) -> Result<PeerSetup, String> {
    let input = load_peer_input(rank, job)?;
    let output = open_output(rank, job, &input)?;
    Ok(PeerSetup {
        registration: Registration::classic(&input),
        content: Box::new(output),
    })
}

/// Reads and parses `in<R>.txt`; any problem comes back as one line naming
/// the rank, the file and the line.
pub fn load_peer_input(rank: Rank, job: &JobConfig) -> Result<PeerInput, String> {
    let name = input_file_name(rank);
    // In the current folder (the classic invocation) the bare name reads best.
    let path = if job.input_dir == Path::new(".") {
        PathBuf::from(name)
    } else {
        job.input_dir.join(name)
    };
    let text = read_text(&path, PEER_INPUT).map_err(|e| format!("rank {rank}: {e}"))?;
    let input =
        parse_peer_input(&text).map_err(|e| format!("rank {rank}: {}: {e}", shown_path(&path)))?;
    Ok(input)
}

/// Opens the output folder of a peer that wants files, and checks that
/// every output name fits in a file name, before anything is downloaded;
/// any problem comes back as one line naming the rank.
pub fn open_output(rank: Rank, job: &JobConfig, input: &PeerInput) -> Result<OutputDir, String> {
    if input.wanted.is_empty() {
        return Ok(OutputDir::none(rank));
    }
    for wanted in &input.wanted {
        let name = output_file_name(rank, wanted);
        if name.len() > NAME_MAX {
            return Err(format!(
                "rank {rank}: the output of wanted file '{wanted}' would be named {name}, \
                 {} bytes: longer than the {NAME_MAX} bytes a file name may have",
                name.len()
            ));
        }
    }
    OutputDir::open(&job.output_dir, rank, &input.wanted).map_err(|e| match e {
        e if e.is_not_found() || matches!(e, FsError::NotAFolder { .. }) => format!(
            "rank {rank}: the output folder {} does not exist or is not a folder",
            job.output_dir.display()
        ),
        e => format!("rank {rank}: {e}"),
    })
}

/// How a whole job in this process ended.
#[derive(Debug)]
pub struct LocalJob {
    /// Every rank's outcome, rank 0 first.
    pub outcomes: Vec<Result<RankOutcome, JobError>>,
    /// Messages sent and never received, once every thread had ended (see
    /// [`LocalNetwork::unreceived`]): a protocol bug if there is any.
    pub unreceived: Vec<String>,
}

/// Runs a whole job of `ranks` ranks in this process, one thread per rank
/// (plus each peer's download and upload threads). `observe` follows the
/// progress (on rank 0's thread).
pub fn run_local_job(ranks: u32, job: &JobConfig, observe: ObserveProgress) -> LocalJob {
    let network = LocalNetwork::new(ranks);
    let mut tracker_observer = Some(observe);
    let outcomes = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..ranks)
            .map(|rank| {
                let fabric = network.fabric(Rank(rank));
                let observer = tracker_observer.take_if(|_| rank == 0);
                std::thread::Builder::new()
                    .name(format!("rank-{rank}"))
                    .spawn_scoped(scope, move || {
                        let mut ignore = |_: &Progress, _: &[RankBytes]| {};
                        run_rank(&fabric, job, None, observer.unwrap_or(&mut ignore))
                    })
                    .expect("spawn a rank thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a rank thread does not panic"))
            .collect()
    });
    LocalJob {
        outcomes,
        unreceived: network.unreceived(),
    }
}
