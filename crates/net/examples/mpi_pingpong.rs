//! Ping-pong over the MPI transport, shaped like mpitorrent's peers: the
//! measurement behind the backoff constants in `src/mpi.rs`.
//!
//! Every rank runs two threads with their own endpoints, like a peer's
//! download and upload threads. On ranks 1 and 2 the "download" thread
//! sends requests one at a time on `Channel::Upload` to the other of the two
//! and waits for each reply on `Channel::Download`; the "upload" thread
//! answers (echoes) every request. Both pairs run at once. The other ranks
//! poll idly until ranks 1 and 2 say they are done. Before that, every rank
//! idles for a few seconds with both threads polling, and reports the CPU
//! it used.
//!
//! ```text
//! cargo build --release -p mpitorrent-net --example mpi_pingpong
//! OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
//!     mpirun --oversubscribe -np 4 target/release/examples/mpi_pingpong [ROUND_TRIPS] [IDLE_SECS]   # Open MPI; MPICH: mpiexec -np 4 ...
//! ```
//!
//! That is Open MPI (as root). Under MPICH, built into its own target
//! folder, Hydra needs neither the flag nor the variables:
//!
//! ```text
//! MPICC=mpicc.mpich CARGO_TARGET_DIR=target/mpich cargo build --release -p mpitorrent-net --example mpi_pingpong
//! mpiexec.mpich -np 4 target/mpich/release/examples/mpi_pingpong
//! ```

#[cfg(not(feature = "mpi"))]
fn main() {
    eprintln!("mpi_pingpong needs the `mpi` feature of mpitorrent-net");
    std::process::exit(2);
}

#[cfg(feature = "mpi")]
fn main() {
    if let Err(message) = pingpong::run() {
        eprintln!("mpi_pingpong: {message}");
        mpitorrent_net::mpi::abort(1);
    }
}

#[cfg(feature = "mpi")]
mod pingpong {
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;
    use mpitorrent_core::{Channel, Rank};
    use mpitorrent_net::mpi::{initialize, MpiFabric};
    use mpitorrent_net::{Endpoint, Fabric, TransportError};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    /// The size of the large message.
    const BIG: usize = 4 << 20;
    /// Large round trips per pair.
    const BIG_ROUND_TRIPS: usize = 5;
    /// How long a waiting thread polls before checking whether to stop.
    const SLICE: Duration = Duration::from_millis(100);
    /// How long a reply may take before the run is declared stuck.
    const STUCK: Duration = Duration::from_secs(60);

    pub fn run() -> Result<(), String> {
        let mut args = std::env::args().skip(1);
        let round_trips: usize = parse_arg(args.next(), 2000)?;
        let idle_secs: f64 = parse_arg(args.next(), 3.0)?;

        let universe = initialize().map_err(|e| e.to_string())?;
        let fabric = MpiFabric::new();
        let (rank, size) = {
            let endpoint = fabric.endpoint();
            (endpoint.rank(), endpoint.size())
        };
        if size < 3 {
            return Err(format!("needs at least 3 ranks, got {size}"));
        }

        // Idle: both threads poll their channel in slices, as the peer's
        // threads do between checks for a stop; nothing arrives.
        let idle = Duration::from_secs_f64(idle_secs);
        let (cpu, wall) = cpu_during(|| {
            std::thread::scope(|s| {
                for channel in [Channel::Download, Channel::Upload] {
                    let fabric = &fabric;
                    s.spawn(move || {
                        let endpoint = fabric.endpoint();
                        let start = Instant::now();
                        while start.elapsed() < idle {
                            let slice = SLICE.min(idle.saturating_sub(start.elapsed()));
                            let got = endpoint.recv(&[channel], slice);
                            assert!(matches!(got, Ok(None)), "idle, yet got {got:?}");
                        }
                    });
                }
            })
        });
        println!(
            "rank {rank}: idle {:.1} s, two threads polling: {:.1}% CPU",
            wall.as_secs_f64(),
            100.0 * cpu / wall.as_secs_f64()
        );

        // Nobody starts the benchmark before everybody stopped idling (the
        // idle threads would take its messages). Only this thread calls MPI
        // now, so a blocking barrier is harmless.
        SimpleCommunicator::world().barrier();

        let result = if rank == Rank(1) || rank == Rank(2) {
            let partner = Rank(3 - rank.0);
            bench(&fabric, rank, partner, round_trips).map_err(|e| e.to_string())
        } else {
            wait_for_benchmark(&fabric, rank).map_err(|e| e.to_string())
        };
        // Every thread is joined; now MPI may finalise.
        drop(universe);
        result
    }

