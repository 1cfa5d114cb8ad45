#!/usr/bin/env bash
# Reruns Coffre's benchmarks next to their baselines on this machine and
# rewrites bench/RESULTS.md. Uses its own Postgres/Tansu (bench ports).
#
#   ./coffre bench [EVENTS]     (default 200000; then bench/signups.sh,
#                                bench/uploads.sh, bench/quota.sh and bench/launch.sh;
#                                skip one with COFFRE_BENCH_SKIP_SIGNUPS / _UPLOADS /
#                                _QUOTA / _LAUNCH)
#                               and bench/keylog.sh (skip: COFFRE_BENCH_SKIP_KEYLOG)
#
# 1. kcat: produce EVENTS messages of the size of a Coffre event to a fresh
#    topic, then consume them all (librdkafka 2.8.0, same broker).
# 2. coffre-bench pipeline: EVENTS events written to an outbox, relayed to
#    Kafka, consumed by the idempotent consumer and applied to Postgres.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
EVENTS="${1:-200000}"
export COFFRE_DATA="${COFFRE_BENCH_DATA:-$COFFRE_CACHE/bench-data}"
export COFFRE_PG_PORT="${COFFRE_BENCH_PG_PORT:-55452}"
export COFFRE_KAFKA_PORT="${COFFRE_BENCH_KAFKA_PORT:-59112}"
BROKER="127.0.0.1:$COFFRE_KAFKA_PORT"

bash "$COFFRE_SCRIPTS/setup.sh"
trap 'bash "$COFFRE_SCRIPTS/kafka.sh" stop >/dev/null 2>&1 || true; bash "$COFFRE_SCRIPTS/pg.sh" stop >/dev/null 2>&1 || true' EXIT
bash "$COFFRE_SCRIPTS/pg.sh" start
# Every run starts from an empty database (services migrate it at start-up):
# the bench database otherwise keeps every earlier run's rows (it had grown to
# 1.4 GB), and figures then drift with its size from run to run.
bash "$COFFRE_SCRIPTS/pg.sh" fresh-db
bash "$COFFRE_SCRIPTS/kafka.sh" start
cd "$COFFRE_ROOT"
CONFIG="${COFFRE_BENCH_BUILD:-release}"
# A scratch path of its own, so the bench's release build never waits on
# (or invalidates) the debug build the tests use.
SCRATCH="$COFFRE_ROOT/.build-$CONFIG"
BIN="$(bench_binaries "$CONFIG" "$SCRATCH" coffre-bench)"

tmp="$(mktemp -d)"
# A representative event: the pipeline's own envelope is ~300 bytes.
python3 - "$EVENTS" >"$tmp/messages" <<'PY'
import sys, uuid, json
n = int(sys.argv[1])
for i in range(1, n + 1):
    ev = {"data": {"n": i}, "datacontenttype": "application/json", "id": str(uuid.uuid4()).upper(),
          "source": "/coffre/tests", "specversion": "1.0", "subject": f"account-{i % 1000}",
          "tenant": "test", "time": "2026-11-29T03:00:00.000Z", "type": "coffre.test.counted"}
    print(f"account-{i % 1000}\t" + json.dumps(ev, separators=(",", ":"), sort_keys=True))
PY
msg_bytes=$(awk -F'\t' '{s+=length($2)} END {printf "%d", s/NR}' "$tmp/messages")

topic_k="bench_kcat_$RANDOM$RANDOM"
"$TANSU_BIN" topic create --broker "tcp://$BROKER" --partitions 6 "$topic_k" >/dev/null
t0=$(date +%s.%N)
bash "$COFFRE_SCRIPTS/kcat.sh" -b "$BROKER" -P -t "$topic_k" -K $'\t' -X enable.idempotence=true -X acks=all -l "$tmp/messages"
t1=$(date +%s.%N)
bash "$COFFRE_SCRIPTS/kcat.sh" -b "$BROKER" -C -t "$topic_k" -o beginning -e -q -c "$EVENTS" >/dev/null
t2=$(date +%s.%N)
# The same consumption in a consumer group (committed offsets), which is
# what Coffre's consumers do; the group join is inside the time, as for kcat.
# Same group timeouts as Coffre's consumers (librdkafka's default 45 s session
# timeout makes the join alone take ~20 s on Tansu).
bash "$COFFRE_SCRIPTS/kcat.sh" -b "$BROKER" -G "bench_group_$RANDOM$RANDOM" "$topic_k" -X auto.offset.reset=earliest \
  -X session.timeout.ms=6000 -X heartbeat.interval.ms=1000 -e -q -c "$EVENTS" >/dev/null
