#!/usr/bin/env bash
# Benchmarks mpitorrent against MPI itself: builds the release binaries, then
# runs every scenario with every strategy several times under mpirun, next to
# two floors measured in the same run: the launch floor (mpi-floor: MPI init,
# a barrier, finalise at the same -np) and the message floor
# (mpi-message-floor: the swarm run's own segment request/reply round trips,
# same ranks, threads and window, on mpitorrent's MPI transport, nothing else).
# Prints a table of medians and an idle-CPU check, writes every number as
# JSON (target/bench/results.json unless --json says otherwise), and exits
# non-zero if any run failed or wrote a wrong output.
#
#   bash scripts/bench.sh                          everything, 5 runs each
#   bash scripts/bench.sh --runs 1 --scenario large --strategy rarest-first
#   bash scripts/bench.sh --window 1 --window 8    compare request windows
#   bash scripts/bench.sh --help                   every option
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

cargo build --release -p mpitorrent -p mpitorrent-bench
exec target/release/mpitorrent-bench "$@"
