#!/usr/bin/env bash
# Quota: ledger events applied per second next to kcat consuming the same
# topic in a consumer group, in the same run; reservation latency under
# bursts of 500 concurrent reservations.
#
#   bash bench/quota.sh [EVENTS] [ACCOUNTS]   (default 200000 2000; ./coffre bench
#                                              runs it unless COFFRE_BENCH_SKIP_QUOTA is set)
#
# Its own Postgres and Tansu (data $COFFRE_CACHE/bench-quota-data, ports
# 55462 / 59122), so it never meets the other benchmarks' state.
# 1. EVENTS CloudEvents shaped as accounts and ingest publish them, keyed by
#    account: coffre.account.created for ACCOUNTS accounts of 20 tenants,
#    then blob.committed / blob.deleted / transfer.served (60/15/25 %),
#    produced into a fresh 6-partition topic with kcat -P.
# 2. kcat consumes that topic in a consumer group (as bench/run.sh).
# 3. The release `quota` consumes it as its blobs topic in a group of its
#    own; timed from /readyz (migrations done; the group join is inside the
#    time, as for kcat) until quota.processed_events holds every event id.
#    The per-tenant totals of the admin API must then equal the sums the
#    generator computed.
# 4. coffre-bench reservations against that quota: 500 concurrent
#    reservations × 10 rounds, all on one account (the hot row, about half
#    refused), then spread over 500 accounts (all granted); p50/p90/p99/max,
#    and the reserved bytes checked against the limits after every round.
# COFFRE_BENCH_DRY=1 prints the figures and leaves bench/RESULTS.md alone.
# COFFRE_BENCH_PROFILE=DIR records the machine with perf (cpu-clock, call
# graphs) while quota consumes: DIR/quota-ledger.data
# (perf report -i DIR/quota-ledger.data --no-children --sort comm,dso,sym).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
EVENTS="${1:-200000}"
ACCOUNTS="${2:-2000}"
CONCURRENCY="${COFFRE_BENCH_QUOTA_CONCURRENCY:-500}"
ROUNDS="${COFFRE_BENCH_QUOTA_ROUNDS:-10}"
export COFFRE_DATA="${COFFRE_BENCH_QUOTA_DATA:-$COFFRE_CACHE/bench-quota-data}"
export COFFRE_PG_PORT="${COFFRE_BENCH_QUOTA_PG_PORT:-55462}"
export COFFRE_KAFKA_PORT="${COFFRE_BENCH_QUOTA_KAFKA_PORT:-59122}"
BROKER="127.0.0.1:$COFFRE_KAFKA_PORT"
CONFIG="${COFFRE_BENCH_BUILD:-release}"
SCRATCH="$COFFRE_ROOT/.build-$CONFIG"
BUSY_PATTERN='swift-build|swift-frontend|swift-test|xctest'
cd "$COFFRE_ROOT"
need_cmd python3 curl psql

QUOTA_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export COFFRE_INTERNAL_SECRET="bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
ADMIN_TOKEN="bench-admin-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
tmp="$(mktemp -d)"
quota_pid=""; perf_pid=""
cleanup() {
  [[ -n "$perf_pid" ]] && kill -INT "$perf_pid" 2>/dev/null || true
  [[ -n "$quota_pid" ]] && kill -TERM "$quota_pid" 2>/dev/null || true
  sleep 1
  bash "$COFFRE_SCRIPTS/kafka.sh" stop >/dev/null 2>&1 || true
  bash "$COFFRE_SCRIPTS/pg.sh" stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

bash "$COFFRE_SCRIPTS/pg.sh" start
# Every run starts from an empty database (services migrate it at start-up):
# the bench database otherwise keeps every earlier run's rows (it had grown to
# 1.4 GB), and figures then drift with its size from run to run.
bash "$COFFRE_SCRIPTS/pg.sh" fresh-db
bash "$COFFRE_SCRIPTS/kafka.sh" start
PG_URL="$(bash "$COFFRE_SCRIPTS/pg.sh" url)"
psql -X -q "$PG_URL" -c "DROP SCHEMA IF EXISTS quota CASCADE" 2>/dev/null
BIN="$(bench_binaries "$CONFIG" "$SCRATCH" quota coffre-bench)"

# 1. The events, and what the ledgers must hold once they are applied.
log "generating $EVENTS events for $ACCOUNTS accounts"
python3 - "$EVENTS" "$ACCOUNTS" "$tmp/messages" "$tmp/expected.json" <<'PY'
import base64, json, os, random, sys, time, uuid
n, m, out, expected_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = random.Random(5)
def uid(): return str(uuid.UUID(int=rng.getrandbits(128), version=4))
def b64(k): return base64.urlsafe_b64encode(os.urandom(k)).rstrip(b"=").decode()
def stamp(t): return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)
tenants = [uid() for _ in range(20)]
accounts = [(tenants[i % len(tenants)], uid()) for i in range(m)]
now = time.time()
expected = {t: {"accounts": 0, "used": 0, "transfer": 0} for t in tenants}
blobs = {a: [] for _, a in accounts}
def event(tenant, account, source, type_, data, t):
    data = dict(data, tenant_id=tenant, account_id=account)
    ev = {"data": data, "datacontenttype": "application/json", "id": uid(), "source": source, "specversion": "1.0",
          "subject": account, "tenant": tenant, "time": stamp(t), "type": type_}
    return f"{account}\t" + json.dumps(ev, separators=(",", ":"), sort_keys=True) + "\n"
