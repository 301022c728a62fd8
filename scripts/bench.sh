#!/usr/bin/env bash
# Benchmarks mpitorrent against MPI itself: builds the release binaries, then
# runs every scenario with every strategy several times under mpirun, next to
# two floors measured in the same run: the launch floor (mpi-floor: MPI init,
# a barrier, finalise at the same -np) and the message floor
# (mpi-message-floor: the swarm run's own segment request/reply round trips,
# same ranks, threads and window, on mpitorrent's MPI transport, nothing else).
# The real-data scenarios (share-one-to-all: a 1 GiB file from rank 1 to 7
# peers; share-all-gather: 8 shards of 128 MiB) run `mpitorrent share` next
# to mpi-bcast (a plain MPI_Bcast of the same files, 4 MiB chunks), every
# output of both checked byte for byte; they need ~9 GiB free under $TMPDIR.
# share-small-files (20,000 files of 150 bytes in 200 folders, -np 4) runs
# next to `cp -r` into as many folders and `tar c | mpi-bcast | tar x` (its
# bcast columns), with the CPU of each (its cp columns). share-start (-np 4)
# shares one file of --share-size and one 8 times larger (1 and 8 GiB: ~26 GiB
# free) and reports each one's time to the first segment (target: the large
# within 1.5x the small and under 1 s) beside the launch floor; share-rerun
# (-np 9) shares --share-size once, then times reruns over the complete
# destinations (target < 1 s, nothing hashed or moved) and --verify reruns.
# Prints a table of medians and an idle-CPU check, writes every number as
# JSON (target/bench/results.json unless --json says otherwise), and exits
# non-zero if any run failed or wrote a wrong output.
#
#   bash scripts/bench.sh                          everything, 5 runs each
#   bash scripts/bench.sh --runs 1 --scenario large --strategy rarest-first
#   bash scripts/bench.sh --window 1 --window 8    compare request windows
#   bash scripts/bench.sh --runs 3 --scenario share-one-to-all --scenario share-all-gather
#   bash scripts/bench.sh --runs 5 --scenario share-small-files --share-write page-cache
#   bash scripts/bench.sh --runs 3 --scenario share-start --share-write page-cache
#   bash scripts/bench.sh --runs 3 --scenario share-rerun
#   bash scripts/bench.sh --runs 3 --scenario share-one-to-all --share-size 256MiB
#   bash scripts/bench.sh --help                   every option
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

cargo build --release -p mpitorrent -p mpitorrent-bench
exec "${CARGO_TARGET_DIR:-target}/release/mpitorrent-bench" "$@"