    fn parse_arg<T: std::str::FromStr>(arg: Option<String>, default: T) -> Result<T, String> {
        match arg {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("expected a number, found '{text}'")),
        }
    }

    /// Ranks 1 and 2: the download thread measures, the upload thread echoes.
    fn bench(
        fabric: &MpiFabric,
        rank: Rank,
        partner: Rank,
        round_trips: usize,
    ) -> Result<(), TransportError> {
        let (small, big) = std::thread::scope(|s| {
            let download = s.spawn(|| {
                let endpoint = fabric.endpoint();
                let start = Instant::now();
                for i in 0..round_trips {
                    round_trip(&endpoint, partner, (i as u64).to_le_bytes().to_vec())?;
                }
                let small = start.elapsed();
                let mut big = Vec::new();
                for i in 0..BIG_ROUND_TRIPS {
                    let payload = vec![i as u8; BIG];
                    let start = Instant::now();
                    round_trip(&endpoint, partner, payload)?;
                    big.push(start.elapsed());
                }
                // An empty request tells the partner's upload thread to stop.
                endpoint.send(partner, Channel::Upload, Vec::new())?;
                Ok::<_, TransportError>((small, big))
            });
            let upload = s.spawn(|| {
                let endpoint = fabric.endpoint();
                loop {
                    let Some(request) = endpoint.recv(&[Channel::Upload], STUCK)? else {
                        panic!("rank {rank}: no request for {STUCK:?}");
                    };
                    if request.bytes.is_empty() {
                        return Ok::<_, TransportError>(());
                    }
                    endpoint.send(request.from, Channel::Download, request.bytes)?;
                }
            });
            let download = download.join().expect("the download thread does not panic");
            upload.join().expect("the upload thread does not panic")?;
            download
        })?;

        let endpoint = fabric.endpoint();
        for other in 0..endpoint.size() {
            if other != 1 && other != 2 {
                endpoint.send(Rank(other), Channel::Control, Vec::new())?;
            }
        }
        let mut big_ms: Vec<f64> = big.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let first_big = big_ms[0];
        big_ms.sort_by(f64::total_cmp);
        println!(
            "rank {rank}: {round_trips} round trips in {:.1} ms ({:.1} us each); \
             4 MiB round trip: first {first_big:.2} ms, median {:.2} ms of {BIG_ROUND_TRIPS}",
            small.as_secs_f64() * 1e3,
            small.as_secs_f64() * 1e6 / round_trips.max(1) as f64,
            big_ms[big_ms.len() / 2],
        );
        Ok(())
    }

    fn round_trip(
        endpoint: &impl Endpoint,
        partner: Rank,
        payload: Vec<u8>,
    ) -> Result<(), TransportError> {
        let expected = payload.clone();
        endpoint.send(partner, Channel::Upload, payload)?;
        let Some(reply) = endpoint.recv(&[Channel::Download], STUCK)? else {
            panic!("no reply from rank {partner} for {STUCK:?}");
        };
        assert_eq!(reply.from, partner);
        assert!(reply.bytes == expected, "the reply is not the request");
        Ok(())
    }

    /// The other ranks: one thread waits for ranks 1 and 2 to finish, the
    /// other polls its own channel meanwhile, as an idle peer would.
    fn wait_for_benchmark(fabric: &MpiFabric, rank: Rank) -> Result<(), TransportError> {
        let done = AtomicBool::new(false);
        let (result, cpu, wall) = {
            let mut result = Ok(());
            let (cpu, wall) = cpu_during(|| {
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let endpoint = fabric.endpoint();
                        while !done.load(Ordering::Relaxed) {
                            if let Err(e) = endpoint.recv(&[Channel::Upload], SLICE) {
                                eprintln!("rank {rank}: {e}");
                            }
                        }
                    });
                    let endpoint = fabric.endpoint();
                    let mut finished = 0;
                    while finished < 2 {
                        match endpoint.recv(&[Channel::Control], STUCK) {
                            Ok(Some(_)) => finished += 1,
                            Ok(None) => panic!("rank {rank}: the benchmark is stuck"),
                            Err(e) => {
                                result = Err(e);
                                break;
                            }
                        }
                    }
                    done.store(true, Ordering::Relaxed);
                })
            });
            (result, cpu, wall)
        };
        println!(
            "rank {rank}: waited {:.0} ms for the benchmark: {:.1}% CPU",
            wall.as_secs_f64() * 1e3,
            100.0 * cpu / wall.as_secs_f64()
        );
        result
    }

    /// Runs `f` and returns the CPU seconds this process used meanwhile (all
    /// threads) and the wall time.
    fn cpu_during(f: impl FnOnce()) -> (f64, Duration) {
        let (cpu0, start) = (process_cpu_seconds(), Instant::now());
        f();
        (process_cpu_seconds() - cpu0, start.elapsed())
    }

    /// User + system CPU time of this process, from `/proc/self/stat`
    /// (Linux; clock ticks of 1/100 s). Zero where that file is missing.
    fn process_cpu_seconds() -> f64 {
        let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
            return 0.0;
        };
        // Fields after the command name, which may contain spaces: utime
        // and stime are fields 14 and 15 of the line, 12 and 13 after it.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        match (ticks(11), ticks(12)) {
            (Some(user), Some(system)) => (user + system) as f64 / 100.0,
            _ => 0.0,
        }
    }
}