with open(out, "w") as f:
    for tenant, account in accounts:  # signups first, as on launch day
        expected[tenant]["accounts"] += 1
        f.write(event(tenant, account, "/coffre/accounts", "coffre.account.created",
                      {"public_keys": {"x25519": b64(32), "ed25519": b64(32), "self_signature": b64(64)}}, now - 600))
    for i in range(n - m):
        tenant, account = accounts[rng.randrange(m)]
        t = now - 300 + 300 * i / max(1, n - m)
        r = rng.random()
        if r < 0.15 and blobs[account]:  # a purge frees one committed version
            node, version, size = blobs[account].pop(rng.randrange(len(blobs[account])))
            expected[tenant]["used"] -= size
            f.write(event(tenant, account, "/coffre/ingest", "coffre.blob.deleted",
                          {"node_id": node, "version_id": version, "bytes": size}, t))
        elif r < 0.40:  # downloads, one batch per account per flush
            size = int(rng.lognormvariate(15, 2))
            expected[tenant]["transfer"] += size
            f.write(event(tenant, account, "/coffre/ingest", "coffre.transfer.served",
                          {"bytes": size, "from": stamp(t - 5), "to": stamp(t)}, t))
        else:  # an upload completes (its reservation id is ingest's)
            node, version, size = uid(), uid(), min(int(rng.lognormvariate(14, 2.5)), 4 << 30)
            blobs[account].append((node, version, size))
            expected[tenant]["used"] += size
            f.write(event(tenant, account, "/coffre/ingest", "coffre.blob.committed",
                          {"node_id": node, "version_id": version, "upload_id": version, "bytes": size, "reservation_id": uid()}, t))
json.dump(expected, open(expected_path, "w"))
PY
msg_bytes=$(awk -F'\t' '{s+=length($2)} END {printf "%d", s/NR}' "$tmp/messages")
mix=$(cut -f2 "$tmp/messages" | grep -o '"type":"coffre\.[a-z.]*"' | sort | uniq -c | awk '{sub(/"type":"coffre\./, "", $2); sub(/"$/, "", $2); printf "%s%s %d", sep, $2, $1; sep=", "}')

busy() { pgrep -f "$BUSY_PATTERN" >/dev/null 2>&1; }
wait_quiet() {
  local deadline=$((SECONDS + ${COFFRE_BENCH_QUIET_WAIT:-3600}))
  while busy && ((SECONDS < deadline)); do sleep 5; done
}
disturbed=()
note_busy() { busy && disturbed+=("$1") || true; }
seconds_since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$(date +%s.%N)"; }

topic="bench_quota_blobs_$RANDOM$RANDOM"; accounts_topic="bench_quota_accounts_$RANDOM$RANDOM"
for t in "$topic" "$accounts_topic"; do "$TANSU_BIN" topic create --broker "tcp://$BROKER" --partitions 6 "$t" >/dev/null; done
wait_quiet
t0=$(date +%s.%N)
bash "$COFFRE_SCRIPTS/kcat.sh" -b "$BROKER" -P -t "$topic" -K $'\t' -X enable.idempotence=true -X acks=all -l "$tmp/messages"
produce_s=$(seconds_since "$t0")

# 2. kcat in a consumer group, Coffre's consumers' group timeouts.
log "kcat: consuming $EVENTS events in a consumer group"
note_busy kcat
t0=$(date +%s.%N)
bash "$COFFRE_SCRIPTS/kcat.sh" -b "$BROKER" -G "bench_quota_kcat_$RANDOM$RANDOM" "$topic" -X auto.offset.reset=earliest \
  -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 -e -q -c "$EVENTS" >/dev/null
