#!/usr/bin/env bash
# Signups/s through the gateway next to raw Postgres doing the same writes.
#
#   bench/signups.sh [SIGNUPS]      (default 6000; ./coffre bench runs it)
#
# 1. pgbench, 8 clients, 15 s: bench/signup.pgbench (the user row and its
#    outbox row in one durable transaction): the machine's ceiling.
# 2. coffre-bench signups: release gateway + accounts; bodies prepared before
#    the clock (client-side Argon2id is not part of the server's work);
#    closed loop for the maximum rate, then an open loop at 80% of it for
#    latency measured from each request's intended start.
#
# COFFRE_BENCH_DRY=1 prints the section and leaves bench/RESULTS.md alone;
# COFFRE_BENCH_OPEN_PERCENTS (default "50 60 70"; empty for none): one more
# open loop at each of these percentages of the maximum (how latency grows
# with load);
# COFFRE_BENCH_PROFILE=DIR records the gateway phases system-wide with perf
# (cpu-clock) into DIR/signups.data.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
SIGNUPS="${1:-6000}"
# Length of the open loop (and of pgbench's run at the same rate). Its p99 is
# set by the few longest stalls of the machine in the window (a 200 ms one
# delays everything behind it), so a 10 s window gave anything from 25 to
# 220 ms from run to run; 30 s averages over more of them.
OPEN_SECONDS="${COFFRE_BENCH_OPEN_SECONDS:-30}"
OPEN_PERCENTS="${COFFRE_BENCH_OPEN_PERCENTS-50 60 70}"
for percent in $OPEN_PERCENTS; do
  [[ $percent =~ ^[0-9]+([.][0-9]+)?$ ]] && [[ ! $percent =~ ^0+([.]0*)?$ ]] \
    || die "COFFRE_BENCH_OPEN_PERCENTS: '$percent' is not a positive percentage"
done
export COFFRE_DATA="${COFFRE_BENCH_DATA:-$COFFRE_CACHE/bench-data}"
export COFFRE_PG_PORT="${COFFRE_BENCH_PG_PORT:-55452}"
export COFFRE_KAFKA_PORT="${COFFRE_BENCH_KAFKA_PORT:-59112}"
GW_PORT=28080; AC_PORT=28081
CONFIG="${COFFRE_BENCH_BUILD:-release}"
SCRATCH="$COFFRE_ROOT/.build-$CONFIG"
cd "$COFFRE_ROOT"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  bash "$COFFRE_SCRIPTS/kafka.sh" stop >/dev/null 2>&1 || true
  bash "$COFFRE_SCRIPTS/pg.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
bash "$COFFRE_SCRIPTS/pg.sh" start
# Every run starts from an empty database (services migrate it at start-up):
# the bench database otherwise keeps every earlier run's rows (it had grown to
# 1.4 GB), and figures then drift with its size from run to run.
bash "$COFFRE_SCRIPTS/pg.sh" fresh-db
bash "$COFFRE_SCRIPTS/kafka.sh" start
bash "$COFFRE_SCRIPTS/kafka.sh" topics
BIN="$(bench_binaries "$CONFIG" "$SCRATCH" gateway accounts coffre-bench)"
PG_URL="$(bash "$COFFRE_SCRIPTS/pg.sh" url)"
mkdir -p "$COFFRE_DATA/run"
env COFFRE_POSTGRES_URL="$PG_URL" COFFRE_KAFKA_BROKERS="127.0.0.1:$COFFRE_KAFKA_PORT" COFFRE_LOG_LEVEL=warning \
  ACCOUNTS_HTTP_PORT=$AC_PORT COFFRE_POSTGRES_POOL_SIZE="${COFFRE_BENCH_ACCOUNTS_POOL:-16}" "$BIN/accounts" >"$COFFRE_DATA/run/bench-accounts.log" 2>&1 &
pids+=($!)
env COFFRE_LOG_LEVEL=warning GATEWAY_HTTP_PORT=$GW_PORT GATEWAY_ACCOUNTS_URLS="http://127.0.0.1:$AC_PORT" \
  GATEWAY_RATE_PER_IP_PER_MINUTE=1000000 GATEWAY_RATE_PER_IP_BURST=100000 \
  GATEWAY_RATE_PER_TENANT_PER_MINUTE=100000000 GATEWAY_RATE_PER_TENANT_BURST=100000 \
  "$BIN/gateway" >"$COFFRE_DATA/run/bench-gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$AC_PORT/readyz" >/dev/null && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$AC_PORT/readyz" >/dev/null || die "accounts not ready: $(tail -5 "$COFFRE_DATA/run/bench-accounts.log")"
wait_for_port 127.0.0.1 $GW_PORT 30 || die "gateway not listening"
sleep 2  # token keys
curl -fs "http://127.0.0.1:$GW_PORT/openapi.json" >/dev/null || die "gateway is not serving (bad configuration?): $(tail -3 "$COFFRE_DATA/run/bench-gateway.log")"

