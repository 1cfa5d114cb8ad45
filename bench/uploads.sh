#!/usr/bin/env bash
# Large uploads: Coffre (through the gateway, and straight to ingest) next to
# Debian's nginx taking the same files by WebDAV PUT, in the same run, on the
# same filesystem, with the same client (coffre-bench uploads).
#
#   bash bench/uploads.sh [CONCURRENCY]   (default 16; ./coffre bench runs it)
#
# 1. nginx PUT ×N (generated config: WebDAV PUT, worker_processes auto,
#    reuseport so every worker takes connections, no access log); its time is
#    reported as measured and with a `sync` after the run (Coffre fsyncs
#    before it answers; nginx does not). The target compares against the one
#    with the sync.
# 2. gateway → ingest, tus creation-with-upload ×N.
# 3. a bare TCP relay (bench/relay.c, built here with cc) → ingest ×N: the
#    cheapest hop there can be between the client and ingest, so the
#    gateway's own cost shows apart from what any proxy costs on this
#    machine. COFFRE_BENCH_RELAY=copy (default; read/write, as a user-space
#    proxy does) or splice (the bytes stay in the kernel).
# 4. ingest directly (identity headers signed as the gateway does) ×N.
# 5. ingest restarted, then 2N (32) uploads straight to it: its peak RSS (VmHWM).
# Steps 1-4 run COFFRE_BENCH_ROUNDS (3) times, interleaved: this machine's
# speed drifts from minute to minute (nginx took 7.0 CPU s for the same 4 GiB
# in one run and 14.7 in another), so each target is reported by its median
# round, and each round's gateway/nginx and gateway/direct ratios (phases
# run back to back) are listed too.
# Every upload is COFFRE_BENCH_UPLOAD_MIB (256) MiB of one random file,
# streamed from disk. Uploaded data is deleted between phases.
# COFFRE_BENCH_DRY=1 prints the figures and leaves bench/RESULTS.md alone.
# COFFRE_BENCH_PROFILE=DIR records each phase system-wide with perf (cpu-clock)
# into DIR/PHASE.data (perf report -i DIR/gateway.data --sort comm,dso,sym).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
CONCURRENCY="${1:-16}"
RSS_CONCURRENCY=$((CONCURRENCY * 2))
SIZE_MIB="${COFFRE_BENCH_UPLOAD_MIB:-256}"
export COFFRE_DATA="${COFFRE_BENCH_DATA:-$COFFRE_CACHE/bench-data}"
export COFFRE_PG_PORT="${COFFRE_BENCH_PG_PORT:-55452}"
export COFFRE_KAFKA_PORT="${COFFRE_BENCH_KAFKA_PORT:-59112}"
CONFIG="${COFFRE_BENCH_BUILD:-release}"
SCRATCH="$COFFRE_ROOT/.build-$CONFIG"
# nginx's root, its body temp files and the blob store: one directory, one filesystem.
WORK="$COFFRE_DATA/uploads"
SOURCE="$COFFRE_CACHE/bench-upload-${SIZE_MIB}MiB.bin"
# Other builds, tests and benchmarks on the machine disturb the figures: wait
# for them (at most this many seconds) before each phase, note any build or
# test seen during one, and report the CPU time of everything else ("rest").
QUIET_WAIT="${COFFRE_BENCH_QUIET_WAIT:-3600}"
ROUNDS="${COFFRE_BENCH_ROUNDS:-3}"
RELAY_MODE="${COFFRE_BENCH_RELAY:-copy}"
[[ $RELAY_MODE == copy || $RELAY_MODE == splice ]] || { echo "COFFRE_BENCH_RELAY must be copy or splice" >&2; exit 2; }
BUSY_PATTERN='swift-build|swift-frontend|swift-test|xctest'
cd "$COFFRE_ROOT"
need_cmd nginx python3 curl cc

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
AC_PORT=$(free_port); IN_PORT=$(free_port); GW_PORT=$(free_port); NX_PORT=$(free_port); RL_PORT=$(free_port)
export COFFRE_INTERNAL_SECRET="bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"