kcat_s=$(seconds_since "$t0")
note_busy kcat

# 3. quota consuming the same topic.
log "quota: consuming and applying the same $EVENTS events"
wait_quiet
note_busy quota
mkdir -p "$COFFRE_DATA/run"
t_start=$(date +%s.%N)
env COFFRE_POSTGRES_URL="$PG_URL" COFFRE_KAFKA_BROKERS="$BROKER" COFFRE_LOG_LEVEL=warning COFFRE_ADMIN_TOKEN="$ADMIN_TOKEN" \
  QUOTA_HTTP_PORT="$QUOTA_PORT" QUOTA_BLOBS_TOPIC="$topic" QUOTA_ACCOUNTS_TOPIC="$accounts_topic" \
  QUOTA_CONSUMER_GROUP="bench_quota_$RANDOM$RANDOM" \
  "$BIN/quota" >"$COFFRE_DATA/run/bench-quota.log" 2>&1 &
quota_pid=$!
until curl -fs "http://127.0.0.1:$QUOTA_PORT/readyz" >/dev/null; do
  pid_alive "$quota_pid" || die "quota exited: $(tail -5 "$COFFRE_DATA/run/bench-quota.log")"
  sleep 0.05
done
t_ready=$(date +%s.%N)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$quota_pid/stat"; }
cpu0=$(cpu_ticks)
if [[ -n "${COFFRE_BENCH_PROFILE:-}" ]]; then
  mkdir -p "$COFFRE_BENCH_PROFILE"
  perf record -e cpu-clock -g -a -o "$COFFRE_BENCH_PROFILE/quota-ledger.data" >/dev/null 2>&1 &
  perf_pid=$!
fi
# quota's own counter (a curl costs far less than a psql connection every
# 0.1 s); the ids in processed_events are counted once it says done.
applied() {
  curl -fs "http://127.0.0.1:$QUOTA_PORT/metrics" | awk '/^coffre_events_applied_total\{.*consumer="quota-ledgers"/ {print int($NF); f = 1} END {if (!f) print 0}' || echo 0
}
count=0; deadline=$((SECONDS + 1800))
while ((count < EVENTS)); do
  sleep 0.1
  count=$(applied)
  pid_alive "$quota_pid" || die "quota exited: $(tail -5 "$COFFRE_DATA/run/bench-quota.log")"
  ((SECONDS < deadline)) || die "quota applied only $count of $EVENTS events in 30 min"
done
t_done=$(date +%s.%N)
cpu1=$(cpu_ticks)
if [[ -n "$perf_pid" ]]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; perf_pid=""; fi
note_busy quota
log "kcat (group): $kcat_s s; quota: $(python3 -c "print(f'{$t_done - $t_ready:.2f} s, {$EVENTS / ($t_done - $t_ready):.0f}')") events/s applied"
read -r ids failed < <(psql -X -tA -F ' ' "$PG_URL" -c "SELECT count(*), count(*) FILTER (WHERE outcome <> 'applied') FROM quota.processed_events WHERE consumer = 'quota-ledgers'")
[[ "$ids" == "$EVENTS" && "$failed" == 0 ]] || die "processed_events: $ids ids, $failed dead-lettered, for $EVENTS events (log: $COFFRE_DATA/run/bench-quota.log)"
curl -fs -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$QUOTA_PORT/v1/admin/quota/tenants" >"$tmp/totals.json"
python3 - "$tmp/expected.json" "$tmp/totals.json" <<'PY'
import json, sys
expected, got = json.load(open(sys.argv[1])), {t["tenant_id"]: t for t in json.load(open(sys.argv[2]))["tenants"]}
bad = [f"{t}: expected {e}, ledgers {got.get(t)}" for t, e in expected.items()
       if t not in got or (got[t]["accounts"], got[t]["used_bytes"], got[t]["transfer_used_bytes"]) != (e["accounts"], e["used"], e["transfer"])]
if bad: sys.exit("ledgers disagree with the events:\n" + "\n".join(bad[:5]))
PY

# 4. Reservation bursts against the same quota.
reservations() {  # NAME ARGS...
  local name=$1; shift
  log "reservations: $CONCURRENCY at once × $ROUNDS rounds ($name)"
  wait_quiet
  note_busy "reservations-$name"
  "$BIN/coffre-bench" reservations --quota "http://127.0.0.1:$QUOTA_PORT" --secret "$COFFRE_INTERNAL_SECRET" \
    --admin-token "$ADMIN_TOKEN" --concurrency "$CONCURRENCY" --rounds "$ROUNDS" "$@" >"$tmp/$name.out"
  note_busy "reservations-$name"
}
reservations hot --accounts 1 --oversubscribe 2
reservations spread --accounts "$CONCURRENCY" --oversubscribe 1
hot=$(tail -n 1 "$tmp/hot.out"); spread=$(tail -n 1 "$tmp/spread.out")