log "pgbench: raw signup-shaped transactions (8 clients, 15 s)"
pg_tps=$(PGPASSWORD=coffre pgbench -n -h 127.0.0.1 -p "$COFFRE_PG_PORT" -U coffre -c 8 -j 2 -T 15 -f "$COFFRE_ROOT/bench/signup.pgbench" coffre 2>&1 \
  | awk '/^tps = / {print int($3); exit}')
log "coffre-bench signups through the gateway"
perf_pid=""
if [[ -n "${COFFRE_BENCH_PROFILE:-}" ]]; then
  mkdir -p "$COFFRE_BENCH_PROFILE"
  perf record -q -a -g -e cpu-clock -o "$COFFRE_BENCH_PROFILE/signups.data" 2>/dev/null &
  perf_pid=$!; sleep 1
fi
# CPU ticks of the gateway, accounts, every Postgres process (the postmaster
# and its children) and the whole machine, around coffre-bench's run (both loops).
ticks() {
  local postmaster; postmaster=$(head -n 1 "$COFFRE_DATA/pg/data/postmaster.pid")
  # shellcheck disable=SC2046  # one pid per word
  echo "$(proc_ticks "${pids[1]}") $(proc_ticks "${pids[0]}") $(proc_ticks "$postmaster" $(pgrep -P "$postmaster")) $(machine_ticks)"
}
cpu_before=$(ticks)
result=$("$BIN/coffre-bench" signups --client "${COFFRE_BENCH_CLIENT:-nio}" --gateway "http://127.0.0.1:$GW_PORT" --count "$SIGNUPS" --concurrency 32 --seconds "$OPEN_SECONDS" --timeline "$COFFRE_DATA/signups-timeline.txt" | tail -n 1)
cpu_after=$(ticks)
[[ -z "$perf_pid" ]] || { kill -TERM "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; }
get() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); v=d[sys.argv[2]][sys.argv[3]]; print(v if isinstance(v, dict) else f'{v:.{sys.argv[4]}f}')" "$result" "$@"; }
max_rate=$(get closed_loop per_second 0); closed_statuses=$(get closed_loop statuses 0)
offered=$(get open_loop offered_per_second 0); achieved=$(get open_loop achieved_per_second 0)
p50=$(get open_loop p50_ms 1); p90=$(get open_loop p90_ms 1); p99=$(get open_loop p99_ms 1); pmax=$(get open_loop max_ms 1)
open_statuses=$(get open_loop statuses 0)
load_closed=$(get closed_loop load_cpu_ms_per_signup 2); load_open=$(get open_loop load_cpu_ms_per_signup 2)
load_connections=$(get open_loop connections_opened 0)
ratio=$(python3 -c "print(f'{$max_rate/$pg_tps:.2f}')")
# The open loop's p99 in each 5 s of it, to see whether the tail is one
# stall or a queue that grows (an offered rate the machine cannot sustain).
windows=$(python3 -c "
import collections, sys
w = collections.defaultdict(list)
for line in open(sys.argv[1]):
    start, latency = map(float, line.split()); w[int(start // 5)].append(latency)
print(', '.join(f'{sorted(v)[int(len(v) * 0.99)]:.0f}' for _, v in sorted(w.items())))" "$COFFRE_DATA/signups-timeline.txt")
# CPU milliseconds per signup over both loops (Postgres: the postmaster, the
# server processes alive at the end, which include every pooled connection,
# and those that ended during the run, reaped by the postmaster).
read -r cpu_gw cpu_ac cpu_pg cpu_machine < <(python3 -c "
import json, sys, os
b, a = [list(map(int, x.split())) for x in sys.argv[1:3]]
r = json.loads(sys.argv[3]); n = r['closed_loop']['signups'] + r['open_loop']['signups']
hz = os.sysconf('SC_CLK_TCK')
print(' '.join(f'{(y - x) * 1000 / hz / n:.2f}' for x, y in zip(b, a)))" "$cpu_before" "$cpu_after" "$result")
# The latency baseline: raw Postgres at the same fixed rate as the open loop
# (pgbench -R, 32 clients, as long), each transaction's latency logged, so the
# durable commit's own tail (the disk's fsync) is seen next to ours.
log "pgbench at the open loop's rate ($offered/s)"
pglog="$(mktemp -d)"
(cd "$pglog" && PGPASSWORD=coffre pgbench -n -h 127.0.0.1 -p "$COFFRE_PG_PORT" -U coffre -c 32 -j 2 -T "$OPEN_SECONDS" -R "$offered" -l \
  -f "$COFFRE_ROOT/bench/signup.pgbench" coffre >/dev/null 2>&1)
read -r pg_rate pg_p50 pg_p90 pg_p99 pg_max < <(cat "$pglog"/pgbench_log.* | python3 -c "
import sys
v = sorted(int(line.split()[2]) / 1000 for line in sys.stdin if line.strip())
q = lambda p: v[min(len(v) - 1, int(len(v) * p))]
print(f'{len(v) / $OPEN_SECONDS:.0f} {q(0.5):.1f} {q(0.9):.1f} {q(0.99):.1f} {v[-1]:.1f}')")
rm -rf "$pglog"
# Latency against offered load: one more open loop of OPEN_SECONDS at each of
# OPEN_PERCENTS of the closed-loop maximum, on the same services, to see where
# the tail turns up next to the 80% point above.
curve=""
for percent in $OPEN_PERCENTS; do
  rate=$(python3 -c "print(f'{$max_rate * $percent / 100:.1f}')")
  log "open loop at $percent% ($rate/s)"
  one=$("$BIN/coffre-bench" signups --gateway "http://127.0.0.1:$GW_PORT" --count 0 --open-rate "$rate" --seconds "$OPEN_SECONDS" | tail -n 1)
  [[ -n "$curve" ]] || curve=$'\n\n| open loop at a fixed rate (signups/s) | % of the closed-loop maximum | p50 ms | p90 ms | p99 ms | max ms | statuses |\n|---:|---:|---:|---:|---:|---:|---|'
  curve+=$'\n'$(python3 -c "
import json, sys
o = json.loads(sys.argv[1])['open_loop']
print(f\"| {o['offered_per_second']:.0f} ({o['achieved_per_second']:.0f} achieved) | {100 * o['offered_per_second'] / float(sys.argv[2]):.0f}% | {o['p50_ms']:.1f} | {o['p90_ms']:.1f} | **{o['p99_ms']:.1f}** | {o['max_ms']:.1f} | {o['statuses']} |\")" "$one" "$max_rate")
done
# A benchmark of errors measures nothing: every closed-loop signup must be a 201.
python3 -c "import json,sys; s=json.loads(sys.argv[1])['closed_loop']['statuses']; sys.exit(0 if set(s) == {'201'} else 1)" "$result" \
  || die "signups did not all succeed: $closed_statuses"

machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), PostgreSQL $(psql --version | awk '{print $3}')"
section="$(mktemp)"
cat >"$section" <<MD
## Signups through the gateway

Command: \`bench/signups.sh $SIGNUPS\` (part of \`./coffre bench\`; services and coffre-bench built $CONFIG, $(date -u +%Y-%m-%d)). Machine: $machine.
The load generator, gateway, accounts, Postgres and the broker share the machine's cores.

| what | signups/s | latency |
|---|---:|---|
| raw Postgres, pgbench 8 clients (\`bench/signup.pgbench\`: user row + outbox row, durable commit) | $pg_tps | baseline |
| **gateway → accounts, closed loop, 32 clients** | **$max_rate** | statuses $closed_statuses |
| gateway → accounts, open loop at 80% for $OPEN_SECONDS s ($offered/s offered, $achieved/s achieved) | | p50 $p50 ms, p90 $p90 ms, **p99 $p99 ms**, max $pmax ms; statuses $open_statuses |
| raw Postgres, pgbench at the same rate (\`-R $offered\`, 32 clients, $OPEN_SECONDS s; $pg_rate/s achieved) | | p50 $pg_p50 ms, p90 $pg_p90 ms, p99 $pg_p99 ms, max $pg_max ms (baseline: the durable commit alone) |

Gateway / raw Postgres: **$ratio** (target ≥ 0.5); p99 at 80% of the maximum: **$p99 ms** (target < 50 ms; raw Postgres alone at that rate: $pg_p99 ms).

Open-loop p99 in each 5 s, in ms: $windows.$curve

CPU per signup over both loops (user + system, from /proc): gateway $cpu_gw ms, accounts $cpu_ac ms, Postgres $cpu_pg ms; the whole machine $cpu_machine ms (the rest: the load generator, the broker, the kernel, and the load generator preparing its bodies before each loop). The load generator itself during the loops (getrusage): $load_closed ms per signup closed, $load_open ms open; it opened $load_connections connections over both loops (one per request in flight, no cap).
MD
if [[ -n "${COFFRE_BENCH_DRY:-}" ]]; then cat "$section"; else python3 "$COFFRE_ROOT/bench/update_results.py" signups <"$section"; fi
rm -f "$section"
echo "pgbench: $pg_tps tps; gateway signups: $max_rate/s (ratio $ratio); open loop at $offered/s: p99 $p99 ms (pgbench at that rate: p99 $pg_p99 ms); CPU ms per signup: gateway $cpu_gw, accounts $cpu_ac, postgres $cpu_pg, machine $cpu_machine, load generator $load_closed closed / $load_open open"
