//! The command line, as clap derive types. Doc comments are the help text.

use crate::settings::{parse_seeders, parse_segment_size, Seeders};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use mpitorrent_core::strategy::Strategy;
use std::path::PathBuf;

/// A BitTorrent-style file swarm over MPI. Rank 0 is the tracker; every
/// other rank is a peer that reads in<R>.txt and writes client<R>_<file>
/// for each file it wants.
///
/// With no command, `mpirun -np N mpitorrent [OPTIONS]` runs the classic
/// swarm on the in<R>.txt files of the current folder, and takes the
/// options of `run` (it is `mpitorrent run [OPTIONS]`).
#[derive(Debug, Parser)]
#[command(name = "mpitorrent", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log what each rank does on stderr, tagged with its rank and role
    /// (-v: info, -vv: debug). RUST_LOG, if set, overrides it.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// `run`'s options, for the classic invocation without a command.
    #[command(
        flatten,
        next_help_heading = "Options of the classic swarm (as for `run`)"
    )]
    pub run: RunArgs,
}

impl Cli {
    /// Parses this process's command line. `run`'s options given before a
    /// command (`mpitorrent -q local ...`) are refused rather than ignored;
    /// `-v` may go anywhere. (clap's `args_conflicts_with_subcommands` would
    /// refuse a `-v` there too.)
    pub fn parse_args() -> Result<Cli, clap::Error> {
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(std::env::args_os())?;
        let cli = Cli::from_arg_matches(&matches)?;
        let Some((name, _)) = matches.subcommand() else {
            return Ok(cli);
        };
        let given = |id: &&clap::Id| {
            id.as_str() != "verbose"
                && matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
        };
        let Some(stray) = matches.ids().find(given) else {
            return Ok(cli);
        };
        let option = command
            .get_arguments()
            .find(|arg| arg.get_id() == stray)
            .and_then(|arg| arg.get_long())
            .unwrap_or(stray.as_str())
            .to_string();
        Err(command.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!(
                "--{option} before '{name}' is an option of the classic swarm without a \
                 command; options of '{name}' go after it (mpitorrent {name} [OPTIONS])"
            ),
        ))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the swarm under MPI: `mpirun -np N mpitorrent run` (N >= 2).
    Run(RunArgs),
    /// Run a whole swarm in this process, one thread per rank (no mpirun).
    Local(LocalArgs),
    /// Write a random, reproducible scenario: in<R>.txt files and the
    /// expected outputs (under expected/).
    Gen(GenArgs),
    /// Print the end-of-run summary of a saved run report (written with
    /// --report), and draw its timeline.
    Report(ReportArgs),
    /// Simulate a swarm in virtual time, at any scale, with the real
    /// protocol: `mpitorrent sim --peers 10000 --segments 1000`.
    Sim(crate::sim::SimArgs),
    /// Share real files between the ranks of an MPI job, every segment
    /// verified: `mpirun -np N mpitorrent share --from DIR --to DIR`.
    Share(ShareArgs),
    /// Print real files the classic way: `<name> <segment count>`, then the
    /// BLAKE3 hash of each segment (what `share --manifest` takes: run it
    /// inside the folder, so that the names are relative to it).
    Manifest(ManifestArgs),
}

/// The strategy of `run`, `share` and `sim` unless `--strategy` says
/// otherwise: `tree`, which stays within a few percent of the lower bound
/// from 100 to 10,000 peers while sending the tracker 0.005 messages per
/// segment, and sends each segment through the seeder's uplink once (see
/// the README's "Why tree is the default", and its limit: slow uplinks).
pub const DEFAULT_STRATEGY: Strategy = Strategy::Tree;

/// Where a classic swarm's files are.
#[derive(Debug, Clone, Args)]
pub struct ClassicArgs {
    /// Folder holding in1.txt .. in<N-1>.txt.
    #[arg(long, default_value = ".")]
    pub input_dir: PathBuf,
    /// Folder the client<R>_<file> outputs are written to.
    #[arg(long, default_value = ".")]
    pub output_dir: PathBuf,
}

