#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one:
#   1. set-up (idempotent): apt packages, librdkafka 2.8.0, Tansu, Python tools
#   2. a private Postgres and Tansu on test ports, stopped again on exit
#   3. build, then Swift tests (unit + integration against the real servers)
#   4. the stack smoke test: ./coffre up's path on test ports, /readyz of all five,
#      the load tool's smoke trace against it (scripts/load.sh; skip with COFFRE_TEST_SKIP_LOAD=1), down
#   5. docker-compose.yml validation
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Tests get their own data dir and ports, so a developer's `./coffre up`
# stack can keep running meanwhile.
export COFFRE_DATA="${COFFRE_TEST_DATA:-$COFFRE_CACHE/test-data}"
export COFFRE_PG_PORT="${COFFRE_TEST_PG_PORT:-55442}"
export COFFRE_KAFKA_PORT="${COFFRE_TEST_KAFKA_PORT:-59102}"
export COFFRE_PORT_BASE="${COFFRE_TEST_PORT_BASE:-18080}"

# `test.sh --diagnose`: the state of a test run that seems hung (called by the
# watchdog below, or by hand): every thread's stack in the test process, the
# database's sessions and locks, and the test process's sockets.
if [[ "${1:-}" == "--diagnose" ]]; then
  for pid in $(pgrep -f '^[^ ]*coffrePackageTests[.]xctest' || true); do
    echo "=== sockets of test process $pid"
    ss -tnp 2>/dev/null | grep "pid=$pid," || true
    echo "=== threads of test process $pid"
    if command -v gdb >/dev/null; then
      timeout 120 gdb -p "$pid" -batch -ex "set pagination off" -ex "thread apply all bt 25" 2>&1 |
        grep -vE '^\[(New|Thread debugging)|^Using host libthread_db|^During symbol reading' || true
    else
      echo "(gdb is not installed)"
    fi
  done
  echo "=== postgres sessions"
  psql "$(bash "$COFFRE_SCRIPTS/pg.sh" url)" -X -c \
    "SELECT pid, state, wait_event_type, wait_event, now() - xact_start AS in_xact, left(query, 120) AS query
       FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY xact_start" 2>&1 || true
  exit 0
fi

bash "$COFFRE_SCRIPTS/setup.sh"

