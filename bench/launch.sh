#!/usr/bin/env bash
# Launch replay: the `launch` trace (Tools/Load/Traces/launch.json) against
# the whole stack on this machine, with verification, its report and chart
# in bench/launch/, and the peak figures in bench/RESULTS.md next to the
# machine's ceilings measured by bench/signups.sh (pgbench, signup-shaped
# transactions) and bench/uploads.sh (nginx WebDAV PUT).
#
#   bash bench/launch.sh [coffre-load options]   (./coffre bench runs it; skip with COFFRE_BENCH_SKIP_LAUNCH=1)
#
# e.g. `bash bench/launch.sh --time-scale 0.2` for a one-minute rehearsal.
# Its own Postgres/Tansu (bench ports); accounts, keydir, quota, ingest and gateway
# built $COFFRE_BENCH_BUILD (release). The gateway trusts X-Forwarded-For
# (each synthetic account is a client of its own) and keeps its default load
# shedding; the run's tenant lifts the per-tenant signup/login rate limits,
# as an operator would for a launch. The load generator shares the cores.
# The run fails (non-zero) if verification fails; RESULTS.md says so either way.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
export COFFRE_DATA="${COFFRE_BENCH_DATA:-$COFFRE_CACHE/bench-data}"
export COFFRE_PG_PORT="${COFFRE_BENCH_PG_PORT:-55452}"
export COFFRE_KAFKA_PORT="${COFFRE_BENCH_KAFKA_PORT:-59112}"
CONFIG="${COFFRE_BENCH_BUILD:-release}"
SCRATCH="$COFFRE_ROOT/.build-$CONFIG"
[[ "$CONFIG" == debug ]] && SCRATCH="$COFFRE_ROOT/.build"
OUT="$COFFRE_ROOT/bench/launch"
WORK="$COFFRE_DATA/launch"
cd "$COFFRE_ROOT"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
AC_PORT=$(free_port); KD_PORT=$(free_port); QU_PORT=$(free_port); IN_PORT=$(free_port); GW_PORT=$(free_port)
export COFFRE_INTERNAL_SECRET="bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export COFFRE_ADMIN_TOKEN="bench-admin-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  bash "$COFFRE_SCRIPTS/kafka.sh" stop >/dev/null 2>&1 || true
  bash "$COFFRE_SCRIPTS/pg.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bash "$COFFRE_SCRIPTS/setup.sh"
bash "$COFFRE_SCRIPTS/pg.sh" start
# Every run starts from an empty database (services migrate it at start-up):
# the bench database otherwise keeps every earlier run's rows (it had grown to
# 1.4 GB), and figures then drift with its size from run to run.
bash "$COFFRE_SCRIPTS/pg.sh" fresh-db
bash "$COFFRE_SCRIPTS/kafka.sh" start
bash "$COFFRE_SCRIPTS/kafka.sh" topics
BIN="$(bench_binaries "$CONFIG" "$SCRATCH" accounts keydir quota ingest gateway coffre-load)"
PG_URL="$(bash "$COFFRE_SCRIPTS/pg.sh" url)"
rm -rf "$WORK"; mkdir -p "$WORK/blobs" "$WORK/scratch" "$COFFRE_DATA/run" "$OUT"
common=(COFFRE_POSTGRES_URL="$PG_URL" COFFRE_KAFKA_BROKERS="127.0.0.1:$COFFRE_KAFKA_PORT" COFFRE_LOG_LEVEL=warning)
start() {
  local name=$1; shift
  env "${common[@]}" "$@" "$BIN/$name" >"$COFFRE_DATA/run/launch-$name.log" 2>&1 &
  pids+=($!)
}
start accounts ACCOUNTS_HTTP_PORT=$AC_PORT COFFRE_POSTGRES_POOL_SIZE=16
start keydir KEYDIR_HTTP_PORT=$KD_PORT KEYDIR_INGEST_URL="http://127.0.0.1:$IN_PORT" KEYDIR_CONSUMER_GROUP="keydir-launch-$RANDOM$RANDOM"
start quota QUOTA_HTTP_PORT=$QU_PORT QUOTA_INGEST_URL="http://127.0.0.1:$IN_PORT" QUOTA_CONSUMER_GROUP="quota-launch-$RANDOM$RANDOM"
start ingest INGEST_HTTP_PORT=$IN_PORT INGEST_BLOB_DIR="$WORK/blobs" INGEST_QUOTA_URL="http://127.0.0.1:$QU_PORT" \
  INGEST_KEYDIR_URL="http://127.0.0.1:$KD_PORT" INGEST_CONSUMER_GROUP="ingest-launch-$RANDOM$RANDOM"
