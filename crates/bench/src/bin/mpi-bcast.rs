//! `mpi-bcast`: the baseline of `mpitorrent share`, what a plain MPI
//! broadcast tool does. A root rank reads a file and `MPI_Bcast`s it in
//! fixed chunks (4 MiB by default) to every other peer rank, which writes
//! each chunk to its destination as it arrives. No hashes, no
//! verification, no resume, no temporary file: the least work that puts
//! the bytes on every rank's disk, so its wall time under `mpirun` is the
//! yardstick for `share`.
//!
//! ```text
//! mpirun -np 9 mpi-bcast --file data/big.bin --root 1 --to 'out/{rank}'
//! mpirun -np 9 mpi-bcast --shards 'shards/{rank}/part-{rank}.bin' --to 'all/{rank}'
//! ```
//!
//! With `--shards` (the all-gather baseline) every peer rank in turn, 1 to
//! N-1, is the root and broadcasts its own shard (the template with `{rank}`
//! as its rank); every other peer writes it. Outputs go to `--to` (with
//! `{rank}` as the receiving rank) under the file's own name.
//!
//! Rank 0, the tracker's slot in an mpitorrent job, is split off: the
//! broadcasts run on a communicator of ranks 1..N-1 only, so the same
//! `-np` means the same peers. Every rank holds one chunk in memory, never
//! the whole file. Any I/O error aborts the whole job (`MPI_Abort`), so a
//! failure is a non-zero exit rather than a hang.
//!
//! With `--direct`, receivers write with `O_DIRECT` (where the filesystem
//! allows), as `mpitorrent share --direct` does: the baseline for that mode.
//!
//! With `--report FILE`, rank 0 writes the bytes each rank wrote and each
//! rank's peak resident memory as JSON (see `bcast_report`).

#[path = "../bcast_report.rs"]
mod bcast_report;

use anyhow::{bail, Context, Result};
use bcast_report::BcastReport;
use clap::Parser;
use mpi::collective::Root;
use mpi::topology::{Color, Communicator, SimpleCommunicator};
use mpitorrent_net::share::direct::{self, AlignedBuf};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Broadcasts a file (or every peer's shard in turn) to every peer rank
/// with MPI_Bcast, and writes it there: the baseline of `mpitorrent share`.
#[derive(Debug, Parser)]
#[command(name = "mpi-bcast", version, about, long_about)]
struct Cli {
    /// The file that --root reads and broadcasts.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "shards",
        conflicts_with = "shards",
        requires = "root"
    )]
    file: Option<PathBuf>,
    /// The rank that reads --file (1..N-1).
    #[arg(long, value_name = "RANK")]
    root: Option<i32>,
    /// All-gather instead: the shard file of each peer rank, `{rank}` being
    /// its rank; every peer rank in turn broadcasts its own.
    #[arg(long, value_name = "TEMPLATE")]
    shards: Option<String>,
    /// The folder each receiving rank writes into; `{rank}` becomes its rank.
    #[arg(long, value_name = "TEMPLATE")]
    to: String,
    /// Bytes per MPI_Bcast (and per read and write), with a unit if you like.
    #[arg(long, default_value = "4MiB", value_parser = parse_chunk)]
    chunk: usize,
    /// Rank 0 writes every rank's bytes written and peak memory here (JSON).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write around the page cache (O_DIRECT) where the filesystem allows.
    #[arg(long)]
    direct: bool,
}

fn parse_chunk(text: &str) -> Result<usize, String> {
    let size = mpitorrent_core::content::parse_size(text)?;
    // MPI counts are C ints.
    usize::try_from(size)
        .ok()
        .filter(|&s| s <= i32::MAX as usize)
        .ok_or_else(|| format!("'{text}' is above MPI's largest count ({})", i32::MAX))
}

