#!/usr/bin/env bash
# Tansu, a Kafka-wire-compatible broker, for Coffre development and tests.
#
#   scripts/kafka.sh start    start in the background, wait for the port
#   scripts/kafka.sh stop     stop (idempotent)
#   scripts/kafka.sh status   exit 0 if running, 3 if not
#   scripts/kafka.sh topics   create the Coffre topics (6 partitions; idempotent)
#   scripts/kafka.sh check [TOPIC]
#                             kcat round trip: produce 3 keyed messages to
#                             TOPIC (default coffre.selftest, so service
#                             consumers never see test junk), consume them back
#   scripts/kafka.sh url      print the bootstrap address
#
# Storage is memory only (--storage-engine memory://tansu/): every start is an
# empty broker, nothing external is needed. Listens on 127.0.0.1 only.
# Pid file and log: $COFFRE_DATA/kafka/. Production and docker-compose use
# Apache Kafka (KRaft) itself.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KDIR="$COFFRE_DATA/kafka"
PIDFILE="$KDIR/tansu.pid"
KLOG="$KDIR/tansu.log"
BROKER_URL="tcp://127.0.0.1:$COFFRE_KAFKA_PORT"
TOPICS=(coffre.accounts coffre.keydir coffre.blobs coffre.quota coffre.transfer)
PARTITIONS=6

usage() {
  echo "usage: $0 start|stop|status|topics|check [TOPIC]|url" >&2
  exit 2
}

# The pid from the pid file, if that process is alive and is our Tansu.
running_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  pid_alive "$pid" || return 1
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" == "$(readlink -f "$TANSU_BIN")" ]] || return 1
  printf '%s\n' "$pid"
}

cmd_start() {
  [[ -x "$TANSU_BIN" ]] || die "Tansu not found at $TANSU_BIN; run scripts/setup.sh"
  local pid
  if pid=$(running_pid); then
    wait_for_port 127.0.0.1 "$COFFRE_KAFKA_PORT" 30 ||
      die "Tansu (pid $pid) runs but 127.0.0.1:$COFFRE_KAFKA_PORT does not answer (log: $KLOG)"
    return 0
  fi
  rm -f "$PIDFILE"
  if port_open 127.0.0.1 "$COFFRE_KAFKA_PORT"; then
    die "127.0.0.1:$COFFRE_KAFKA_PORT is already in use by another process (set COFFRE_KAFKA_PORT)"
  fi
  mkdir -p "$KDIR"
  # Environment variables Tansu reads would override nothing here (all options
  # are explicit), but clear them so a stray one cannot surprise us.
  env -u STORAGE_ENGINE -u LISTENER_URL -u ADVERTISED_LISTENER_URL \
    -u CLUSTER_ID -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT \
    setsid "$TANSU_BIN" broker \
    --listener-url "$BROKER_URL" \
    --advertised-listener-url "$BROKER_URL" \
    --storage-engine memory://tansu/ \
    </dev/null >>"$KLOG" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$PIDFILE"
  if ! wait_for_port 127.0.0.1 "$COFFRE_KAFKA_PORT" 30 || ! pid_alive "$pid"; then
    tail -n 20 "$KLOG" >&2 || true
    if pid_alive "$pid"; then kill "$pid" 2>/dev/null || true; fi
    rm -f "$PIDFILE"
    die "Tansu did not start on 127.0.0.1:$COFFRE_KAFKA_PORT (log: $KLOG)"
  fi
}

cmd_stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while pid_alive "$pid" && ((SECONDS < deadline)); do
    sleep 0.1
  done
  if pid_alive "$pid"; then
    log "Tansu (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$PIDFILE"
  wait_for_port_closed 127.0.0.1 "$COFFRE_KAFKA_PORT" 10 ||
    die "127.0.0.1:$COFFRE_KAFKA_PORT still open after stopping Tansu"
}

cmd_status() {
  local pid
  if pid=$(running_pid) && port_open 127.0.0.1 "$COFFRE_KAFKA_PORT"; then
    echo "kafka (tansu $TANSU_VERSION): running on 127.0.0.1:$COFFRE_KAFKA_PORT (pid $pid, memory storage, log $KLOG)"
    return 0
  fi
  echo "kafka (tansu $TANSU_VERSION): stopped"
  return 3
}

# create_topic NAME PARTITIONS (an existing topic is fine, whatever its size)
create_topic() {
  local out
  if ! out=$(NO_COLOR=1 "$TANSU_BIN" topic create --broker "$BROKER_URL" \
    --partitions "$2" "$1" 2>&1); then
    grep -qi 'already exists' <<<"$out" && return 0
    printf '%s\n' "$out" >&2
    die "could not create topic $1"
  fi
}

cmd_topics() {
  running_pid >/dev/null || die "Tansu is not running; run '$0 start' first"
  local t
  for t in "${TOPICS[@]}"; do
    create_topic "$t" "$PARTITIONS"
  done
}

# End-to-end check with kcat (through scripts/kcat.sh, i.e. librdkafka 2.8.0):
# produce 3 messages, consume them back.
cmd_check() {
  local topic=${1:-coffre.selftest}
  running_pid >/dev/null || die "Tansu is not running; run '$0 start' first"
  create_topic "$topic" 1
  local kcat="$COFFRE_SCRIPTS/kcat.sh" run sent got i
  run="selftest-$(date +%s%N)-$$"
  sent=$(for i in 1 2 3; do printf '%s-%d\n' "$run" "$i"; done)
  if ! printf '%s\n' "$sent" | "$kcat" -b "127.0.0.1:$COFFRE_KAFKA_PORT" -P -t "$topic" -k "$run" 2>"$KDIR/check.err"; then
    cat "$KDIR/check.err" >&2
    die "kcat could not produce to $topic"
  fi
  # All three share a key, so they sit in one partition, in order.
  got=$("$kcat" -b "127.0.0.1:$COFFRE_KAFKA_PORT" -C -t "$topic" -o beginning -e -q \
    -f '%k %s\n' 2>"$KDIR/check.err" | awk -v k="$run" '$1 == k { print $2 }') || true
  if [[ "$got" != "$sent" ]]; then
    cat "$KDIR/check.err" >&2
    die "kcat round trip on $topic failed: sent [$(tr '\n' ' ' <<<"$sent")] got [$(tr '\n' ' ' <<<"$got")]"
  fi
  echo "kafka: kcat round trip ok on $topic (3 messages)"
}

[[ $# -ge 1 ]] || usage
case "$1" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  topics) cmd_topics ;;
  check) cmd_check "${2:-}" ;;
  url) echo "127.0.0.1:$COFFRE_KAFKA_PORT" ;;
  *) usage ;;
esac