impl Default for ClassicArgs {
    fn default() -> Self {
        ClassicArgs {
            input_dir: ".".into(),
            output_dir: ".".into(),
        }
    }
}

/// Options shared by every way of running a swarm.
#[derive(Debug, Clone, Args)]
pub struct SwarmArgs {
    /// Abort the job if the swarm makes no progress for this many seconds
    /// (0 turns the check off).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub stall_timeout: u64,
    /// Segment requests a download thread keeps outstanding at once (each
    /// segment is answered one by one; with relay the requests to one
    /// owner travel as one message). 1 is the classic loop. Default: 64
    /// with tree, 32 with relay, 8 with the others (see the README).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub window: Option<u32>,
    /// How downloads choose owners and segments: tree (the default: the
    /// tracker plans once who passes each segment to whom, and ranks pass
    /// segments on as they arrive), relay (the tracker schedules holders as
    /// the swarm goes: better with slow uplinks), rarest-first (as
    /// BitTorrent), paced (relay without relays), round-robin (the classic
    /// protocol's) or least-loaded.
    #[arg(long)]
    pub strategy: Option<Strategy>,
    /// Answer each swarm request with at most this many owners (a random
    /// sample that always includes a seed), as BitTorrent's trackers do;
    /// swarms of up to 51 ranks are answered in full.
    #[arg(long, value_name = "OWNERS", default_value = "50", value_parser = clap::value_parser!(u32).range(1..))]
    pub swarm_sample: Option<u32>,
    /// Seed for the random choices of the tracker and the strategies.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the run report (JSON) to this file after the swarm ends.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// Draw the run's timeline (segments held per rank over time, and who
    /// uploaded to whom) to this SVG file after the swarm ends.
    #[arg(long, value_name = "FILE.svg")]
    pub timeline: Option<PathBuf>,
    /// When stderr is not a terminal, print a progress line this often
    /// (in a terminal a progress bar is drawn instead).
    #[arg(long, default_value_t = DEFAULT_PROGRESS_INTERVAL, value_name = "SECONDS",
          value_parser = parse_interval)]
    pub progress_interval: f64,
    /// Print nothing but errors (no progress, no end-of-run summary).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Seconds between plain progress lines unless `--progress-interval` says
/// otherwise.
pub const DEFAULT_PROGRESS_INTERVAL: f64 = 2.0;