cleanup() {
  local rc=$?
  bash "$COFFRE_SCRIPTS/stack.sh" down >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT

# A run that was interrupted (its trap never ran) can leave its smoke stack's
# services running against the test database and broker, where they would
# take part in this run (a stray ingest's janitor empties the shared blob
# trash queue). Stop them by their pid files before those are cleared.
bash "$COFFRE_SCRIPTS/stack.sh" down >/dev/null 2>&1 || true
rm -rf "$COFFRE_DATA/run"
bash "$COFFRE_SCRIPTS/pg.sh" start
bash "$COFFRE_SCRIPTS/pg.sh" fresh-db  # the broker is in memory: both start empty
bash "$COFFRE_SCRIPTS/kafka.sh" start
bash "$COFFRE_SCRIPTS/kafka.sh" topics

cd "$COFFRE_ROOT"
log "building (debug, with tests)"
swift build --build-tests 2>&1 | grep -E "error|warning: unre|Compiling|Build complete" | grep -v "^\[" | tail -n 30 || true
swift build --build-tests >/dev/null  # fails loudly if the build is broken

COFFRE_TEST_POSTGRES_URL="$(bash "$COFFRE_SCRIPTS/pg.sh" url)"
COFFRE_TEST_KAFKA_BROKERS="127.0.0.1:$COFFRE_KAFKA_PORT"
COFFRE_BIN_DIR="$(swift build --show-bin-path)"
export COFFRE_TEST_POSTGRES_URL COFFRE_TEST_KAFKA_BROKERS COFFRE_BIN_DIR TANSU_BIN COFFRE_VENV

log "swift tests"
# In-process services print a timestamped line as they start, answer and
# stop (TestEnvironment.trace), so a test that hangs shows where. The whole
# run is bounded too (it takes about 16 minutes here): a hang fails the
# suite with a message instead of holding CI until its own limit.
export COFFRE_TEST_TRACE=1
test_timeout="${COFFRE_TEST_TIMEOUT:-2700}"
# A minute before the bound, a run still going is most likely hung: record
# what every thread of the test process is doing and what the servers see,
# so the hang can be found from the CI log alone.
# (Short sleeps: killing the watchdog must not leave a long sleep behind
# holding CI's output pipe open.)
(
  for ((waited = 0; waited < test_timeout - 60; waited += 5)); do sleep 5; done
  bash "$COFFRE_SCRIPTS/test.sh" --diagnose >"$COFFRE_DATA/hang-diagnosis.txt" 2>&1
  log "the swift tests are still running after $((test_timeout - 60))s; threads and server state: $COFFRE_DATA/hang-diagnosis.txt"
  cat "$COFFRE_DATA/hang-diagnosis.txt" >&2
) &
watchdog=$!
set +e
timeout -k 30 "$test_timeout" swift test --skip-build --no-parallel 2>&1 | tee "$COFFRE_DATA/swift-test.log"
test_rc=${PIPESTATUS[0]}
set -e
kill "$watchdog" 2>/dev/null || true
if [[ $test_rc -eq 124 || $test_rc -eq 137 ]]; then
  # swift test runs the test binary in a process group of its own, so
  # stopping swift test leaves it running (against the servers this script
  # is about to stop, and into the next run): stop it by its path.
  pkill -KILL -f "^$COFFRE_ROOT/[.]build/.*coffrePackageTests[.]xctest" || true
  log "swift tests did not finish within ${test_timeout}s and were stopped; the last lines above show the test that hung"
fi
if [[ $test_rc -ne 0 ]]; then
  log "swift tests failed (exit $test_rc); full output: $COFFRE_DATA/swift-test.log"
  exit "$test_rc"
fi

log "stack smoke test: all five services ready through ./coffre up's path"
# Trusting X-Forwarded-For lets the load smoke's synthetic accounts be
# separate clients (the per-IP limit would otherwise shed them).
# The consumers join groups of their own: on Tansu, a member that left in
# the middle of its first join (a test process stopped right after start)
# can keep a group rebalancing for minutes, and a stack on that group would
# apply no events during the 30 s smoke (keydir publishes no keys, ingest
# grants no shares). A new group reads its topics from the start; events
# already applied are skipped by their ids.
smoke_group="smoke-$RANDOM$RANDOM"
KEYDIR_CONSUMER_GROUP="keydir-$smoke_group" INGEST_CONSUMER_GROUP="ingest-$smoke_group" \
  QUOTA_CONSUMER_GROUP="quota-$smoke_group" GATEWAY_TRUST_FORWARDED_FOR=true bash "$COFFRE_SCRIPTS/stack.sh" up
curl -fsS "http://127.0.0.1:$COFFRE_PORT_BASE/readyz" >/dev/null
if [[ -z "${COFFRE_TEST_SKIP_LOAD:-}" ]]; then
  log "load smoke: the smoke trace against that stack (~30 s), which must pass verification"
  bash "$COFFRE_SCRIPTS/load.sh" smoke --quiet --json "$COFFRE_DATA/load-smoke.json"
  # Verification checks what was acknowledged; an operation that never
  # succeeded acknowledged nothing to check (e.g. every share refused because
  # keydir could not reach ingest), so that fails the smoke too.
  python3 - "$COFFRE_DATA/load-smoke.json" <<'PY' || die "load smoke: an operation never succeeded"
import json, sys
ops = json.load(open(sys.argv[1]))["operations"]
idle = [k for k, o in ops.items() if o["offered"] > 0 and o["outcomes"].get("ok", 0) == 0]
for k in idle:
    print(f"load smoke: no {k} succeeded out of {ops[k]['offered']}: {ops[k]['outcomes']}")
sys.exit(1 if idle else 0)
PY
fi
bash "$COFFRE_SCRIPTS/stack.sh" down

log "docker-compose.yml validation"
bash "$COFFRE_ROOT/deploy/validate-compose.sh"

log "all tests passed"
