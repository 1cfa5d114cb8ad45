# shellcheck shell=bash
# Common settings and helpers for the Coffre dev scripts.
# Source it:  . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Everything here can be overridden from the environment. Slow things (the
# librdkafka build, the Tansu binary, the Python venv) live in COFFRE_CACHE,
# outside the clone, so a fresh clone (or CI) does not rebuild them.
# Runtime state (Postgres cluster, Tansu pid/log, blobs) lives in COFFRE_DATA.

if [[ -n "${COFFRE_LIB_SOURCED:-}" ]]; then
  return 0
fi
COFFRE_LIB_SOURCED=1

COFFRE_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COFFRE_ROOT="$(cd "$COFFRE_SCRIPTS/.." && pwd)"

: "${HOME:=/root}"
COFFRE_CACHE="${COFFRE_CACHE:-$HOME/.cache/coffre}"
COFFRE_DATA="${COFFRE_DATA:-$HOME/.local/share/coffre}"
COFFRE_PG_PORT="${COFFRE_PG_PORT:-55432}"
COFFRE_KAFKA_PORT="${COFFRE_KAFKA_PORT:-59092}"

RDKAFKA_VERSION=2.8.0
RDKAFKA_PREFIX="${RDKAFKA_PREFIX:-$COFFRE_CACHE/librdkafka-$RDKAFKA_VERSION}"

TANSU_VERSION=0.6.0
TANSU_BIN="${TANSU_BIN:-$COFFRE_CACHE/tansu-$TANSU_VERSION/tansu}"

# Docker Compose v2 CLI, used only to validate docker-compose.yml offline.
COMPOSE_VERSION=2.40.3
COMPOSE_BIN="${COMPOSE_BIN:-$COFFRE_CACHE/compose-$COMPOSE_VERSION/docker-compose}"

COFFRE_VENV="${COFFRE_VENV:-$COFFRE_CACHE/venv}"

PKG_CONFIG_PATH="$RDKAFKA_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

# Every Swift program these scripts start (services, benchmarks, tests):
# crash reports list stack frames, not registers. Swift's backtracer prints
# the memory each register points to, which can hold key material.
SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-registers=none}"

export COFFRE_ROOT COFFRE_SCRIPTS COFFRE_CACHE COFFRE_DATA COFFRE_PG_PORT COFFRE_KAFKA_PORT \
  RDKAFKA_VERSION RDKAFKA_PREFIX TANSU_VERSION TANSU_BIN COMPOSE_VERSION \
  COMPOSE_BIN COFFRE_VENV PKG_CONFIG_PATH SWIFT_BACKTRACE

log() {
  printf 'coffre: %s\n' "$*" >&2
}

die() {
  printf 'coffre: error: %s\n' "$*" >&2
  exit 1
}

# Is something accepting TCP connections on HOST PORT right now?
port_open() {
  local host=$1 port=$2
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# wait_for_port HOST PORT TIMEOUT_SECONDS -> 0 once connectable, 1 on timeout.
wait_for_port() {
  local host=$1 port=$2 timeout=${3:-30}
  local deadline=$((SECONDS + timeout))
  while ! port_open "$host" "$port"; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.1
  done
  return 0
}

# wait_for_port_closed HOST PORT TIMEOUT_SECONDS
wait_for_port_closed() {
  local host=$1 port=$2 timeout=${3:-30}
  local deadline=$((SECONDS + timeout))
  while port_open "$host" "$port"; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.1
  done
  return 0
}

# Is PID a live process?
pid_alive() {
  local pid=$1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' not found; run scripts/setup.sh first"
  done
}

# Directory with the PostgreSQL server binaries (highest installed major
# version; Debian 12 ships 15). Override with COFFRE_PG_BIN.
pg_bindir() {
  if [[ -n "${COFFRE_PG_BIN:-}" ]]; then
    printf '%s\n' "$COFFRE_PG_BIN"
    return 0
  fi
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/pg_ctl" ]] || continue
    if [[ -z "$best" || "${d//[!0-9]/}" -gt "${best//[!0-9]/}" ]]; then
      best=$d
    fi
  done
  [[ -n "$best" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql; run scripts/setup.sh"
  printf '%s\n' "$best"
}

# CPU time of processes, in clock ticks (user + system, and the time of
# children they have reaped), summed; for benchmarks (bench/*.sh).
proc_ticks() {
  local t=0 p a
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] || continue
    read -r -a a <<<"$(sed 's/^.*) //' "/proc/$p/stat")"
    t=$((t + a[11] + a[12] + a[13] + a[14]))
  done
  echo "$t"
}

# CPU time of the whole machine, in clock ticks (every state but idle and iowait).
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# Builds PRODUCTS with swift build (configuration CONFIG, scratch path
# SCRATCH) and prints the directory that holds them; with COFFRE_BENCH_BIN
# set, builds nothing and prints that directory instead (binaries built
# earlier, e.g. an older commit's, for an A/B comparison on the same day).
# Usage: BIN="$(bench_binaries CONFIG SCRATCH PRODUCT...)"
bench_binaries() {
  local config="$1" scratch="$2"; shift 2
  if [[ -n "${COFFRE_BENCH_BIN:-}" ]]; then echo "$COFFRE_BENCH_BIN"; return; fi
  log "building $* ($config)"
  local p
  for p in "$@"; do swift build -c "$config" --scratch-path "$scratch" --product "$p" 2>&1 | tail -n 1 >&2 || return 1; done
  swift build -c "$config" --scratch-path "$scratch" --show-bin-path
}
