//! What an MPI launcher tells a process before MPI starts: its rank, from
//! the environment. A command line that does not parse fails on every rank
//! at once, before `MPI_Init`, so without this every rank of
//! `mpirun -np 8 mpitorrent --bad` would print the same error, interleaved;
//! with it only rank 0 does, and the others exit quietly.

/// Where each launcher puts the process's rank in the job: Open MPI,
/// MPICH's Hydra (and the PMI-1/2 launchers built on it), PMIx (Open MPI 5,
/// prrte) and Slurm's `srun`.
const RANK_VARIABLES: [&str; 4] = [
    "OMPI_COMM_WORLD_RANK",
    "PMI_RANK",
    "PMIX_RANK",
    "SLURM_PROCID",
];

/// This process's rank as its launcher set it, or `None` when it was not
/// started by one (or the value is not a number).
pub fn rank() -> Option<u32> {
    rank_from(|name| std::env::var(name).ok())
}

/// [`rank`] from any source of variables (for the tests).
fn rank_from(var: impl Fn(&str) -> Option<String>) -> Option<u32> {
    RANK_VARIABLES
        .iter()
        .find_map(|name| var(name)?.trim().parse().ok())
}

/// Whether this process is the one that speaks for the job: rank 0, or a
/// process no launcher started.
pub fn speaks_for_the_job() -> bool {
    rank().is_none_or(|rank| rank == 0)
}

/// Ends the process on a command-line error (or `--help`): rank 0 prints it
/// as clap does and exits with clap's status; every other rank exits at
/// once, in silence, with status 0. Not with rank 0's status: Open MPI
/// ends the whole job as soon as one process exits non-zero, and a rank 1
/// that did so first would get rank 0 killed before it printed anything
/// (seen in the tests). The launcher still reports rank 0's status.
pub fn exit_with(err: clap::Error) -> ! {
    if speaks_for_the_job() {
        err.exit()
    }
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn every_launcher_names_the_rank() {
        assert_eq!(rank_from(env(&[])), None);
        assert_eq!(rank_from(env(&[("OMPI_COMM_WORLD_RANK", "3")])), Some(3));
        assert_eq!(rank_from(env(&[("PMI_RANK", "0")])), Some(0));
        assert_eq!(rank_from(env(&[("PMIX_RANK", "12")])), Some(12));
        assert_eq!(rank_from(env(&[("SLURM_PROCID", "5")])), Some(5));
        assert_eq!(rank_from(env(&[("PMI_RANK", "x")])), None);
        // Open MPI under Slurm sets both; they agree, and Open MPI's wins.
        let both = [("SLURM_PROCID", "0"), ("OMPI_COMM_WORLD_RANK", "2")];
        assert_eq!(rank_from(env(&both)), Some(2));
    }
}
