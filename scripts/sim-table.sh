#!/usr/bin/env bash
# The simulator's results for a fixed table of strategies, seeds and
# settings, one line each: what a change that must not alter behaviour
# (a refactor of the protocol's machines) is checked against. Compare the
# output before and after the change with `diff`.
#
#   bash scripts/sim-table.sh [MPITORRENT-BINARY] > table.txt
#
# Each line: the settings, then the simulator's JSON (makespan, bound,
# every message count) without what varies from run to run (its wall time
# and memory), or the exit status and error of a run that failed. The default binary is target/release/mpitorrent.
#
# Every run has a tracker without a capacity (--tracker-capacity 0), as
# the simulator had before it charged the tracker for its messages; the
# JSON's tracker fields then always say the same (capacity 0, nothing
# waited, no utilization) and are left out, so that the table is the one
# of before. Any other value of them is kept, and would show in a diff.
set -euo pipefail
bin="${1:-target/release/mpitorrent}"
[[ -x "$bin" ]] || { echo "sim-table: $bin is not an executable (cargo build --release -p mpitorrent)" >&2; exit 2; }
cases=(
    "--peers 8 --segments 40"
    "--peers 50 --segments 200 --seeds 2"
    "--peers 200 --segments 300 --window 4"
    "--peers 300 --segments 200 --slow-fraction 0.2 --slow-every 3 --late-fraction 0.1 --late-by 100 --leave-fraction 0.3"
    "--peers 100 --segments 100 --swarm-sample 10 --update-every 3 --latency 2"
)
# The JSON without the measurements of this machine.
deterministic() {
    sed -E -e 's/"(peak_rss_kib|wall_seconds)":[0-9.e+-]+,?//g' \
        -e 's/"tracker_capacity":0,//' \
        -e 's/"tracker_queue":\{"longest_queue":0,"max_wait_ticks":0,"mean_wait_ticks":0\.0\},"tracker_utilization":null,//'
}
for strategy in round-robin least-loaded rarest-first paced relay tree; do
    for seed in 0 1 7; do
        for settings in "${cases[@]}"; do
            # shellcheck disable=SC2086 # the settings are words
            out="$("$bin" sim --json --strategy "$strategy" --seed "$seed" $settings --max-ticks 5000000 --tracker-capacity 0 2>&1)" || out="exit $?: $out"
            echo "--strategy $strategy --seed $seed $settings: $out" | deterministic
        done
    done
    # A classic scenario, with the seed's own window of 1 for round-robin.
    window=8
    [[ $strategy == round-robin ]] && window=1
    out="$("$bin" sim --json --strategy "$strategy" --scenario examples/classic --window $window --tracker-capacity 0 2>&1)" || out="exit $?: $out"
    echo "--strategy $strategy --scenario examples/classic: $out" | deterministic
done
