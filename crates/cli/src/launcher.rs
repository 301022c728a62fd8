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

/// Where each launcher puts the process's rank and the job's size, side
/// by side (PMIx names no size; Open MPI sets its own pair under it).
const PLACEMENT_VARIABLES: [(&str, &str); 3] = [
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMI_RANK", "PMI_SIZE"),
    ("SLURM_PROCID", "SLURM_NTASKS"),
];

/// This process's rank and the job's size as one launcher set them (a
/// guess until MPI has started: see `share::early`), or `None`.
pub fn placement() -> Option<(u32, u32)> {
    placement_from(|name| std::env::var(name).ok())
}

/// [`placement`] from any source of variables (for the tests).
fn placement_from(var: impl Fn(&str) -> Option<String>) -> Option<(u32, u32)> {
    PLACEMENT_VARIABLES.iter().find_map(|(rank, size)| {
        let rank = var(rank)?.trim().parse().ok()?;
        Some((rank, var(size)?.trim().parse().ok()?))
    })
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

    #[test]
    fn a_placement_is_a_rank_and_a_size_from_one_launcher() {
        assert_eq!(placement_from(env(&[])), None);
        let ompi = [("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "8")];
        assert_eq!(placement_from(env(&ompi)), Some((3, 8)));
        let hydra = [("PMI_RANK", "1"), ("PMI_SIZE", "4")];
        assert_eq!(placement_from(env(&hydra)), Some((1, 4)));
        let slurm = [("SLURM_PROCID", "5"), ("SLURM_NTASKS", "9")];
        assert_eq!(placement_from(env(&slurm)), Some((5, 9)));
        // A rank without its size (PMIx alone), or one launcher's rank with
        // another's size, is no placement.
        assert_eq!(placement_from(env(&[("PMIX_RANK", "2")])), None);
        let mixed = [("PMI_RANK", "1"), ("SLURM_NTASKS", "4")];
        assert_eq!(placement_from(env(&mixed)), None);
        // Open MPI under Slurm sets both pairs; Open MPI's wins.
        let both = [slurm[0], slurm[1], ompi[0], ompi[1]];
        assert_eq!(placement_from(env(&both)), Some((3, 8)));
    }
}
