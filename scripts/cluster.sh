#!/usr/bin/env bash
# An emulated cluster on one Linux machine: K nodes, each a network
# namespace with one link into a switch, every link shaped to a rate with
# tc, and MPI jobs started across them as on a real cluster (one MPI daemon
# per node, TCP between nodes, shared memory within one).
#
#   bash scripts/cluster.sh up K [RATE [SLOTS]]   build nodes n1..nK (RATE e.g. 1gbit,
#                                                 200mbit, or none; default 1gbit)
#   bash scripts/cluster.sh run MPIRUN-ARGS...    mpirun across the nodes, from n1
#   bash scripts/cluster.sh exec NODE CMD...      run CMD on a node (n2, 2 or its hostname)
#   bash scripts/cluster.sh status                the nodes, their links and any processes
#   bash scripts/cluster.sh down                  end every process on the nodes, remove them
#
# Needs root, `ip` and `tc` (iproute2), `unshare` (util-linux) and a kernel
# with network namespaces, veth, bridge and tbf. If nodes cannot be made, it
# says why and exits with status 77 (tests treat it as a skip).
#
# The recipe:
# - each node is a network namespace <prefix>-n<i> whose eth0 is one end of
#   a veth; the other end, n<i>, is a port of the bridge br0 inside a
#   separate switch namespace <prefix>-sw. Addresses are 10.77.0.<i>/24,
#   existing only inside these namespaces: no default route, no NAT, IPv6
#   off, nothing added to the root namespace, so no traffic leaves them;
# - both ends of each veth have a tbf qdisc at RATE (burst 1 ms of the
#   rate, at most 5 ms queued), so a node's upload and download are each
#   limited to RATE, as on a switched network. The kernel may have no netem,
#   so no latency is added;
# - every command on a node runs in a fresh UTS namespace with the node's
#   hostname (<prefix>-n<i>): MPI names shared-memory segments after the
#   hostname and groups ranks into nodes by it (MPI_COMM_TYPE_SHARED);
# - `run` starts Open MPI's mpirun inside n1 with a hostfile of the nodes
#   and an ssh stand-in (plm_rsh_agent) that starts each node's orted in
#   its namespace, TCP only on eth0, no binding, the daemons attached to
#   mpirun (without a tree spawn Open MPI would have them daemonize, out of
#   reach of mpirun's process group and of its caller's CPU accounting).
#   The environment reaches
#   every rank by inheritance (a real cluster needs `-x VAR`).
#   MPITORRENT_CLUSTER_MPI=mpich starts MPICH's Hydra (mpiexec.mpich)
#   through the same stand-in instead (-launcher ssh -launcher-exec), with
#   UCX_TLS=tcp,self UCX_NET_DEVICES=eth0 unless set: UCX would otherwise
#   take the nodes for one machine and bypass the links;
# - the hostfile gives n1 SLOTS+1 slots (rank 0, mpitorrent's tracker, sits
#   beside n1's SLOTS ranks) and every other node SLOTS (default 1), so
#   `run -np $((K * SLOTS + 1))` fills the cluster in order: ranks 0..SLOTS
#   on n1, then SLOTS ranks per node;
# - `down` (and `up`, first) ends what runs in the namespaces by pid (from
#   `ip netns pids`: a killed mpirun leaves its daemons behind) and deletes
#   every namespace, which removes their links.
#
# Environment:
#   MPITORRENT_CLUSTER      name prefix of the namespaces and of the state folder
#                           /tmp/mpitorrent-cluster-<prefix> (default mpt); two
#                           clusters with different prefixes never collide
#   MPITORRENT_CLUSTER_MPI  openmpi (default) or mpich: the launcher `run` uses
set -euo pipefail

readonly SKIP=77
readonly SUBNET=10.77.0
script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
prefix="${MPITORRENT_CLUSTER:-mpt}"
if [[ ! "$prefix" =~ ^[a-z][a-z0-9]{0,11}$ ]]; then
    echo "cluster: error: MPITORRENT_CLUSTER='$prefix': expected a lower-case letter, then up to 11 letters or digits" >&2
    exit 2
fi
state="/tmp/mpitorrent-cluster-$prefix"
switch="$prefix-sw"

die() {
    echo "cluster: error: $*" >&2
    exit 1
}

# skip REASON: nodes cannot be made here; not an error of the caller.
skip() {
    echo "cluster: cannot build nodes here: $*" >&2
    exit "$SKIP"
}

# The namespaces of this prefix that exist now.
namespaces() {
    ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E "^$prefix-(n[0-9]+|sw)$" || true
}

# node_ns NODE: the namespace of a node named n2, 2 or <prefix>-n2.
node_ns() {
    local name="$1"
    name="${name#"$prefix"-}"
    name="${name#n}"
    [[ "$name" =~ ^[1-9][0-9]*$ ]] || die "'$1' is not a node (expected n1, 2 or $prefix-n3)"
    [[ -e "/run/netns/$prefix-n$name" ]] || die "node '$1' does not exist (is the cluster up? bash scripts/cluster.sh up K)"
    echo "$prefix-n$name"
}

