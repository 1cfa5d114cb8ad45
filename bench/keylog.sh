#!/usr/bin/env bash
# Key directory: transparency-log appends per second with batched sequencing
# and proof latency at ENTRIES entries, next to the raw Postgres insert rate
# of the same rows, in the same run.
#
#   bash bench/keylog.sh [ENTRIES]   (default 1000000; ./coffre bench runs it
#                                     unless COFFRE_BENCH_SKIP_KEYLOG is set)
#
# Its own Postgres (data $COFFRE_CACHE/bench-keylog-data, port 55472), so it
# never meets the other benchmarks' state. No Kafka, no HTTP: coffre-bench
# keylog (Tools/Bench/KeyLog.swift) drives the service's own code.
# 1. ENTRIES valid publishes queued (KEYDIR_BATCH_SIZE-independent), as the
#    account events consumer queues them; COFFRE_BENCH_KEYLOG_KEY_PAIRS
#    (256) self-signed key pairs handed out in turn.
# 2. LogSequencer.drain() appends them in batches of
#    COFFRE_BENCH_KEYLOG_BATCH (1024, the service's default): appends/s.
# 3. Baselines: the same keydir.entries rows, one unnest INSERT per batch of
#    the same size into a copy of the table (same columns, keys, indexes);
#    then those rows plus the same tree_nodes rows in one transaction per
#    batch. No hashing, signing or account state.
# 4. COFFRE_BENCH_KEYLOG_INCLUSION (2000) random inclusion proofs and
#    COFFRE_BENCH_KEYLOG_CONSISTENCY (500) consistency proofs at the full
#    size, one at a time, through the routes' code; every proof then
#    verified against the signed checkpoints.
# 5. Steps 1-3 again for COFFRE_BENCH_KEYLOG_EXTRA_COUNT (200000) entries in
#    batches of COFFRE_BENCH_KEYLOG_EXTRA_BATCH (4096; 0 skips it).
# COFFRE_BENCH_QUIET_WAIT (3600 s) bounds the wait for other builds/tests to
# finish; the section says if any ran during the timed phases anyway.
# COFFRE_BENCH_DRY=1 prints the section and leaves bench/RESULTS.md alone.
# COFFRE_BENCH_PROFILE=DIR records the machine with perf while it runs:
# DIR/keylog.data (perf report -i DIR/keylog.data --no-children --sort comm,dso,sym).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
ENTRIES="${1:-1000000}"
BATCH="${COFFRE_BENCH_KEYLOG_BATCH:-1024}"
EXTRA_BATCH="${COFFRE_BENCH_KEYLOG_EXTRA_BATCH:-4096}"
EXTRA_COUNT="${COFFRE_BENCH_KEYLOG_EXTRA_COUNT:-200000}"
KEY_PAIRS="${COFFRE_BENCH_KEYLOG_KEY_PAIRS:-256}"
INCLUSION="${COFFRE_BENCH_KEYLOG_INCLUSION:-2000}"
CONSISTENCY="${COFFRE_BENCH_KEYLOG_CONSISTENCY:-500}"
export COFFRE_DATA="${COFFRE_BENCH_KEYLOG_DATA:-$COFFRE_CACHE/bench-keylog-data}"
export COFFRE_PG_PORT="${COFFRE_BENCH_KEYLOG_PG_PORT:-55472}"
CONFIG="${COFFRE_BENCH_BUILD:-release}"
SCRATCH="$COFFRE_ROOT/.build-$CONFIG"
BUSY_PATTERN='swift-build|swift-frontend|swift-test|xctest'
cd "$COFFRE_ROOT"
need_cmd python3 psql

