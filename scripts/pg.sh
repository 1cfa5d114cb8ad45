#!/usr/bin/env bash
# A private PostgreSQL cluster for Coffre development and tests.
#
#   scripts/pg.sh start     init once, start, wait until it accepts connections
#   scripts/pg.sh stop      fast shutdown (idempotent)
#   scripts/pg.sh status    exit 0 if running, 3 if not
#   scripts/pg.sh url       print the connection URL of the `coffre` role
#   scripts/pg.sh psql ...  psql as `coffre` on database `coffre`
#   scripts/pg.sh destroy   stop and delete the cluster (all data)
#
# The cluster listens on 127.0.0.1:$COFFRE_PG_PORT only, with its unix socket
# in its own directory (not /var/run/postgresql). Authentication is `trust`
# on the socket and on 127.0.0.1 (dev box). Role `coffre` (password `coffre`)
# is NOT a superuser and has no BYPASSRLS, so row-level security applies to
# it; it may create databases, and owns database `coffre`.
# fsync stays on: durability of acknowledged writes is under test.
#
# Where the cluster lives: the server refuses to run as root, so it runs as
# the `postgres` user, which must be able to reach its data directory. The
# default COFFRE_DATA is under /root (mode 0700), which `postgres` cannot
# traverse, and loosening /root's permissions for this is not acceptable. So:
#   - if `postgres` can traverse COFFRE_DATA, the cluster is COFFRE_DATA/pg;
#   - otherwise it is /var/lib/coffre/<hash of COFFRE_DATA>/pg (one cluster per
#     COFFRE_DATA, so parallel checkouts with different COFFRE_DATA don't
#     collide), and COFFRE_DATA/pg is a symlink to it;
#   - COFFRE_PG_DIR overrides both.
# Layout of that directory: data/ (PGDATA), run/ (socket), postgres.log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_USER=postgres
PG_BIN=$(pg_bindir)
DB_ROLE=coffre
DB_PASSWORD=coffre
DB_NAME=coffre

usage() {
  echo "usage: $0 start|stop|status|url|psql [args]|fresh-db|destroy" >&2
  exit 2
}

# Run a command as the postgres OS user, from a directory it can read.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u "$PG_USER" -- "$@")
  elif [[ "$(id -un)" == "$PG_USER" ]]; then
    (cd / && "$@")
  else
    die "pg.sh must run as root (or as the $PG_USER user)"
  fi
}

pg_can_traverse() {
  as_pg test -x "$1" 2>/dev/null
}

resolve_pg_dir() {
  if [[ -n "${COFFRE_PG_DIR:-}" ]]; then
    printf '%s\n' "$COFFRE_PG_DIR"
    return 0
  fi
  local link="$COFFRE_DATA/pg"
  if [[ -L "$link" ]]; then
    readlink "$link"
    return 0
  fi
  mkdir -p "$COFFRE_DATA"
  if pg_can_traverse "$COFFRE_DATA"; then
    printf '%s\n' "$link"
    return 0
  fi
  local hash
  hash=$(printf '%s' "$(cd "$COFFRE_DATA" && pwd -P)" | sha256sum | cut -c1-12)
  printf '%s\n' "/var/lib/coffre/$hash/pg"
}

PG_DIR='' PGDATA_DIR='' SOCK_DIR='' PG_LOG=''
setup_paths() {
  PG_DIR=$(resolve_pg_dir)
  PGDATA_DIR="$PG_DIR/data"
  SOCK_DIR="$PG_DIR/run"
  PG_LOG="$PG_DIR/postgres.log"
}

pg_ctl_() {
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" "$@"
}

is_running() {
  [[ -f "$PGDATA_DIR/PG_VERSION" ]] || return 1
  pg_ctl_ status >/dev/null 2>&1
}

running_port() {
  sed -n '4p' "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true
}

