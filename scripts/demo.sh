#!/usr/bin/env bash
# The main job: build mpitorrent, run an example swarm under mpirun in a fresh
# temporary folder, and check every file the peers wrote against expected/.
#
#   bash scripts/demo.sh                 the bundled example (examples/classic)
#   bash scripts/demo.sh path/to/folder  a folder with in1.txt..in<N-1>.txt and,
#                                        optionally, expected/client<R>_<file>
#
# Environment:
#   MPITORRENT_DEMO_TIMEOUT  seconds before the mpirun job is killed (default 120)
#   MPITORRENT_MPIRUN        the MPI launcher (default mpirun; e.g. mpirun.mpich
#                            with a binary built against MPICH, CARGO_TARGET_DIR
#                            and MPICC=mpicc.mpich); its flags are chosen for its MPI
#
# Exits non-zero if setup, the build or the run fails, or any file differs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Resolve the example folder against the caller's directory, before cd.
example="${1:-$root/examples/classic}"
if [[ ! -d "$example" ]]; then
    echo "demo: error: example folder '$example' not found" >&2
    exit 2
fi
example="$(cd "$example" && pwd)"
cd "$root"

# shellcheck source=setup.sh source-path=SCRIPTDIR
source "$root/scripts/setup.sh"
# shellcheck source=launcher.sh source-path=SCRIPTDIR
source "$root/scripts/launcher.sh"
mpi_launcher

# Peers are in1.txt..in<K>.txt with no gaps; the tracker is one more rank.
shopt -s nullglob
inputs=("$example"/in[0-9]*.txt)
peers=${#inputs[@]}
if [[ $peers -eq 0 ]]; then
    echo "demo: error: no in<R>.txt files in $example" >&2
    exit 2
fi
for ((r = 1; r <= peers; r++)); do
    if [[ ! -f "$example/in$r.txt" ]]; then
        echo "demo: error: $example has $peers in<R>.txt files but no in$r.txt (expected in1.txt..in$peers.txt)" >&2
        exit 2
    fi
done
np=$((peers + 1))

echo "demo: building (cargo build --release; the first build takes a few minutes)"
start=$SECONDS
if ! cargo build --release --quiet; then
    echo "demo: FAILED: cargo build --release" >&2
    exit 1
fi
echo "demo: built in $((SECONDS - start)) s"

target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$root/$target_dir"
bin="$target_dir/release/mpitorrent"
if [[ ! -x "$bin" ]]; then
    echo "demo: error: the build succeeded but $bin does not exist" >&2
    exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/mpitorrent-demo.XXXXXX")"
cp -R "$example"/. "$work"/
log="$work/mpirun.log"
timeout_s="${MPITORRENT_DEMO_TIMEOUT:-120}"

echo "demo: $peers peers + tracker: ${MPIRUN[*]} -np $np mpitorrent ($MPI_FLAVOR)"
echo "demo: in $work"
start=$SECONDS
status=0
(cd "$work" && timeout -k 10 "$timeout_s" \
    "${MPIRUN[@]}" -np "$np" "$bin") </dev/null >"$log" 2>&1 || status=$?
elapsed=$((SECONDS - start))

# The run's own output: all of it if short, else its tail.
log_lines=$(awk 'END { print NR }' "$log")
if [[ $log_lines -gt 0 ]]; then
    if [[ $log_lines -gt 20 ]]; then
        echo "demo: mpirun output (last 15 of $log_lines lines; all in $log):"
        tail -n 15 "$log" | sed 's/^/  | /'
    else
        echo "demo: mpirun output:"
        sed 's/^/  | /' "$log"
    fi
fi
if [[ $status -eq 124 || $status -eq 137 ]]; then
    echo "demo: ${MPIRUN[0]} did not finish within $timeout_s s and was killed"
else
    echo "demo: ${MPIRUN[0]} exited with status $status after ${elapsed} s"
fi

# What was written, and whether it matches.
outputs=("$work"/client*)
bad=0
expected_dir="$work/expected"
if [[ ${#outputs[@]} -eq 0 ]]; then
    echo "demo: no client* files were written"
else
    echo "demo: files written:"
fi
for f in "${outputs[@]}"; do
    name="$(basename "$f")"
    lines=$(awk 'END { print NR }' "$f")
    if [[ ! -d "$expected_dir" ]]; then
        verdict=""
    elif [[ ! -f "$expected_dir/$name" ]]; then
        verdict="UNEXPECTED (not in expected/)"
        bad=$((bad + 1))
    elif diff -w -q "$expected_dir/$name" "$f" >/dev/null; then
        verdict="OK"
    else
        verdict="DIFFERS (diff -w expected/$name $name)"
        bad=$((bad + 1))
    fi
    printf '  %-24s %6s lines  %s\n' "$name" "$lines" "$verdict"
done

compared=0
if [[ -d "$expected_dir" ]]; then
    for e in "$expected_dir"/*; do
        compared=$((compared + 1))
        name="$(basename "$e")"
        if [[ ! -f "$work/$name" ]]; then
            printf '  %-24s %6s        %s\n' "$name" "-" "MISSING (expected, not written)"
            bad=$((bad + 1))
        fi
    done
fi

if [[ $status -eq 124 || $status -eq 137 ]]; then
    echo "demo: FAIL: the run timed out after $timeout_s s; outputs and log in $work"
    exit 1
elif [[ $status -ne 0 ]]; then
    echo "demo: FAIL: the run failed (status $status); outputs and log in $work"
    exit 1
elif [[ ! -d "$expected_dir" ]]; then
    echo "demo: done: ${#outputs[@]} file(s) written; no expected/ folder, nothing compared ($work)"
elif [[ $bad -ne 0 ]]; then
    echo "demo: FAIL: $bad file(s) missing, different or unexpected ($compared expected); outputs in $work"
    exit 1
else
    echo "demo: PASS: all $compared files match expected/ ($work)"
fi