tmp="$(mktemp -d)"
perf_pid=""; sampler_pid=""
cleanup() {
  [[ -n "$perf_pid" ]] && kill -INT "$perf_pid" 2>/dev/null || true
  [[ -n "$sampler_pid" ]] && kill "$sampler_pid" 2>/dev/null || true
  bash "$COFFRE_SCRIPTS/pg.sh" stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

bash "$COFFRE_SCRIPTS/pg.sh" start
# Every run starts from an empty database (services migrate it at start-up):
# the bench database otherwise keeps every earlier run's rows (it had grown to
# 1.4 GB), and figures then drift with its size from run to run.
bash "$COFFRE_SCRIPTS/pg.sh" fresh-db
PG_URL="$(bash "$COFFRE_SCRIPTS/pg.sh" url)"
BIN="$(bench_binaries "$CONFIG" "$SCRATCH" coffre-bench)"

busy() { pgrep -f "$BUSY_PATTERN" >/dev/null 2>&1; }
wait_quiet() {
  local deadline=$((SECONDS + ${COFFRE_BENCH_QUIET_WAIT:-3600}))
  while busy && ((SECONDS < deadline)); do sleep 5; done
}
disturbed=()
note_busy() { busy && disturbed+=("$1") || true; }
# Other processes' CPU use while the benchmark runs: the busiest commands
# outside this run, sampled every 5 s (load average alone counts ourselves).
sample_others() {
  while sleep 5; do
    ps -eo pcpu=,comm= --sort=-pcpu | awk '$2 !~ /^(coffre-bench|postgres|ps|awk|head)$/ && $1 >= 20 {print $2}' | head -n 5
  done >"$tmp/others" 2>/dev/null
}

log "keylog: $ENTRIES entries, batches of $BATCH (then $EXTRA_COUNT in batches of $EXTRA_BATCH)"
wait_quiet
note_busy keylog
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
sample_others </dev/null >/dev/null 2>&1 & sampler_pid=$!
if [[ -n "${COFFRE_BENCH_PROFILE:-}" ]]; then
  mkdir -p "$COFFRE_BENCH_PROFILE"
  perf record -e cpu-clock -g -a -o "$COFFRE_BENCH_PROFILE/keylog.data" >/dev/null 2>&1 &
  perf_pid=$!
fi
t0=$(date +%s)
"$BIN/coffre-bench" keylog --postgres "$PG_URL" --count "$ENTRIES" --batch-size "$BATCH" --key-pairs "$KEY_PAIRS" \
  --inclusion "$INCLUSION" --consistency "$CONSISTENCY" --extra-batch-size "$EXTRA_BATCH" --extra-count "$EXTRA_COUNT" >"$tmp/keylog.out"
t1=$(date +%s)
if [[ -n "$perf_pid" ]]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; perf_pid=""; fi
kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""
note_busy keylog
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

export ENTRIES CONFIG load_before load_after
export result="$(tail -n 1 "$tmp/keylog.out")" wall_s=$((t1 - t0))
export others="$(sort "$tmp/others" 2>/dev/null | uniq -c | sort -rn | awk '{printf "%s%s (%d samples)", sep, $2, $1; sep=", "}')"
export machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), PostgreSQL $(psql --version | awk '{print $3}') (scripts/pg.sh settings: fsync and synchronous_commit on)"
export disturbed_list="$(printf '%s\n' "${disturbed[@]}" | sort -u | paste -sd' ')" today="$(date -u +%Y-%m-%d)" busy_pattern="$BUSY_PATTERN"
python3 - "$tmp/section.md" <<'PY'
import json, os, sys
e = os.environ
r = json.loads(e["result"])
a, p = r["append"], r["proofs"]
x = r.get("append_extra")
def rates(a):
    return (a["appends_per_second"], a["baseline_entries_per_second"], a["baseline_nodes_per_second"])