init_cluster() {
  [[ -f "$PGDATA_DIR/PG_VERSION" ]] && return 0
  log "initialising PostgreSQL cluster in $PG_DIR"
  if [[ "$PG_DIR" == /var/lib/coffre/* ]]; then
    install -d -m 0755 /var/lib/coffre
  fi
  install -d -m 0700 -o "$PG_USER" -g "$PG_USER" "$PG_DIR" "$SOCK_DIR"
  local tmp="$PG_DIR/data.init"
  rm -rf "$tmp"
  if ! as_pg "$PG_BIN/initdb" -D "$tmp" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=trust --data-checksums >"$PG_DIR/initdb.log" 2>&1; then
    cat "$PG_DIR/initdb.log" >&2
    rm -rf "$tmp"
    die "initdb failed"
  fi
  # Loopback and the private socket only.
  as_pg tee "$tmp/pg_hba.conf" >/dev/null <<'EOF'
# Coffre dev cluster: trust, loopback and the private unix socket only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF
  printf "\ninclude_if_exists = 'coffre.conf'\n" | as_pg tee -a "$tmp/postgresql.conf" >/dev/null
  as_pg mv "$tmp" "$PGDATA_DIR"
  # Convenience link so the cluster can be found from COFFRE_DATA.
  if [[ "$PG_DIR" != "$COFFRE_DATA/pg" && ! -e "$COFFRE_DATA/pg" && -z "${COFFRE_PG_DIR:-}" ]]; then
    ln -s "$PG_DIR" "$COFFRE_DATA/pg"
  fi
}

# Rewritten on every start so that a changed port or setting takes effect.
write_conf() {
  local content
  content="# Managed by coffre scripts/pg.sh (rewritten on every start).
listen_addresses = '127.0.0.1'
port = $COFFRE_PG_PORT
unix_socket_directories = '$SOCK_DIR'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
full_page_writes = on
max_wal_size = 2GB
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '"
  if [[ "$(cat "$PGDATA_DIR/coffre.conf" 2>/dev/null || true)" != "$content" ]]; then
    printf '%s\n' "$content" | as_pg tee "$PGDATA_DIR/coffre.conf" >/dev/null
  fi
}

psql_admin() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$COFFRE_PG_PORT" \
    -U postgres "$@"
}

ensure_roles() {
  psql_admin -d postgres >/dev/null <<EOF
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_ROLE') THEN
    CREATE ROLE $DB_ROLE;
  END IF;
END
\$\$;
ALTER ROLE $DB_ROLE WITH LOGIN PASSWORD '$DB_PASSWORD'
  NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE NOREPLICATION;
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_ROLE'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME')
\gexec
EOF
}

cmd_start() {
  if is_running; then
    local p
    p=$(running_port)
    [[ "$p" == "$COFFRE_PG_PORT" ]] ||
      die "the cluster in $PG_DIR is already running on port $p, not $COFFRE_PG_PORT; run '$0 stop' first"
    ensure_roles
    return 0
  fi
  if port_open 127.0.0.1 "$COFFRE_PG_PORT"; then
    die "127.0.0.1:$COFFRE_PG_PORT is already in use by another process (set COFFRE_PG_PORT)"
  fi
  init_cluster
  write_conf
  [[ -d "$SOCK_DIR" ]] || install -d -m 0700 -o "$PG_USER" -g "$PG_USER" "$SOCK_DIR"
  if [[ ! -e "$PG_LOG" ]]; then
    install -m 0640 -o "$PG_USER" -g "$PG_USER" /dev/null "$PG_LOG"
  fi
  if ! pg_ctl_ -l "$PG_LOG" -w -t 60 start >/dev/null 2>&1; then
    tail -n 30 "$PG_LOG" >&2 || true
    die "PostgreSQL failed to start (log: $PG_LOG)"
  fi
  wait_for_port 127.0.0.1 "$COFFRE_PG_PORT" 30 || die "PostgreSQL is not accepting TCP connections on 127.0.0.1:$COFFRE_PG_PORT"
  ensure_roles
}

cmd_stop() {
  is_running || return 0
  if ! pg_ctl_ -m fast -w -t 60 stop >/dev/null 2>&1; then
    tail -n 20 "$PG_LOG" >&2 || true
    die "PostgreSQL did not stop (log: $PG_LOG)"
  fi
}

cmd_status() {
  if is_running; then
    echo "postgres: running on 127.0.0.1:$(running_port) (pid $(head -1 "$PGDATA_DIR/postmaster.pid"), data $PGDATA_DIR)"
    return 0
  fi
  echo "postgres: stopped (data $PGDATA_DIR)"
  return 3
}

cmd_url() {
  echo "postgres://$DB_ROLE:$DB_PASSWORD@127.0.0.1:$COFFRE_PG_PORT/$DB_NAME"
}

cmd_psql() {
  exec "$PG_BIN/psql" -X "$(cmd_url)" "$@"
}

# An empty database (the cluster and roles stay): the test suite starts from
# one, so what earlier runs left (thousands of tenants, whose per-tenant
# sweeps and reconciliations slow later runs down) does not carry over.
cmd_fresh_db() {
  is_running || die "postgres is not running; start it first"
  psql_admin -d postgres >/dev/null <<EOF
DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE);
CREATE DATABASE $DB_NAME OWNER $DB_ROLE;
EOF
}

cmd_destroy() {
  cmd_stop
  if [[ -d "$PG_DIR" ]]; then
    rm -rf "$PG_DIR"
  fi
  if [[ -L "$COFFRE_DATA/pg" ]]; then
    rm -f "$COFFRE_DATA/pg"
  fi
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
if [[ "$cmd" == url ]]; then
  cmd_url
  exit 0
fi
setup_paths
case "$cmd" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  psql) cmd_psql "$@" ;;
  destroy) cmd_destroy ;;
  fresh-db) cmd_fresh_db ;;
  *) usage ;;
esac