/// A positive number of seconds.
fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() => Ok(seconds),
        _ => Err(format!(
            "expected a positive number of seconds, found '{text}'"
        )),
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub files: ClassicArgs,
    #[command(flatten)]
    pub swarm: SwarmArgs,
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Ranks in the job, tracker included (peers read in1.txt .. in<N-1>.txt).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..))]
    pub ranks: u32,
    #[command(flatten)]
    pub files: ClassicArgs,
    #[command(flatten)]
    pub swarm: SwarmArgs,
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The folder of files to share, on the ranks that have it; `{rank}`
    /// becomes the rank (e.g. /scratch/out/{rank}).
    #[arg(long, value_name = "DIR")]
    pub from: String,
    /// Where each peer rank writes every shared file it lacks, at the same
    /// relative path; `{rank}` becomes the rank (e.g. /local/{rank}/data).
    #[arg(long, value_name = "DIR")]
    pub to: String,
    /// The ranks that read --from, comma-separated, or `all` (the default:
    /// every peer rank on which the folder exists). Seeders that list a
    /// file with the same size and time read it in stripes, each segment
    /// once in all (one folder on a shared filesystem).
    #[arg(long, value_name = "RANKS|all", value_parser = parse_seeders)]
    pub seeders: Option<Seeders>,
    /// Segment size, with a unit if you like: 1MiB, 4MiB, 512KiB (4KiB to
    /// 1GiB; a bare number is in bytes).
    #[arg(long, default_value = "1MiB", value_parser = parse_segment_size)]
    pub segment_size: u64,
    /// Flush each received file to disk (fsync) before giving it its final
    /// name, so that it survives a power loss as soon as the job ends. Off
    /// by default, as for cp, rsync and sbcast: the data then reaches the
    /// disk in the background, and a rerun checks every file it finds.
    #[arg(long)]
    pub fsync: bool,
    /// Write received files around the page cache (O_DIRECT), and read them
    /// back that way to serve them, where the filesystem allows. Far less
    /// CPU for large files where the page cache is slow to fill (see the
    /// README), but the files are then not in memory for whoever reads
    /// them next. Needs a segment size that is a multiple of 4KiB.
    #[arg(long)]
    pub direct: bool,
    /// Recreate the symbolic links of --from as links (never followed when
    /// writing); without it they are skipped with a warning.
    #[arg(long)]
    pub links: bool,
    /// Hash every file already under --to, to check it segment by segment.
    /// Without it, a file of the source's size and modification time is
    /// taken as complete without reading it (as rsync does by default).
    #[arg(long)]
    pub verify: bool,
    /// Do not check before the start that every --to has the room for what
    /// it lacks (for filesystems whose free space statvfs misreports:
    /// quotas, compression); a full disk then ends the job when a write
    /// fails.
    #[arg(long)]
    pub no_space_check: bool,
    /// Register the hashes of this file (the output of `mpitorrent
    /// manifest`, names relative to --from) instead of hashing --from on
    /// every seeder; each segment is still verified against them. It must
    /// list exactly the files of --from, made with this --segment-size.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Run the whole job in this process with this many ranks (tracker
    /// included) instead of under mpirun.
    #[arg(long, value_name = "RANKS", value_parser = clap::value_parser!(u32).range(2..))]
    pub local: Option<u32>,
    #[command(flatten)]
    pub swarm: SwarmArgs,
}

impl SwarmArgs {
    /// The strategy asked for, or the default.
    pub fn strategy(&self) -> Strategy {
        self.strategy.unwrap_or(DEFAULT_STRATEGY)
    }

    /// The window asked for, or the strategy's default.
    pub fn window(&self) -> u32 {
        self.window
            .unwrap_or_else(|| self.strategy().default_window())
    }
}

impl ShareArgs {
    /// The checks clap cannot express: `--direct` needs aligned segments.
    pub fn validate(&self) -> Result<(), clap::Error> {
        if self.direct && !mpitorrent_net::share::direct::segment_size_fits(self.segment_size) {
            return Err(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "--direct needs a --segment-size that is a multiple of 4KiB, not {} bytes",
                    self.segment_size
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// Segment size, as for `share` (4KiB to 1GiB).
    #[arg(long, default_value = "1MiB", value_parser = parse_segment_size)]
    pub segment_size: u64,
    /// The files to list.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run report written by `--report FILE.json`.
    #[arg(value_name = "FILE.json")]
    pub file: PathBuf,
    /// Also draw the run's timeline to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub timeline: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Write a named shape instead of a random scenario: two-and-one,
    /// five-trade-seven, owning-nothing, two-seeds-four-leechers,
    /// wanting-nothing (the classic shapes), large, fan-out, all-to-all.
    #[arg(long, conflicts_with = "ranks")]
    pub shape: Option<String>,
    /// Ranks in the job, tracker included.
    #[arg(long, required_unless_present = "shape", value_parser = clap::value_parser!(u32).range(2..))]
    pub ranks: Option<u32>,
    /// Distinct files in the swarm.
    #[arg(long, default_value_t = 3)]
    pub files: u32,
    /// Segments per file.
    #[arg(long, default_value_t = 50)]
    pub segments: u32,
    /// Peers that own each file at the start.
    #[arg(long, default_value_t = 1)]
    pub seeds_per_file: u32,
    /// Other peers that want each file.
    #[arg(long, default_value_t = 2)]
    pub wanters_per_file: u32,
    /// Random seed: the same seed gives the same scenario.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}