declare -A pids=()
nginx_pid=""
relay_pid=""
watcher=""
cleanup() {
  [[ -n "$watcher" ]] && kill "$watcher" 2>/dev/null || true
  [[ -n "$relay_pid" ]] && kill "$relay_pid" 2>/dev/null || true
  [[ -n "$nginx_pid" ]] && kill -QUIT "$nginx_pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  bash "$COFFRE_SCRIPTS/kafka.sh" stop >/dev/null 2>&1 || true
  bash "$COFFRE_SCRIPTS/pg.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

need_kib=$(( (RSS_CONCURRENCY * SIZE_MIB + SIZE_MIB + 2048) * 1024 ))
mkdir -p "$COFFRE_DATA" "$COFFRE_CACHE"
avail_kib=$(df -Pk "$COFFRE_DATA" | awk 'NR == 2 {print $4}')
((avail_kib >= need_kib)) || die "$COFFRE_DATA has $((avail_kib / 1024)) MiB free; the benchmark needs $((need_kib / 1024)) MiB"

bash "$COFFRE_SCRIPTS/setup.sh"
nginx -V 2>&1 | grep -q -- '--with-http_dav_module' || die "nginx lacks http_dav_module"
bash "$COFFRE_SCRIPTS/pg.sh" start
# Every run starts from an empty database (services migrate it at start-up):
# the bench database otherwise keeps every earlier run's rows (it had grown to
# 1.4 GB), and figures then drift with its size from run to run.
bash "$COFFRE_SCRIPTS/pg.sh" fresh-db
bash "$COFFRE_SCRIPTS/kafka.sh" start
bash "$COFFRE_SCRIPTS/kafka.sh" topics
BIN="$(bench_binaries "$CONFIG" "$SCRATCH" gateway accounts ingest coffre-bench)"
PG_URL="$(bash "$COFFRE_SCRIPTS/pg.sh" url)"

if [[ ! -f "$SOURCE" || $(stat -c %s "$SOURCE") -ne $((SIZE_MIB << 20)) ]]; then
  log "writing $SIZE_MIB MiB of random bytes to $SOURCE (once)"
  head -c $((SIZE_MIB << 20)) /dev/urandom >"$SOURCE.tmp" && mv "$SOURCE.tmp" "$SOURCE"
fi
cat "$SOURCE" >/dev/null  # in the page cache for every target alike

rm -rf "$WORK"
mkdir -p "$WORK/blobs" "$WORK/nginx/root" "$WORK/nginx/tmp" "$WORK/logs"
LOGS="$WORK/logs"
RUN_LOGS="$COFFRE_DATA/run"; mkdir -p "$RUN_LOGS"

start_service() {  # NAME VAR=VALUE...
  local name=$1; shift
  env COFFRE_POSTGRES_URL="$PG_URL" COFFRE_KAFKA_BROKERS="127.0.0.1:$COFFRE_KAFKA_PORT" COFFRE_LOG_LEVEL=warning \
    "$@" "$BIN/$name" >>"$RUN_LOGS/bench-uploads-$name.log" 2>&1 &
  pids[$name]=$!
}
wait_ready() {  # NAME PORT
  local deadline=$((SECONDS + 90))
  until curl -fs "http://127.0.0.1:$2/readyz" >/dev/null; do
    ((SECONDS < deadline)) && pid_alive "${pids[$1]}" || die "$1 not ready: $(tail -5 "$RUN_LOGS/bench-uploads-$1.log")"
    sleep 0.2
  done
}
start_ingest() {
  start_service ingest INGEST_HTTP_PORT="$IN_PORT" INGEST_BLOB_DIR="$WORK/blobs"
  wait_ready ingest "$IN_PORT"
}
start_service accounts ACCOUNTS_HTTP_PORT="$AC_PORT"
start_ingest
start_service gateway GATEWAY_HTTP_PORT="$GW_PORT" GATEWAY_ACCOUNTS_URLS="http://127.0.0.1:$AC_PORT" \
  GATEWAY_INGEST_URLS="http://127.0.0.1:$IN_PORT" GATEWAY_RATE_PER_IP_PER_MINUTE=1000000 GATEWAY_RATE_PER_IP_BURST=100000
wait_ready accounts "$AC_PORT"
wait_for_port 127.0.0.1 "$GW_PORT" 30 || die "gateway not listening"

cat >"$WORK/nginx/nginx.conf" <<CONF
# Generated by bench/uploads.sh: WebDAV PUT into a directory, nothing else.
daemon off;
user root;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$NX_PORT reuseport;
        root $WORK/nginx/root;
        location / {
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 0;
        }
    }
}
CONF
nginx -t -q -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" || die "nginx refused the generated configuration"
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>>"$WORK/nginx/error.log" &
nginx_pid=$!
wait_for_port 127.0.0.1 "$NX_PORT" 10 || die "nginx did not start: $(tail -3 "$WORK/nginx/error.log")"