t3=$(date +%s.%N)
kcat_p=$(python3 -c "print(f'{$EVENTS/($t1-$t0):.0f}')")
kcat_c=$(python3 -c "print(f'{$EVENTS/($t2-$t1):.0f}')")
kcat_g=$(python3 -c "print(f'{$EVENTS/($t3-$t2):.0f}')")
kcat_e2e=$(python3 -c "print(f'{$EVENTS/($t2-$t0):.0f}')")
kcat_e2e_g=$(python3 -c "print(f'{$EVENTS/(($t1-$t0)+($t3-$t2)):.0f}')")

topic_c="bench_coffre_$RANDOM$RANDOM"
"$TANSU_BIN" topic create --broker "tcp://$BROKER" --partitions 6 "$topic_c" >/dev/null
result=$("$BIN/coffre-bench" pipeline --postgres "$(bash "$COFFRE_SCRIPTS/pg.sh" url)" --brokers "$BROKER" --topic "$topic_c" --count "$EVENTS" | tail -n 1)
get() { python3 -c "import json,sys; print(f'{json.loads(sys.argv[1])[sys.argv[2]]:.{sys.argv[3]}f}')" "$result" "$1" "$2"; }
pipe_rate=$(get pipeline_per_second 0)
pipe_s=$(get pipeline_seconds 2)
enq_rate=$(get enqueue_per_second 0)
ratio=$(python3 -c "print(f'{$pipe_rate/$kcat_e2e:.2f}')")
ratio_g=$(python3 -c "print(f'{$pipe_rate/$kcat_e2e_g:.2f}')")
batches=$(get consumer_batches 0)
rm -rf "$tmp"

machine="$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"), librdkafka $RDKAFKA_VERSION, Tansu $TANSU_VERSION (memory storage), PostgreSQL $(psql --version | awk '{print $3}')"
python3 "$COFFRE_ROOT/bench/update_results.py" pipeline <<MD
## Events: outbox → relay → Kafka → idempotent consumer

Command: \`./coffre bench $EVENTS\` (coffre-bench built $CONFIG, $(date -u +%Y-%m-%d)). Machine: $machine.
Messages of ~$msg_bytes bytes (a CloudEvents envelope), keyed by 1,000 accounts, 6 partitions.

| what | events/s | notes |
|---|---:|---|
| kcat produce (idempotent, acks=all) | $kcat_p | baseline |
| kcat consume, partitions assigned (no group) | $kcat_c | baseline |
| kcat consume in a consumer group (\`-G\`) | $kcat_g | baseline, Coffre's delivery semantics |
| **kcat produce then consume (no group)** | **$kcat_e2e** | baseline, end to end |
| **kcat produce then consume (group)** | **$kcat_e2e_g** | baseline, end to end |
| Coffre outbox writes (1,000 per transaction) | $enq_rate | before the timed pipeline |
| **Coffre outbox → relay → Kafka → consumer → Postgres** | **$pipe_rate** | $EVENTS events in $pipe_s s ($batches consumer batches), each applied once with its dedupe row |

Coffre pipeline / kcat end to end: **$ratio** against kcat without a group, **$ratio_g** against kcat in a group (target ≥ 0.5).
MD
echo "kcat end-to-end: $kcat_e2e ev/s (group: $kcat_e2e_g); coffre pipeline: $pipe_rate ev/s (ratio $ratio, vs group $ratio_g)"

# Signups through the gateway next to pgbench.
[[ -n "${COFFRE_BENCH_SKIP_SIGNUPS:-}" ]] || bash "$COFFRE_ROOT/bench/signups.sh"

# Concurrent 256 MiB uploads through the gateway next to nginx (WebDAV PUT).
[[ -n "${COFFRE_BENCH_SKIP_UPLOADS:-}" ]] || bash "$COFFRE_ROOT/bench/uploads.sh"

# Quota's ledger consumer next to kcat on the same topic; reservation bursts.
[[ -n "${COFFRE_BENCH_SKIP_QUOTA:-}" ]] || bash "$COFFRE_ROOT/bench/quota.sh"

# The launch replay (coffre-load, the `launch` trace) with verification, next
# to the ceilings the signups and uploads benchmarks just measured.
[[ -n "${COFFRE_BENCH_SKIP_LAUNCH:-}" ]] || bash "$COFFRE_ROOT/bench/launch.sh"

# The key directory's log: appends/s next to raw inserts of the same rows; proof latency at 1M entries.
[[ -n "${COFFRE_BENCH_SKIP_KEYLOG:-}" ]] || bash "$COFFRE_ROOT/bench/keylog.sh"
