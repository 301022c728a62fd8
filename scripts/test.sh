#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): setup, then
# formatting, lints, every test of the workspace (under Open MPI, the
# default mpirun), and the MPI tests again built against MPICH and started
# by its mpiexec, stopping at the first failing step.
#
#   bash scripts/test.sh
#
# The MPI tests start the real binary under mpirun; as root, setup exports
# OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 for them.
# As root the emulated-cluster test (crates/cli/tests/cluster.rs) must run:
# MPITORRENT_CLUSTER_REQUIRED=1 makes "cannot build nodes here" a failure.
#
# The MPICH build has its own target folder (target/mpich): rsmpi's build
# script picks the MPI from MPICC=mpicc.mpich but does not rerun when that
# variable changes, so one folder cannot hold both builds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# shellcheck source=setup.sh source-path=SCRIPTDIR
source "$root/scripts/setup.sh"

for component in fmt clippy; do
    if ! cargo "$component" --version >/dev/null 2>&1; then
        echo "test: error: 'cargo $component' is not installed; run: rustup component add ${component/fmt/rustfmt}" >&2
        exit 1
    fi
done

# Wall-clock seconds with a fraction where bash has EPOCHREALTIME (5.0+).
now() { echo "${EPOCHREALTIME:-$SECONDS}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

summary=()
total_start=$(now)

# step NAME COMMAND...: runs one step, prints its time, stops the suite if it fails.
step() {
    local name="$1"
    shift
    echo "==> $name: $*"
    local start status=0 took
    start=$(now)
    "$@" || status=$?
    took=$(since "$start")
    if [[ $status -ne 0 ]]; then
        summary+=("$(printf '%-8s FAILED  %6s s' "$name" "$took")")
        printf '%s\n' "${summary[@]}"
        echo "test: FAILED at step '$name' (exit status $status): $*" >&2
        exit 1
    fi
    summary+=("$(printf '%-8s ok      %6s s' "$name" "$took")")
    echo "<== $name: ok (${took} s)"
}

step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
if [[ "$(id -u)" == 0 ]]; then
    export MPITORRENT_CLUSTER_REQUIRED=1
fi
step test cargo test --workspace
# Every test file that starts mpirun (the cluster test is Open MPI's: see
# scripts/cluster.sh for MPICH there).
step mpich env MPICC=mpicc.mpich MPITORRENT_MPIRUN=mpiexec.mpich \
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/mpich" \
    cargo test -p mpitorrent --test mpirun --test share --test errors --test sim

echo
printf '%s\n' "${summary[@]}"
echo "test: all steps passed in $(since "$total_start") s"