cc -O2 -pthread -o "$WORK/relay" bench/relay.c
"$WORK/relay" "$RELAY_MODE" "$RL_PORT" "$IN_PORT" 2>>"$LOGS/relay.log" &
relay_pid=$!
wait_for_port 127.0.0.1 "$RL_PORT" 10 || die "the relay did not start: $(tail -3 "$LOGS/relay.log")"

# A fresh account through the gateway (retried while the gateway fetches its token keys).
bench_user() {
  local out
  for _ in $(seq 1 30); do
    out=$("$BIN/coffre-bench" user --gateway "http://127.0.0.1:$GW_PORT" 2>/dev/null) && { echo "$out"; return 0; }
    sleep 1
  done
  die "could not sign up a benchmark account through the gateway"
}
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

# Busy: a build or test runs, or the machine was less than 80% idle over
# 3 s (another benchmark; this stack idles at a few percent).
busy() {
  pgrep -f "$BUSY_PATTERN" >/dev/null 2>&1 && return 0
  local a b
  a=($(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)); sleep 3
  b=($(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat))
  (( (b[1] - a[1]) * 100 < 80 * (b[0] - a[0] + b[1] - a[1]) ))
}
wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT)) announced=""
  while busy; do
    [[ -n "$announced" ]] || { log "waiting for a quiet machine (no build or test: pgrep -f '$BUSY_PATTERN'; at least 80% idle)"; announced=1; }
    ((SECONDS < deadline)) || { log "still busy after ${QUIET_WAIT}s; measuring anyway"; return 0; }
    sleep 5
  done
}
# Notes every process matching BUSY_PATTERN seen while a phase runs.
watch_start() {
  : >"$LOGS/busy.$1"
  ( while true; do pgrep -fa "$BUSY_PATTERN" | cut -c1-80 >>"$LOGS/busy.$1" || true; sleep 1; done ) &
  watcher=$!
}
watch_stop() { kill "$watcher" 2>/dev/null || true; wait "$watcher" 2>/dev/null || true; watcher=""; }
disturbed=()
clear_data() { rm -rf "$WORK/nginx/root/"* "$WORK/blobs/blobs/"*; sync; }

# CPU time, in clock ticks (proc_ticks, machine_ticks: scripts/lib.sh), of
# the processes of the run and of the whole machine: where the time of a
# phase goes. Children's (reaped) time counts for the shell (the client) and
# for nginx's master.
# The shell's reaped children (the client): `times` must run in this shell, not a subshell.
shell_children_ticks() {
  times >"$LOGS/times"
  awk -v hz="$(getconf CLK_TCK)" 'NR == 2 {
    n = split($0, f, " "); s = 0
    for (i = 1; i <= n; i++) { split(f[i], m, "m"); sub("s", "", m[2]); s += m[1] * 60 + m[2] }
    printf "%d\n", s * hz }' "$LOGS/times"
}
# Sets SNAPSHOT to: machine client gateway ingest nginx accounts relay (ticks).
cpu_snapshot() {
  shell_children_ticks >"$LOGS/children"
  SNAPSHOT="$(machine_ticks) $(cat "$LOGS/children") $(proc_ticks "${pids[gateway]}")"
  SNAPSHOT+=" $(proc_ticks "${pids[ingest]}") $(proc_ticks "$nginx_pid" $(pgrep -P "$nginx_pid")) $(proc_ticks "${pids[accounts]}")"
  SNAPSHOT+=" $(proc_ticks "$relay_pid")"
}
# cpu_report BEFORE AFTER: seconds of CPU per process during the phase.
cpu_report() {
  python3 - "$1" "$2" "$(getconf CLK_TCK)" <<'PY'
import sys
b, a, hz = [int(x) for x in sys.argv[1].split()], [int(x) for x in sys.argv[2].split()], int(sys.argv[3])
names = ["machine", "client", "gateway", "ingest", "nginx", "accounts", "relay"]
d = {n: (y - x) / hz for n, x, y in zip(names, b, a)}
d["rest"] = d["machine"] - sum(d[n] for n in ("client", "gateway", "ingest", "nginx", "relay"))
print(" ".join(f"{n}={d[n]:.1f}" for n in names + ["rest"]))
PY
}

