//! `mpi-floor`: the smallest MPI job that does what every mpitorrent job
//! must do: start under `mpirun`, initialise MPI with
//! `MPI_THREAD_MULTIPLE`, meet at a barrier and finalise. Its wall time at
//! `-np N` is the launch cost of an N-rank job on this machine, the floor
//! that no MPI program can go below; the benchmark reports mpitorrent's
//! time as a multiple of it.

use mpi::collective::CommunicatorCollectives;
use mpi::Threading;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some((universe, provided)) = mpi::initialize_with_threading(Threading::Multiple) else {
        eprintln!("mpi-floor: error: MPI is already initialised");
        return ExitCode::FAILURE;
    };
    if provided < Threading::Multiple {
        eprintln!("mpi-floor: error: MPI gave thread level {provided:?}, not Multiple");
        return ExitCode::FAILURE;
    }
    universe.world().barrier();
    // Dropping the universe finalises MPI.
    drop(universe);
    ExitCode::SUCCESS
}
