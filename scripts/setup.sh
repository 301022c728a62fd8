#!/usr/bin/env bash
# Installs what building and running mpitorrent needs, and does nothing if it
# is already there. Safe to run again.
#
#   bash scripts/setup.sh        check and install
#   source scripts/setup.sh      the same, and keep the exported variables
#                                (PATH with ~/.cargo/bin, OMPI_ALLOW_RUN_AS_ROOT*)
#
# Debian/Ubuntu only: checks the packages with dpkg and installs the missing
# ones with apt-get, as root or through sudo. Never prompts unless sudo asks
# for a password on a terminal.
#
# Packages: Open MPI (the default mpirun and the one builds use), MPICH beside
# it (mpirun.mpich, mpicc.mpich: CI runs the MPI tests under both; see
# scripts/test.sh), libclang and pkg-config for rsmpi's build, iproute2 (ip,
# tc) and util-linux (unshare) for the emulated cluster (scripts/cluster.sh).
# Installing MPICH must not take over Debian's mpirun/mpicc/mpi.h
# alternatives (its priority is lower, but an admin may have chosen it):
# they are set back to Open MPI if they point elsewhere.
#
# Environment:
#   MPITORRENT_APT_PACKAGES  packages to check (default below)
#   MPITORRENT_SKIP_APT=1    skip the package check (e.g. not Debian, or
#                            Open MPI installed some other way)

_mpitorrent_setup() {
    local packages="${MPITORRENT_APT_PACKAGES:-openmpi-bin libopenmpi-dev libclang-dev pkg-config mpich libmpich-dev iproute2 util-linux}"
    local uid
    uid="$(id -u)"

    # 1. Rust. rustup installs to ~/.cargo/bin, which a fresh shell may not have on PATH.
    local cargo_bin="${CARGO_HOME:-${HOME:-/nonexistent}/.cargo}/bin"
    if ! command -v cargo >/dev/null 2>&1 && [[ -x "$cargo_bin/cargo" ]]; then
        export PATH="$cargo_bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "setup: error: cargo not found on PATH or in $cargo_bin." >&2
        echo "setup: install Rust with rustup (https://rustup.rs), then open a new shell or run: . \"\$HOME/.cargo/env\"" >&2
        return 1
    fi

    # 2. Open MPI as root refuses to start without these two.
    local root_note=""
    if [[ "$uid" == 0 ]]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
        root_note="; as root: OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 exported"
    fi

    # 3. System packages.
    if [[ "${MPITORRENT_SKIP_APT:-0}" == 1 ]]; then
        echo "setup: cargo found; package check skipped (MPITORRENT_SKIP_APT=1)$root_note"
        return 0
    fi
    if ! command -v dpkg >/dev/null 2>&1; then
        echo "setup: error: dpkg not found; this script only knows Debian/Ubuntu." >&2
        echo "setup: install Open MPI with its headers, libclang and pkg-config yourself, then rerun with MPITORRENT_SKIP_APT=1" >&2
        return 1
    fi

    local missing=() pkg status
    for pkg in $packages; do
        # dpkg -s also succeeds for removed-but-configured packages; look at the status.
        status="$(dpkg -s "$pkg" 2>/dev/null)" || status=""
        if [[ "$status" != *"Status: install ok installed"* ]]; then
            missing+=("$pkg")
        fi
    done

    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "setup: nothing to install: $packages and cargo are present$root_note"
        _mpitorrent_open_mpi_default
        return
    fi

    local -a as_root
    local how
    if [[ "$uid" == 0 ]]; then
        as_root=(env)
        how="as root"
    elif command -v sudo >/dev/null 2>&1; then
        # sudo may ask for a password on a terminal; without one (CI, no tty)
        # it must fail instead of waiting for input that never comes.
        if [[ -t 0 && "${CI:-}" != true ]]; then
            as_root=(sudo env)
        else
            as_root=(sudo -n env)
        fi
        how="via sudo"
    else
        echo "setup: error: missing packages: ${missing[*]}; not root and sudo is not installed." >&2
        echo "setup: as root, run: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
        return 1
    fi

    echo "setup: installing ${missing[*]} with apt-get ($how)$root_note"
    local log
    log="$(mktemp "${TMPDIR:-/tmp}/mpitorrent-setup.XXXXXX")"
    if ! "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get update </dev/null >"$log" 2>&1 ||
        ! "${as_root[@]}" DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "${missing[@]}" </dev/null >>"$log" 2>&1; then
        tail -n 15 "$log" >&2
        echo "setup: error: apt-get failed $how (full log: $log)." >&2
        if [[ "$uid" != 0 ]]; then
            echo "setup: if sudo needs a password, run bash scripts/setup.sh once in a terminal, or as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
        fi
        return 1
    fi
    rm -f "$log"

    if ! command -v mpirun >/dev/null 2>&1; then
        echo "setup: error: the packages are installed but mpirun is not on PATH (is another MPI shadowing /usr/bin?)." >&2
        return 1
    fi
    _mpitorrent_open_mpi_default
}

# Open MPI stays the default MPI: Debian's alternatives mpirun, mpi (mpicc)
# and mpi-<arch> (mpi.h, libmpi.so, mpi.pc) point at it. Only a wrong one is
# changed, and only as root; otherwise the command to run is printed.
_mpitorrent_open_mpi_default() {
    command -v update-alternatives >/dev/null 2>&1 || return 0
    local name want now
    for name in mpirun mpi $(cd /var/lib/dpkg/alternatives 2>/dev/null && ls -d mpi-*-linux-gnu 2>/dev/null); do
        want="$(update-alternatives --list "$name" 2>/dev/null | grep -m1 openmpi)" || continue
        now="$(readlink -f "/etc/alternatives/$name" 2>/dev/null)" || now=""
        [[ "$now" != "$(readlink -f "$want")" ]] || continue
        if [[ "$(id -u)" == 0 ]]; then
            update-alternatives --set "$name" "$want" >/dev/null ||
                { echo "setup: error: update-alternatives --set $name $want failed" >&2; return 1; }
            echo "setup: $name pointed at ${now:-nothing}; set back to Open MPI ($want)"
        else
            echo "setup: warning: $name points at ${now:-nothing}, not Open MPI; as root: update-alternatives --set $name $want" >&2
        fi
    done
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    # Run as a script. When sourced, the caller's shell options stay as they
    # are and a failure is the status of `source` (which stops a `set -e` caller).
    set -euo pipefail
fi
_mpitorrent_setup