# phase NAME CONCURRENCY ARGS...: prints coffre-bench's JSON; fails on any failed upload.
phase() {
  local name=$1 n=$2; shift 2
  clear_data
  wait_quiet
  # Access tokens live minutes: a fresh account right before the run (--token FRESH).
  local args=() a
  for a in "$@"; do
    if [[ $a == FRESH ]]; then user=$(bench_user); a=$(field "$user" access_token); fi
    args+=("$a")
  done
  set -- "${args[@]}"
  log "$name: $n × $SIZE_MIB MiB at once"
  watch_start "$name"
  local out rc=0 perf_pid=""
  if [[ -n "${COFFRE_BENCH_PROFILE:-}" ]]; then
    mkdir -p "$COFFRE_BENCH_PROFILE"
    perf record -q -a -g -e cpu-clock -o "$COFFRE_BENCH_PROFILE/$name.data" 2>/dev/null &
    perf_pid=$!; sleep 1
  fi
  cpu_snapshot; local before=$SNAPSHOT
  out=$("$BIN/coffre-bench" uploads --concurrency "$n" --size-mib "$SIZE_MIB" --file "$SOURCE" "$@") || rc=$?
  cpu_snapshot; cpu_report "$before" "$SNAPSHOT" >"$LOGS/$name.cpu"
  echo "$out" >"$LOGS/$name.json"
  if [[ $name == nginx* ]]; then
    local s0 s1; s0=$(date +%s.%N); sync; s1=$(date +%s.%N)
    python3 -c "print(f'{$s1 - $s0:.3f}')" >"$LOGS/$name.sync"
  fi
  [[ -z "$perf_pid" ]] || { kill -TERM "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; }
  watch_stop
  [[ -s "$LOGS/busy.$name" ]] && disturbed+=("$name")
  ((rc == 0)) || die "$name: uploads failed: $out"
  log "$name: $out"
  log "$name: CPU seconds: $(cat "$LOGS/$name.cpu")"
}

user=""
for ((round = 1; round <= ROUNDS; round++)); do
  phase "nginx-$round" "$CONCURRENCY" --mode put --url "http://127.0.0.1:$NX_PORT"
  phase "gateway-$round" "$CONCURRENCY" --mode tus --url "http://127.0.0.1:$GW_PORT" --token FRESH
  identity="$(field "$user" tenant_id):$(field "$user" account_id):$(field "$user" session_id)"
  phase "relay-$round" "$CONCURRENCY" --mode tus --url "http://127.0.0.1:$RL_PORT" --sign-identity "$identity"
  phase "direct-$round" "$CONCURRENCY" --mode tus --url "http://127.0.0.1:$IN_PORT" --sign-identity "$identity"
done
gw_rss_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/${pids[gateway]}/status")

# Peak RSS: a fresh ingest process, so its high-water mark is this run's.
kill -TERM "${pids[ingest]}"; wait "${pids[ingest]}" 2>/dev/null || true
start_ingest
rss_start_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/${pids[ingest]}/status")
phase rss "$RSS_CONCURRENCY" --mode tus --url "http://127.0.0.1:$IN_PORT" --sign-identity "$identity"
rss_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/${pids[ingest]}/status")
clear_data

# Figures.
machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), $(findmnt -n -o FSTYPE -T "$COFFRE_DATA") on $(findmnt -n -o SOURCE -T "$COFFRE_DATA"), $(nginx -v 2>&1 | sed 's/^nginx version: //'), PostgreSQL $(psql --version | awk '{print $3}')"
export LOGS CONCURRENCY RSS_CONCURRENCY SIZE_MIB CONFIG BUSY_PATTERN machine rss_kib rss_start_kib gw_rss_kib ROUNDS RELAY_MODE
export disturbed_phases="${disturbed[*]}" today="$(date -u +%Y-%m-%d)"
python3 - "$LOGS/section.md" <<'PY'
import json, os, sys
e = os.environ
L, n, n2, mib = e["LOGS"], e["CONCURRENCY"], e["RSS_CONCURRENCY"], e["SIZE_MIB"]
R = int(e["ROUNDS"])
targets = ("nginx", "gateway", "relay", "direct")
runs = {k: [json.load(open(f"{L}/{k}-{i}.json")) for i in range(1, R + 1)] for k in targets}
cpus = {k: [dict(kv.split("=") for kv in open(f"{L}/{k}-{i}.cpu").read().split()) for i in range(1, R + 1)] for k in targets}
syncs = [float(open(f"{L}/nginx-{i}.sync").read()) for i in range(1, R + 1)]
rate = {k: [x["mib_per_second"] for x in runs[k]] for k in targets}
rate["nginx"] = [x["total_bytes"] / 1048576 / (x["wall_seconds"] + syncs[i]) for i, x in enumerate(runs["nginx"])]  # with its sync
# Each target by its median round (its CPU figures come from that round too).
median = {k: sorted(range(R), key=lambda i: rate[k][i])[R // 2] for k in targets}
r = {k: runs[k][median[k]] for k in targets}
cpu = {k: cpus[k][median[k]] for k in targets}
r["rss"] = json.load(open(f"{L}/rss.json"))
cpu["rss"] = dict(kv.split("=") for kv in open(f"{L}/rss.cpu").read().split())
sync = syncs[median["nginx"]]
rounds_line = "; ".join(f"{k} " + ", ".join(f"{v:.0f}" for v in rate[k]) for k in targets)
paired_nginx = ", ".join(f"{rate['gateway'][i] / rate['nginx'][i]:.2f}" for i in range(R))
paired_direct = ", ".join(f"{rate['gateway'][i] / rate['direct'][i]:.2f}" for i in range(R))
paired_relay = ", ".join(f"{rate['relay'][i] / rate['direct'][i]:.2f}" for i in range(R))
nx, gw, dx, rs, rl = r["nginx"], r["gateway"], r["direct"], r["rss"], r["relay"]
relay_mode = e["RELAY_MODE"]
relay_label = {"copy": "read/write, 1 MiB buffer", "splice": "splice through a pipe"}[relay_mode]
nxs_wall = nx["wall_seconds"] + sync
nxs = nx["total_bytes"] / 1048576 / nxs_wall
g_nxs, g_nx, d_nxs = gw["mib_per_second"] / nxs, gw["mib_per_second"] / nx["mib_per_second"], dx["mib_per_second"] / nxs
g_d = gw["mib_per_second"] / dx["mib_per_second"]
rl_d = rl["mib_per_second"] / dx["mib_per_second"]
rss_mb, rss_mib, idle_mb = int(e["rss_kib"]) * 1024 / 1e6, int(e["rss_kib"]) / 1024, int(e["rss_start_kib"]) * 1024 / 1e6
met = lambda ok: "met" if ok else "missed"
v_nginx, v_gw, v_rss = met(g_nxs >= 1.0), met(g_d >= 0.8), met(int(e["rss_kib"]) * 1024 < 150e6)
quiet = (f"Other builds or tests ran during: {e['disturbed_phases']} (`pgrep -f '{e['BUSY_PATTERN']}'`, checked every second); those figures may be low."
         if e["disturbed_phases"] else f"No swift-build, swift-frontend or swift-test/xctest process ran during any phase (`pgrep -f`, checked every second).")

rows = [  # label, MiB/s, wall, per-upload, phase for CPU
    (f"nginx `PUT` ×{n}, as measured (not durable)", f"{nx['mib_per_second']:.1f}", f"{nx['wall_seconds']:.2f}", f"{nx['min_seconds']:.2f}–{nx['max_seconds']:.2f}", "nginx"),
    (f"**nginx `PUT` ×{n} + `sync` ({sync:.2f} s)**", f"**{nxs:.1f}**", f"{nxs_wall:.2f}", "", None),
    (f"**Coffre: gateway → ingest, tus ×{n}**", f"**{gw['mib_per_second']:.1f}**", f"{gw['wall_seconds']:.2f}", f"{gw['min_seconds']:.2f}–{gw['max_seconds']:.2f}", "gateway"),
    (f"bare relay ({relay_label}) → ingest, tus ×{n}", f"{rl['mib_per_second']:.1f}", f"{rl['wall_seconds']:.2f}", f"{rl['min_seconds']:.2f}–{rl['max_seconds']:.2f}", "relay"),
    (f"Coffre: ingest directly, tus ×{n}", f"{dx['mib_per_second']:.1f}", f"{dx['wall_seconds']:.2f}", f"{dx['min_seconds']:.2f}–{dx['max_seconds']:.2f}", "direct"),
    (f"Coffre: ingest directly, tus ×{n2}, fresh process (peak RSS run)", f"{rs['mib_per_second']:.1f}", f"{rs['wall_seconds']:.2f}", f"{rs['min_seconds']:.2f}–{rs['max_seconds']:.2f}", "rss"),
]
def cpu_cells(phase):
    if phase is None: return [""] * 6
    c = cpu[phase]
    middle = {"gateway": c["gateway"], "relay": c["relay"]}.get(phase, "")
    return [c["client"], middle, c["ingest"] if phase != "nginx" else "",
            c["nginx"] if phase == "nginx" else "", c["rest"], c["machine"]]

print()
print(f"{'target':<62} {'MiB/s':>8} {'wall s':>7} {'each upload s':>14}   CPU s: client gateway/relay ingest nginx rest machine")
for label, rate, wall, each, phase in rows:
    print(f"{label.replace('*', '').replace('`', ''):<62} {rate.replace('*', ''):>8} {wall:>7} {each:>14}   {' '.join(f'{x:>6}' for x in cpu_cells(phase))}")
print(f"gateway / nginx with sync: {g_nxs:.2f} (target >= 1.0, {v_nginx}); gateway / nginx as measured: {g_nx:.2f}; direct / nginx with sync: {d_nxs:.2f}")
print(f"gateway / direct: {g_d:.2f} (target >= 0.8, {v_gw}); bare relay ({relay_mode}) / direct: {rl_d:.2f}, rounds {paired_relay}")
print(f"ingest peak RSS with {n2} uploads: {rss_mb:.1f} MB = {rss_mib:.1f} MiB (target < 150 MB, {v_rss})")
print(quiet.replace("`", ""))

table = "\n".join(f"| {label} | {rate} | {wall} | {each} | " + " | ".join(cpu_cells(phase)) + " |" for label, rate, wall, each, phase in rows)
md = f"""## Uploads: {n} × {mib} MiB at once, next to nginx

Command: `bash bench/uploads.sh {n}` (part of `./coffre bench`; services and coffre-bench built {e['CONFIG']}, {e['today']}). Machine: {e['machine']}.
One client for every target (`coffre-bench uploads`: AsyncHTTPClient, each body streamed from one cached random file by 512 KiB reads), {n} uploads started together, one request each: Coffre takes a tus creation-with-upload `POST /v1/uploads` carrying the whole body; nginx a WebDAV `PUT` (`worker_processes auto`, `listen … reuseport`, no access log, `client_body_temp_path` on the same filesystem as its root and as the blob store). The client, nginx, the services, Postgres and the broker share the machine's cores; uploaded data is deleted and synced away between phases.
Durability differs: Coffre answers once the bytes are fsync'd (every 8 MiB and at the end) and the commit is in Postgres; nginx answers with the bytes in the page cache. The fair baseline is nginx with a `sync` after its run counted in its time; the target compares against that one.

| target | MiB/s | wall s | each upload s (min–max) | CPU s: client | gateway or relay | ingest | nginx | rest¹ | machine |
|---|---:|---:|---|---:|---:|---:|---:|---:|---:|
{table}

¹ Everything else that ran: Postgres, the broker, accounts, kernel threads (page-cache writeback), and any other work on the machine. CPU seconds are user + system time over the phase, from /proc.

- {R} rounds, MiB/s of each (nginx with its sync): {rounds_line}. The table shows each target's median round. Within each round (phases back to back): gateway / nginx with sync {paired_nginx}; gateway / ingest directly {paired_direct}.
- Gateway / nginx with sync: **{g_nxs:.2f}** (target ≥ 1.0: **{v_nginx}**); against nginx as measured {g_nx:.2f}; ingest directly / nginx with sync {d_nxs:.2f}.
- Gateway / ingest directly: **{g_d:.2f}** (target ≥ 0.8: **{v_gw}**).
- What any hop costs here: a bare relay (`bench/relay.c`, {relay_label}; no HTTP, no checks) between the client and ingest / ingest directly: {rl_d:.2f} (median rounds, as above); per round {paired_relay}. Gateway / bare relay: {gw['mib_per_second'] / rl['mib_per_second']:.2f}.
- Ingest peak RSS (VmHWM) over {n2} concurrent {mib} MiB uploads: **{rss_mb:.1f} MB** ({rss_mib:.1f} MiB; {idle_mb:.1f} MB before the run; target < 150 MB: **{v_rss}**).
- Gateway peak RSS (VmHWM) by the end of its {n} concurrent uploads: {int(e["gw_rss_kib"]) * 1024 / 1e6:.1f} MB (no target; for the memory each upload costs it).
- {quiet}
"""
open(sys.argv[1], "w").write(md)
PY
[[ -z "${COFFRE_BENCH_DRY:-}" ]] || { cat "$LOGS/section.md"; exit 0; }
python3 "$COFFRE_ROOT/bench/update_results.py" uploads <"$LOGS/section.md"