# on NS CMD...: runs CMD in the node's network namespace and a fresh UTS
# namespace named after it.
on() {
    local ns="$1"
    shift
    exec ip netns exec "$ns" unshare --uts -- \
        sh -c 'echo "$0" >/proc/sys/kernel/hostname && exec "$@"' "$ns" "$@"
}

# The bits per second of a tc rate such as 1gbit, 200mbit or 500kbit.
rate_bits() {
    local rate="${1,,}"
    [[ "$rate" =~ ^([0-9]+)(bit|kbit|mbit|gbit)$ ]] || die "rate '$1': expected a number with bit, kbit, mbit or gbit (e.g. 1gbit, 200mbit), or none"
    local n="${BASH_REMATCH[1]}" unit="${BASH_REMATCH[2]}"
    case "$unit" in
        bit) echo "$n" ;;
        kbit) echo $((n * 1000)) ;;
        mbit) echo $((n * 1000000)) ;;
        gbit) echo $((n * 1000000000)) ;;
    esac
}

# shape NS DEV RATE: a tbf at RATE on DEV's egress, 1 ms of burst (at least
# two full-size frames) and at most 5 ms of queue.
shape() {
    local ns="$1" dev="$2" rate="$3" burst
    burst=$(($(rate_bits "$rate") / 8 / 1000))
    ((burst >= 3028)) || burst=3028
    ip netns exec "$ns" tc qdisc replace dev "$dev" root tbf rate "$rate" burst "$burst" latency 5ms
}

# IPv6 off in a namespace before its links exist, so none gets an address.
no_ipv6() {
    ip netns exec "$1" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 &&
        echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6' 2>/dev/null || true
}

# The pids of every process in these namespaces.
pids_in() {
    local ns
    for ns in "$@"; do
        ip netns pids "$ns" 2>/dev/null || true
    done
}

# signal_and_wait SIGNAL TENTHS NS...: sends SIGNAL to every process in the
# namespaces, then waits up to TENTHS tenths of a second for all to end.
# True if none is left.
signal_and_wait() {
    local signal="$1" tenths="$2" pids
    shift 2
    pids="$(pids_in "$@")"
    [[ -n "$pids" ]] || return 0
    kill "-$signal" $pids 2>/dev/null || true
    while ((tenths-- > 0)); do
        [[ -n "$(pids_in "$@")" ]] || return 0
        sleep 0.1
    done
    return 1
}

down() {
    local all ns
    all="$(namespaces)"
    # mpirun and orted end their children on SIGTERM; give them 3 s, and
    # what is left 2 s more after SIGKILL.
    if [[ -n "$all" ]] && ! signal_and_wait TERM 30 $all && ! signal_and_wait KILL 20 $all; then
        echo "cluster: warning: still running after SIGKILL: $(pids_in $all | paste -sd ' ' -)" >&2
    fi
    for ns in $all; do
        ip netns delete "$ns" || die "cannot delete namespace $ns"
    done
    if [[ -d "$state" && ! -L "$state" ]]; then
        rm -rf -- "$state"
    fi
}