/// `template` with every `{rank}` replaced by `rank`.
fn with_rank(template: &str, rank: i32) -> PathBuf {
    PathBuf::from(template.replace("{rank}", &rank.to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(universe) = mpi::initialize() else {
        eprintln!("mpi-bcast: error: MPI is already initialised");
        return ExitCode::FAILURE;
    };
    let world = universe.world();
    let rank = world.rank();
    // Ranks 1..N-1, in order: peer p is rank p-1 of `peers`.
    let color = if rank == 0 {
        Color::undefined()
    } else {
        Color::with_value(1)
    };
    let peers = world.split_by_color(color);
    let written = match &peers {
        Some(peers) => run(&cli, rank, peers),
        None => Ok(0),
    };
    let written = match written {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("mpi-bcast: error: rank {rank}: {err:#}");
            world.abort(1)
        }
    };
    let mine = [written, peak_rss_kib()];
    let root = world.process_at_rank(0);
    if rank == 0 {
        let mut all = vec![0u64; 2 * world.size() as usize];
        root.gather_into_root(&mine[..], &mut all[..]);
        if let Some(path) = &cli.report {
            let report = BcastReport::from_pairs(&all);
            if let Err(err) = report.write(path) {
                eprintln!("mpi-bcast: error: {err:#}");
                world.abort(1)
            }
        }
    } else {
        root.gather_into(&mine[..]);
    }
    ExitCode::SUCCESS
}

/// This rank's part of every broadcast; the bytes it wrote.
fn run(cli: &Cli, rank: i32, peers: &SimpleCommunicator) -> Result<u64> {
    // Aligned, for --direct.
    let mut aligned = AlignedBuf::default();
    let buffer = &mut aligned.slice_mut(cli.chunk)[..];
    match (&cli.file, &cli.shards) {
        (Some(file), _) => {
            let root = cli.root.unwrap_or_default();
            if !(1..=peers.size()).contains(&root) {
                bail!("--root {root} is not a peer rank (1..{})", peers.size());
            }
            broadcast(peers, rank, root, file, cli, buffer)
        }
        (None, Some(shards)) => {
            let mut written = 0;
            for root in 1..=peers.size() {
                let file = with_rank(shards, root);
                written += broadcast(peers, rank, root, &file, cli, buffer)?;
            }
            Ok(written)
        }
        (None, None) => bail!("give --file or --shards"),
    }
}

/// One file from world rank `root` to every other peer: the size, then the
/// bytes a chunk at a time. Returns the bytes this rank wrote.
fn broadcast(
    peers: &SimpleCommunicator,
    rank: i32,
    root: i32,
    file: &Path,
    cli: &Cli,
    buffer: &mut [u8],
) -> Result<u64> {
    let chunk_size = cli.chunk;
    let sender = peers.process_at_rank(root - 1);
    let mut source = if rank == root {
        Some(File::open(file).with_context(|| format!("cannot open {}", file.display()))?)
    } else {
        None
    };
    let mut size = match &source {
        Some(f) => f.metadata()?.len(),
        None => 0,
    };
    sender.broadcast_into(&mut size);
    let mut sink = match source {
        Some(_) => None,
        None => {
            let dir = with_rank(&cli.to, rank);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let name = file.file_name().context("the file has no name")?;
            let path = dir.join(name);
            let out = create(&path, cli.direct)
                .with_context(|| format!("cannot create {}", path.display()))?;
            Some((out, path))
        }
    };
    let mut done = 0;
    while done < size {
        let len = (size - done).min(chunk_size as u64) as usize;
        let chunk = &mut buffer[..len];
        if let Some(f) = &mut source {
            f.read_exact(chunk)
                .with_context(|| format!("cannot read {}", file.display()))?;
        }
        sender.broadcast_into(&mut *chunk);
        if let Some((out, path)) = &mut sink {
            out.write(buffer, len, done)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        done += len as u64;
    }
    if let Some((out, path)) = &sink {
        out.finish(size)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if sink.is_some() { size } else { 0 })
}

/// An output file, written through the page cache or around it.
enum Sink {
    Buffered(File),
    Direct(File),
}

/// Creates `path`, with `O_DIRECT` if `direct` and its filesystem allows.
fn create(path: &Path, direct: bool) -> std::io::Result<Sink> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    Ok(match direct::open(&options, path, direct)? {
        (file, true) => Sink::Direct(file),
        (file, false) => Sink::Buffered(file),
    })
}

impl Sink {
    /// Writes the first `len` bytes of `buffer` at `offset`: directly, the
    /// aligned buffer padded to a block (the padding is cut by `finish`).
    fn write(&mut self, buffer: &mut [u8], len: usize, offset: u64) -> std::io::Result<()> {
        match self {
            Sink::Buffered(file) => file.write_all(&buffer[..len]),
            Sink::Direct(file) => {
                let padded = direct::round_up(len);
                buffer[len..padded].fill(0);
                file.write_all_at(&buffer[..padded], offset)
            }
        }
    }

    /// Cuts the padding of the last direct write.
    fn finish(&self, size: u64) -> std::io::Result<()> {
        match self {
            Sink::Buffered(_) => Ok(()),
            Sink::Direct(file) => file.set_len(size),
        }
    }
}

/// This process's peak resident memory (`VmHWM` of /proc/self/status), in
/// KiB; 0 if unknown.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