export EVENTS ACCOUNTS CONCURRENCY ROUNDS CONFIG msg_bytes mix produce_s kcat_s t_start t_ready t_done hot spread
export cpu_s=$(python3 -c "print(($cpu1 - $cpu0) / $(getconf CLK_TCK))")
export machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), librdkafka $RDKAFKA_VERSION, Tansu $TANSU_VERSION (memory storage), PostgreSQL $(psql --version | awk '{print $3}')"
export disturbed_list="$(printf '%s\n' "${disturbed[@]}" | sort -u | paste -sd' ')" today="$(date -u +%Y-%m-%d)" busy_pattern="$BUSY_PATTERN"
python3 - "$tmp/section.md" <<'PY'
import json, os, sys
e = os.environ
n = int(e["EVENTS"])
kcat = n / float(e["kcat_s"])
applied_s = float(e["t_done"]) - float(e["t_ready"])
applied = n / applied_s
from_start = n / (float(e["t_done"]) - float(e["t_start"]))
cpu = float(e["cpu_s"])
hot, spread = json.loads(e["hot"]), json.loads(e["spread"])
def row(label, r):
    return (f"| {label} | {r['reservations']} | {r['granted']} / {r['refused']} | {r['per_second']:.0f} | "
            f"{r['p50_ms']:.1f} | {r['p90_ms']:.1f} | **{r['p99_ms']:.1f}** | {r['max_ms']:.1f} |")
quiet = (f"Other builds or tests ran during: {e['disturbed_list']} (pgrep -f '{e['busy_pattern']}'); those figures may be low."
         if e["disturbed_list"] else "No swift-build, swift-frontend or swift-test/xctest process ran during the timed phases (pgrep -f, before and after each).")
print(f"""## Quota: ledger events applied, reservations under bursts

Command: `bash bench/quota.sh {n} {e['ACCOUNTS']}` (part of `./coffre bench`; quota and coffre-bench built {e['CONFIG']}, {e['today']}). Machine: {e['machine']}.
{n} events of ~{e['msg_bytes']} bytes keyed by {e['ACCOUNTS']} accounts of 20 tenants, 6 partitions ({e['mix']}); kcat and quota consume the same topic, each in a group of its own. {quiet}

| what | events/s | notes |
|---|---:|---|
| kcat produce (idempotent, acks=all) | {n / float(e['produce_s']):.0f} | fills the topic |
| kcat consume in a consumer group (`-G`) | {kcat:.0f} | baseline, group join included |
| **quota ledger consumer: consumed and applied** | **{applied:.0f}** | {n} events in {applied_s:.2f} s from /readyz (group join included) to the last id in `processed_events`; quota used {cpu:.1f} s CPU ({100 * cpu / applied_s:.0f}% of one core); per-tenant totals equal the generator's sums |
| quota, from process start | {from_start:.0f} | start-up and migrations included |

quota / kcat in a group: **{applied / kcat:.2f}**.

Reservations: `coffre-bench reservations`, {e['CONCURRENCY']} `HTTPQuotaClient.reserve` calls (signed `POST /internal/v1/reservations`) started at once, {e['ROUNDS']} rounds after one unmeasured round; latency from the round's start; random sizes 1–64 MiB. After every round each account's `reserved_bytes` equals the bytes granted to it and stays within its limit (checked through the operator API).

| burst | reservations | granted / refused (507) | reservations/s | p50 ms | p90 ms | p99 ms | max ms |
|---|---:|---:|---:|---:|---:|---:|---:|
{row("one account (hot row), limit = half of what is asked", hot)}
{row(f"{e['CONCURRENCY']} accounts, one each, all fit", spread)}
""", file=open(sys.argv[1], "w"))
print(f"quota applied {applied:.0f} ev/s vs kcat group {kcat:.0f} ev/s (ratio {applied / kcat:.2f}); "
      f"reservations p99 {hot['p99_ms']:.1f} ms (one account), {spread['p99_ms']:.1f} ms (spread)")
PY
if [[ -n "${COFFRE_BENCH_DRY:-}" ]]; then cat "$tmp/section.md"; else python3 "$COFFRE_ROOT/bench/update_results.py" quota <"$tmp/section.md"; fi
