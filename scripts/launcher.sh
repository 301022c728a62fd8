#!/usr/bin/env bash
# Which MPI launcher starts a job, and the flags it needs; sourced by the
# scripts that run mpirun (the Rust side is crates/net/src/launcher.rs).
#
#   source scripts/launcher.sh
#   mpi_launcher                     sets MPI_FLAVOR and MPIRUN
#   "${MPIRUN[@]}" -np 4 mpitorrent
#
# The launcher is `mpirun`, or the one MPITORRENT_MPIRUN names (e.g.
# mpirun.mpich). Its --version tells its MPI: Open MPI gets
# --oversubscribe --bind-to none (more ranks than cores, unbound) and, as
# root, the two variables it refuses to run without; MPICH's Hydra rejects
# that flag and oversubscribes by default, so it gets nothing.

# mpi_launcher: sets MPI_FLAVOR (openmpi, hydra or unknown) and the array
# MPIRUN (the launcher and its flags, to be followed by -np N PROGRAM).
mpi_launcher() {
    local program="${MPITORRENT_MPIRUN:-mpirun}" version
    version="$("$program" --version </dev/null 2>&1 || true)"
    case "$version" in
        *"Open MPI"* | *OpenRTE*)
            MPI_FLAVOR=openmpi
            MPIRUN=("$program" --oversubscribe --bind-to none)
            if [[ "$(id -u)" == 0 ]]; then
                export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
            fi
            ;;
        *HYDRA*)
            MPI_FLAVOR=hydra
            MPIRUN=("$program")
            ;;
        *)
            MPI_FLAVOR=unknown
            MPIRUN=("$program")
            ;;
    esac
}