start gateway GATEWAY_HTTP_PORT=$GW_PORT GATEWAY_ACCOUNTS_URLS="http://127.0.0.1:$AC_PORT" \
  GATEWAY_KEYDIR_URLS="http://127.0.0.1:$KD_PORT" GATEWAY_INGEST_URLS="http://127.0.0.1:$IN_PORT" GATEWAY_QUOTA_URLS="http://127.0.0.1:$QU_PORT" GATEWAY_TRUST_FORWARDED_FOR=true
for url in "$AC_PORT/readyz" "$KD_PORT/readyz" "$QU_PORT/readyz" "$IN_PORT/readyz" "$GW_PORT/readyz"; do
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$url" >/dev/null && break; sleep 0.3; done
  curl -fs "http://127.0.0.1:$url" >/dev/null || die "127.0.0.1:$url is not ready: $(tail -n 5 "$COFFRE_DATA"/run/launch-*.log)"
done
sleep 2  # the gateway loads accounts' token keys

log "coffre-load launch (load $(uptime | sed 's/.*load average: //'))"
set +e
"$BIN/coffre-load" launch --gateway "http://127.0.0.1:$GW_PORT" --scratch "$WORK/scratch" \
  --json "$OUT/report.json" --svg "$OUT/chart.svg" "$@" | tee "$OUT/report.txt"
rc=${PIPESTATUS[0]}
set -e
[[ -f "$OUT/report.json" ]] || die "coffre-load wrote no report (exit $rc)"

machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), PostgreSQL $(psql --version | awk '{print $3}'), Tansu $TANSU_VERSION"
python3 - "$OUT/report.json" "$COFFRE_ROOT/bench/RESULTS.md" "$CONFIG" "$machine" "bash bench/launch.sh${*:+ $*}" <<'PY' | python3 "$COFFRE_ROOT/bench/update_results.py" launch
import json, re, sys, datetime
report, results, config, machine, command = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
r = json.load(open(report))
text = open(results).read()
def grab(pattern):
    m = re.search(pattern, text)
    return m.group(1) if m else None
# The ceilings, as the other benchmarks last wrote them.
pg_tps = grab(r"raw Postgres, pgbench[^|]*\|\s*(\d+)")
gw_max = grab(r"gateway → accounts, closed loop[^|]*\|\s*\*\*(\d+)\*\*")
nginx_sync = grab(r"nginx `PUT`[^|\n]*\+ `sync`[^|\n]*\|\s*\*\*([\d.]+)\*\*")
nginx_raw = grab(r"nginx `PUT`[^|\n]*as measured[^|\n]*\|\s*([\d.]+)")
phases = sorted(r["phases"].items(), key=lambda kv: kv[1])
names = [n for n, _ in phases]
peak = "peak" if "peak" in r["phases"] else names[-1]
start = r["phases"][peak]
later = [s for _, s in phases if s > start]
end = min(later) if later else r["duration_seconds"]
window = [s for s in r["timeline"] if start <= s["t"] < end]
span = max(1e-9, len(window))
def rate(kind, key="ok"):
    return sum(s[key].get(kind, 0) for s in window) / span
