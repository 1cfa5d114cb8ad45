#!/usr/bin/env bash
# Brings the whole local stack up or down: a private Postgres cluster, the
# Tansu broker with Coffre's topics, and the five services (gateway last).
# Data, logs and pid files live in $COFFRE_DATA, outside the clone.
#
#   stack.sh up [--release]   set up (idempotent), build, start, wait for /readyz
#   stack.sh down             stop services, broker and Postgres
#   stack.sh status           what runs, and each service's /readyz
#   stack.sh logs SERVICE     follow one service's JSON log
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICES=(accounts keydir ingest quota gateway)
COFFRE_PORT_BASE="${COFFRE_PORT_BASE:-8080}"
RUN_DIR="$COFFRE_DATA/run"

port_of() {
  case "$1" in
    gateway) echo $((COFFRE_PORT_BASE + 0)) ;;
    accounts) echo $((COFFRE_PORT_BASE + 1)) ;;
    keydir) echo $((COFFRE_PORT_BASE + 2)) ;;
    ingest) echo $((COFFRE_PORT_BASE + 3)) ;;
    quota) echo $((COFFRE_PORT_BASE + 4)) ;;
  esac
}

prefix_of() {
  case "$1" in
    keydir) echo KEYDIR ;;
    *) echo "${1^^}" ;;
  esac
}

bin_dir() {
  local config=debug
  [[ "${COFFRE_BUILD:-debug}" == release ]] && config=release
  (cd "$COFFRE_ROOT" && swift build -c "$config" --show-bin-path)
}

build() {
  local config=debug
  [[ "${COFFRE_BUILD:-debug}" == release ]] && config=release
  log "building ($config; a cold build takes several minutes on 2 cores)"
  (cd "$COFFRE_ROOT" && swift build -c "$config" 2>&1 | tail -n 5)
}

service_env() {
  local s=$1
  local pg_url
  pg_url="$(bash "$COFFRE_SCRIPTS/pg.sh" url)"
  echo "COFFRE_POSTGRES_URL=$pg_url"
  echo "COFFRE_KAFKA_BROKERS=127.0.0.1:$COFFRE_KAFKA_PORT"
  # Development defaults; set real secrets in the environment for anything else.
  echo "COFFRE_ADMIN_TOKEN=${COFFRE_ADMIN_TOKEN:-coffre-dev-admin-token}"
  echo "COFFRE_INTERNAL_SECRET=${COFFRE_INTERNAL_SECRET:-coffre-development-internal-secret-change-me}"
  echo "$(prefix_of "$s")_HTTP_PORT=$(port_of "$s")"
  echo "INGEST_BLOB_DIR=$COFFRE_DATA/blobs"
  echo "INGEST_QUOTA_URL=http://127.0.0.1:$(port_of quota)"
  echo "QUOTA_INGEST_URL=http://127.0.0.1:$(port_of ingest)"
  echo "KEYDIR_INGEST_URL=http://127.0.0.1:$(port_of ingest)"
  echo "INGEST_KEYDIR_URL=http://127.0.0.1:$(port_of keydir)"
  local u
  for u in accounts keydir ingest quota; do
    echo "GATEWAY_$(prefix_of "$u")_URLS=http://127.0.0.1:$(port_of "$u")"
  done
}

start_service() {
  local s=$1 bin=$2
  local pidfile="$RUN_DIR/$s.pid" logfile="$RUN_DIR/$s.log"
  if [[ -f "$pidfile" ]] && pid_alive "$(cat "$pidfile")"; then
    log "$s already running (pid $(cat "$pidfile"))"
    return 0
  fi
  local -a envs
  mapfile -t envs < <(service_env "$s")
  env "${envs[@]}" setsid "$bin/$s" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

wait_ready() {
  local s=$1 port deadline
  port=$(port_of "$s")
  deadline=$((SECONDS + ${COFFRE_READY_TIMEOUT:-90}))
  until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$s is not ready after ${COFFRE_READY_TIMEOUT:-90}s; its /readyz says:"
      curl -sS "http://127.0.0.1:$port/readyz" >&2 || true
      echo >&2
      tail -n 20 "$RUN_DIR/$s.log" >&2 || true
      return 1
    fi
    if ! pid_alive "$(cat "$RUN_DIR/$s.pid")"; then
      log "$s exited; last log lines:"
      tail -n 20 "$RUN_DIR/$s.log" >&2 || true
      return 1
    fi
    sleep 0.3
  done
}

up() {
  [[ "${1:-}" == --release ]] && export COFFRE_BUILD=release
  bash "$COFFRE_SCRIPTS/setup.sh"
  bash "$COFFRE_SCRIPTS/pg.sh" start
  bash "$COFFRE_SCRIPTS/kafka.sh" start
  bash "$COFFRE_SCRIPTS/kafka.sh" topics
  build
  local bin
  bin="$(bin_dir)"
  mkdir -p "$RUN_DIR" "$COFFRE_DATA/blobs"
  local s
  for s in "${SERVICES[@]}"; do start_service "$s" "$bin"; done
  for s in "${SERVICES[@]}"; do wait_ready "$s"; done
  log "all services ready"
  echo "Coffre gateway: http://127.0.0.1:$(port_of gateway)"
  echo "Client: $(bin_dir)/coffre --server http://127.0.0.1:$(port_of gateway) signup"
  echo "Operator token (development): ${COFFRE_ADMIN_TOKEN:-coffre-dev-admin-token}"
}

down() {
  local s pid
  for s in gateway accounts keydir ingest quota; do
    [[ -f "$RUN_DIR/$s.pid" ]] || continue
    pid="$(cat "$RUN_DIR/$s.pid")"
    if pid_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
      pid_alive "$pid" && { log "$s did not stop in 10s; killing"; kill -KILL "$pid" 2>/dev/null || true; }
    fi
    rm -f "$RUN_DIR/$s.pid"
  done
  bash "$COFFRE_SCRIPTS/kafka.sh" stop || true
  bash "$COFFRE_SCRIPTS/pg.sh" stop || true
  log "stack stopped"
}

status() {
  local s pid
  for s in "${SERVICES[@]}"; do
    pid="$(cat "$RUN_DIR/$s.pid" 2>/dev/null || true)"
    if pid_alive "$pid"; then
      printf '%-9s pid %-7s port %-5s readyz: %s\n' "$s" "$pid" "$(port_of "$s")" \
        "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(port_of "$s")/readyz" || true)"
    else
      printf '%-9s stopped\n' "$s"
    fi
  done
  bash "$COFFRE_SCRIPTS/pg.sh" status || true
  bash "$COFFRE_SCRIPTS/kafka.sh" status || true
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  logs) tail -F "$RUN_DIR/${2:?which service}.log" ;;
  *) die "usage: stack.sh up|down|status|logs SERVICE" ;;
esac