up() {
    local k="${1:-}" rate="${2:-1gbit}" slots="${3:-1}" i ns
    [[ "$k" =~ ^[1-9][0-9]?$ ]] || die "up: expected a node count from 1 to 99, got '${k}'"
    [[ "$slots" =~ ^[1-9][0-9]*$ ]] || die "up: expected a slot count, got '$slots'"
    [[ "$rate" == none ]] || rate_bits "$rate" >/dev/null

    [[ "$(id -u)" == 0 ]] || skip "network namespaces need root (run as root, e.g. sudo)"
    local cmd
    for cmd in ip tc unshare; do
        command -v "$cmd" >/dev/null 2>&1 || skip "'$cmd' is not installed (apt-get install iproute2 util-linux, or bash scripts/setup.sh)"
    done

    down
    ip netns add "$switch" 2>/dev/null || skip "'ip netns add' failed (no permission to make network namespaces?)"
    mkdir -m 700 "$state" || die "cannot create the state folder $state"
    no_ipv6 "$switch"
    ip -n "$switch" link set lo up
    ip -n "$switch" link add br0 type bridge || {
        down
        skip "cannot make a bridge (no bridge support in this kernel?)"
    }
    ip -n "$switch" link set br0 up
    # A switch forwards frames without a firewall; with br_netfilter loaded
    # the kernel would run every bridged packet through iptables, CPU that
    # a job on the nodes would be charged for.
    for table in arptables iptables ip6tables; do
        ip netns exec "$switch" sysctl -qw "net.bridge.bridge-nf-call-$table=0" 2>/dev/null || true
    done

    : >"$state/hostfile"
    for ((i = 1; i <= k; i++)); do
        ns="$prefix-n$i"
        ip netns add "$ns"
        no_ipv6 "$ns"
        ip -n "$ns" link set lo up
        # Made inside the switch with its peer inside the node: neither end
        # ever exists in the root namespace.
        ip -n "$switch" link add "n$i" type veth peer name eth0 netns "$ns" || {
            down
            skip "cannot make a veth pair (no veth support in this kernel?)"
        }
        ip -n "$switch" link set "n$i" master br0 up
        ip -n "$ns" addr add "$SUBNET.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
        if [[ "$rate" != none ]]; then
            if ! shape "$ns" eth0 "$rate" || ! shape "$switch" "n$i" "$rate"; then
                down
                skip "tc cannot add a tbf qdisc (no sch_tbf in this kernel?)"
            fi
        fi
        echo "$ns slots=$((i == 1 ? slots + 1 : slots))" >>"$state/hostfile"
        # Hydra's hostfile format, for MPITORRENT_CLUSTER_MPI=mpich.
        echo "$ns:$((i == 1 ? slots + 1 : slots))" >>"$state/hostfile.hydra"
    done
    # The ssh stand-in, one executable file for plm_rsh_agent.
    printf '#!/bin/sh\nMPITORRENT_CLUSTER=%s exec bash %q rsh "$@"\n' "$prefix" "$script" >"$state/rsh"
    chmod 700 "$state/rsh"
    echo "$k $rate $slots" >"$state/config"

    # The last node must reach the first through the switch: a connection
    # to a closed port is refused at once when it does (no ping needed).
    local probe
    probe="$(ip netns exec "$prefix-n$k" timeout 5 bash -c "echo >/dev/tcp/$SUBNET.1/9" 2>&1 || true)"
    if [[ "$probe" != *"refused"* ]]; then
        down
        die "node n$k cannot reach n1 through the switch: ${probe:-no answer in 5 s}"
    fi
    echo "cluster: up: $k node(s) $prefix-n1..$prefix-n$k at $rate, $slots slot(s) each (+1 on n1); state in $state"
}

# rsh [SSH-OPTIONS] HOST CMD...: called by a launcher like ssh (Hydra adds
# -x). As ssh does, the words of the command are joined and run by a
# shell, on the host's node.
rsh() {
    while [[ "${1:-}" == -* ]]; do
        case "$1" in
            -[bcDEeFIiJLlmOoPpQRSWw]) shift 2 ;; # ssh's options with an argument
            *) shift ;;
        esac
    done
    local host="${1:-}" ns
    shift || true
    [[ $# -gt 0 ]] || die "rsh: expected [SSH-OPTIONS] HOST COMMAND..."
    ns="$(node_ns "$host")"
    on "$ns" sh -c "$*"
}

run() {
    [[ -f "$state/hostfile" ]] || die "the cluster is not up (bash scripts/cluster.sh up K RATE)"
    case "${MPITORRENT_CLUSTER_MPI:-openmpi}" in
        openmpi)
            on "$prefix-n1" mpirun --hostfile "$state/hostfile" \
                --mca plm_rsh_agent "$state/rsh" --mca plm_rsh_no_tree_spawn 1 \
                --mca oob_tcp_if_include eth0 --mca btl_tcp_if_include eth0 \
                --mca btl tcp,vader,self --mca pml ob1 --bind-to none \
                --mca orte_leave_session_attached 1 "$@"
            ;;
        mpich)
            # UCX would otherwise see one machine and move bytes between
            # nodes through shared memory, never over the links.
            on "$prefix-n1" env UCX_TLS="${UCX_TLS:-tcp,self}" UCX_NET_DEVICES="${UCX_NET_DEVICES:-eth0}" \
                mpiexec.mpich -f "$state/hostfile.hydra" \
                -launcher ssh -launcher-exec "$state/rsh" -iface eth0 "$@"
            ;;
        *) die "MPITORRENT_CLUSTER_MPI='$MPITORRENT_CLUSTER_MPI': expected openmpi or mpich" ;;
    esac
}

status() {
    local ns
    if [[ -f "$state/config" ]]; then
        echo "cluster: up (nodes, rate, slots): $(cat "$state/config"); state in $state"
    fi
    for ns in $(namespaces); do
        echo "$ns: $(ip -n "$ns" -br addr show 2>/dev/null | grep -v '^lo' | tr -s ' ' | paste -sd ';' -)"
        ip netns exec "$ns" tc qdisc show 2>/dev/null | grep tbf | sed 's/^/    /'
        local pids
        pids="$(ip netns pids "$ns" 2>/dev/null | paste -sd ' ' -)"
        [[ -z "$pids" ]] || echo "    processes: $pids"
    done
}

command="${1:-}"
shift || true
case "$command" in
    up) up "$@" ;;
    down) down ;;
    run) run "$@" ;;
    exec)
        [[ $# -ge 2 ]] || die "exec: expected NODE COMMAND..."
        node="$(node_ns "$1")"
        shift
        on "$node" "$@"
        ;;
    rsh) rsh "$@" ;;
    status) status ;;
    *)
        sed -n '2,/^set -euo/p' "$script" | sed '$d' | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
