#!/usr/bin/env bash
# Replays a trace against a running stack with coffre-load, then verifies
# that every acknowledged signup logs in, every acknowledged upload reads
# back intact, and quota's ledger agrees with ingest. Exit status 0 only if
# verification passed.
#
#   GATEWAY_TRUST_FORWARDED_FOR=true ./coffre up      # then:
#   bash scripts/load.sh [TRACE] [coffre-load options]  (default trace: smoke)
#
# TRACE is smoke, launch, upload-storm (Tools/Load/Traces) or a file.
# The gateway defaults to stack.sh's (port COFFRE_PORT_BASE, 8080), the
# operator token to stack.sh's development one. Each synthetic account sends
# its own X-Forwarded-For address; a gateway started without
# GATEWAY_TRUST_FORWARDED_FOR=true puts them all in one per-IP bucket and
# sheds most signups and logins (429), which the report then shows.
# COFFRE_BUILD=release uses the release build of coffre-load.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TRACE="${1:-smoke}"
[[ $# -gt 0 ]] && shift
COFFRE_PORT_BASE="${COFFRE_PORT_BASE:-8080}"
GATEWAY="${COFFRE_GATEWAY:-http://127.0.0.1:$COFFRE_PORT_BASE}"
export COFFRE_ADMIN_TOKEN="${COFFRE_ADMIN_TOKEN:-coffre-dev-admin-token}"
config=debug
[[ "${COFFRE_BUILD:-debug}" == release ]] && config=release
cd "$COFFRE_ROOT"
curl -fsS "$GATEWAY/healthz" >/dev/null 2>&1 || die "no gateway ready at $GATEWAY (start the stack: GATEWAY_TRUST_FORWARDED_FOR=true ./coffre up)"
log "building coffre-load ($config)"
swift build -c "$config" --product coffre-load 2>&1 | tail -n 1
BIN="$(swift build -c "$config" --show-bin-path)"
log "coffre-load $TRACE against $GATEWAY"
exec "$BIN/coffre-load" "$TRACE" --gateway "$GATEWAY" "$@"