offered = sum(sum(s["offered"].values()) for s in window)
shed = sum(s["shed"] for s in window)
dropped = sum(s["dropped"] for s in window)
errors = sum(s["errors"] for s in window)
mib = 1024 * 1024
up_peak = sum(s["uploaded_bytes"] for s in window) / span / mib
def p99s(kind):
    vals = sorted(s["p99_ms"][kind] for s in window if kind in s["p99_ms"])
    return (vals[len(vals) // 2], vals[-1]) if vals else (None, None)
def fmt(v, d=1):
    return "-" if v is None else f"{v:.{d}f}"
ops = r["operations"]
v = r["verification"]
rows = []
for kind in ["signup", "login", "upload", "download", "share"]:
    if kind not in ops: continue
    o = ops[kind]
    c = o["outcomes"]
    other = c.get("network", 0) + c.get("failed", 0)
    rows.append(f"| {kind} | {o['offered']} | {fmt(o['offered_per_second'])} | {fmt(o['achieved_per_second'])} | {c.get('ok', 0)} | "
                f"{c.get('shed', 0)} | {c.get('4xx', 0)} | {c.get('5xx', 0)} | {c.get('timeout', 0)} | {other} | {c.get('dropped', 0)} | "
                f"{fmt(o.get('p50_ms'))} | {fmt(o.get('p90_ms'))} | **{fmt(o.get('p99_ms'))}** | {fmt(o.get('p99_9_ms'))} | {fmt(o.get('max_ms'))} |")
sp50, spmax = p99s("signup")
up50, upmax = p99s("upload")
verdict = "**passed**" if v["passed"] else f"**FAILED** ({v['failure_count']} failures: " + "; ".join(v["failures"][:3]) + ")"
catch = "never (within the bound)" if v.get("ledger_catch_up_seconds") is None else f"within {v['ledger_catch_up_seconds']:.1f} s of its first check (longest account)"
print(f"""## Launch replay (`launch` trace)

Command: `{command}` (part of `./coffre bench`; services and coffre-load built {config}, {datetime.date.today()}). Machine: {machine}.
The whole stack (gateway, accounts, keydir, quota, ingest, Postgres, Tansu) and the load generator share the machine's cores; Argon2id runs client-side with the load tool's light profile (1 pass, 8 MiB).
Report: [bench/launch/report.txt](launch/report.txt), [report.json](launch/report.json), chart [bench/launch/chart.svg](launch/chart.svg).
Open model: latency from each operation's scheduled start; {r['duration_seconds']:.0f} s, concurrency cap {r['concurrency_cap']} (peak {r['peak_concurrency']}).

At the peak (phase `{peak}`, {end - start:.0f} s):

| what | figure | ceiling on this machine |
|---|---:|---|
| **sustained signups/s** (acknowledged) | **{rate('signup'):.1f}** | pgbench signup-shaped transactions: {pg_tps or '-'} tx/s; gateway → accounts alone (closed loop): {gw_max or '-'} /s |
| signups/s offered | {rate('signup', 'offered'):.1f} | |
| **upload throughput** (plaintext acknowledged) | **{up_peak:.2f} MiB/s** | nginx PUT (bench/uploads.sh, 16 × 256 MiB): {nginx_sync or '-'} MiB/s with a sync, {nginx_raw or '-'} MiB/s as measured |
| signup p99 per second, median / worst | {fmt(sp50)} / {fmt(spmax)} ms | |
| upload p99 per second, median / worst | {fmt(up50)} / {fmt(upmax)} ms | |
| **shed (429/503)** | **{shed} of {offered} offered ({100 * shed / max(1, offered):.1f}%)** | |
| other errors / dropped (not started in time) | {errors - shed} / {dropped} | |

Whole run:

| op | offered | offered/s | achieved/s | ok | shed | 4xx | 5xx | timeout | other | dropped | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
""" + "\n".join(rows) + f"""

Verified upload throughput (bytes uploaded during the load and read back intact): **{r['verified_upload_bytes_per_second'] / mib:.2f} MiB/s**.
Verification {verdict}: {v['logins_ok']}/{v['accounts']} accounts log in, {v['uploads_intact']}/{v['uploads']} uploads read back intact,
{v.get('shares_intact', 0)}/{v.get('shares', 0)} shares opened and read back intact by their recipients,
quota's ledger agreed with ingest {catch}, {v['accounts_over_quota']} accounts over quota, {v['committed_not_acknowledged']} committed uploads never acknowledged.""")
PY
log "bench/RESULTS.md updated (launch); report in bench/launch/"
exit "$rc"