def rows(a, label):
    app, base, nodes = rates(a)
    return f"""| **{label}: `LogSequencer.drain()`** | **{app:.0f}** | {a['entries']} entries in {a['drain_seconds']:.1f} s: per batch one transaction (advisory lock, account states, entries, tree nodes, queue settled, directory upserted, checkpoint signed) |
| raw INSERT of the same `entries` rows ({a['batch_size']} per `unnest` statement) | {base:.0f} | baseline; {a['baseline_entries_seconds']:.1f} s |
| raw INSERT of the same `entries` + `tree_nodes` rows (one transaction per batch) | {nodes:.0f} | baseline; {a['node_rows']} node rows, {a['baseline_nodes_seconds']:.1f} s |"""
app, base, nodes = rates(a)
def lat(s, name):
    return f"| {name} | {s['count']} | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} | **{s['p99_ms']:.2f}** | {s['max_ms']:.2f} |"
quiet = (f"Other builds or tests ran during the run: {e['disturbed_list']} (pgrep -f '{e['busy_pattern']}'); the figures may be low."
         if e["disturbed_list"] else "No swift-build, swift-frontend or swift-test/xctest process ran when the run started or ended (pgrep -f).")
if e.get("others"):
    quiet += f" Other processes above 20% CPU in 5 s samples: {e['others']}."
quiet += f" Load average {e['load_before']} before, {e['load_after']} after."
extra = ""
if x:
    xa, xb, xn = rates(x)
    extra = f"""

Another batch size, on a fresh log of {x['entries']} entries:

| what | rows/s | notes |
|---|---:|---|
{rows(x, f"batches of {x['batch_size']}")}

Sequencer / raw `entries` INSERT: **{xa / xb:.2f}**; / `entries` + `tree_nodes`: **{xa / xn:.2f}**."""
print(f"""## Key directory: log appends, proof latency

Command: `bash bench/keylog.sh {e['ENTRIES']}` (part of `./coffre bench`; coffre-bench built {e['CONFIG']}, {e['today']}, {e['wall_s']} s wall). Machine: {e['machine']}.
{a['entries']} `publish` entries (valid keys and self-signatures: {r['key_pairs']} key pairs handed out in turn to fresh accounts, one tenant), queued as account events queue them ({a['entries'] / a['enqueue_seconds']:.0f}/s), then appended by the service's sequencer; ~{a['entry_bytes']:.0f}-byte entries. The baselines insert the very rows the sequencer wrote, read back outside the clock, into copies of its tables (`LIKE ... INCLUDING ALL`). {quiet}

| what | rows/s | notes |
|---|---:|---|
{rows(a, f"batches of {a['batch_size']}")}

Sequencer / raw `entries` INSERT: **{app / base:.2f}**; / `entries` + `tree_nodes`: **{app / nodes:.2f}**.{extra}

Proofs at size {p['size']}, one at a time on one pooled connection, through the code `GET /v1/log/proof/inclusion` and `/v1/log/proof/consistency` run (`LogBenchmark.inclusionProof` / `consistencyProof`: the newest checkpoint read, the plan's node hashes fetched in one `unnest` join, assembled), without HTTP; random indices, consistency from a random earlier checkpoint. All {p['verified']} proofs were then verified with KeyTransparency against the log's signed checkpoints (notes checked with its verifier key), and each proved entry's self-signature.

| proof | count | p50 ms | p90 ms | p99 ms | max ms |
|---|---:|---:|---:|---:|---:|
{lat(p['inclusion'], f"inclusion (~{p['inclusion_hashes']} hashes)")}
{lat(p['consistency'], "consistency")}
""", file=open(sys.argv[1], "w"))
print(f"keylog: {app:.0f} appends/s (raw entries INSERT {base:.0f}/s, + tree nodes {nodes:.0f}/s); "
      f"inclusion p99 {p['inclusion']['p99_ms']:.2f} ms, consistency p99 {p['consistency']['p99_ms']:.2f} ms at {p['size']}")
PY
if [[ -n "${COFFRE_BENCH_DRY:-}" ]]; then cat "$tmp/section.md"; else python3 "$COFFRE_ROOT/bench/update_results.py" keylog <"$tmp/section.md"; fi
