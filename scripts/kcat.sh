#!/usr/bin/env bash
# kcat (Debian's, built against librdkafka 2.0.2) run against the librdkafka
# 2.8.0 shared library from scripts/setup.sh: 2.0.2 cannot talk to Tansu, and
# 2.8.0 is ABI-compatible. Without -b, the broker defaults to the dev Tansu
# (127.0.0.1:$COFFRE_KAFKA_PORT) through a generated kcat config file.
#   scripts/kcat.sh -L
#   echo hi | scripts/kcat.sh -P -t coffre.accounts
#   scripts/kcat.sh -C -t coffre.accounts -o beginning -e
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v kcat >/dev/null 2>&1 || die "kcat not installed; run scripts/setup.sh"
[[ -f "$RDKAFKA_PREFIX/lib/librdkafka.so.1" ]] ||
  die "librdkafka $RDKAFKA_VERSION not built at $RDKAFKA_PREFIX; run scripts/setup.sh"

if [[ -z "${KCAT_CONFIG:-}" ]]; then
  conf="$COFFRE_DATA/kafka/kcat.conf"
  want="bootstrap.servers=127.0.0.1:$COFFRE_KAFKA_PORT"
  if [[ "$(cat "$conf" 2>/dev/null || true)" != "$want" ]]; then
    mkdir -p "${conf%/*}"
    printf '%s\n' "$want" >"$conf"
  fi
  export KCAT_CONFIG="$conf"
fi
export LD_LIBRARY_PATH="$RDKAFKA_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec kcat "$@"
