#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start the real Stepflow 0.9.0 orchestrator (PyPI stepflow-orchestrator==0.9.0, which ships the
# native stepflow-server binary) configured like the deployment: steps `/langflow/{*component}`
# go to the ingest worker (or the balancer in front of its replicas), `/builtin/{*component}` to
# the built-in components (put_blob, …).
#
#   scripts/services/start-stepflow.sh PORT WORKER_URL      e.g. 17840 http://127.0.0.1:18090
#
# The worker must already answer at WORKER_URL: the server sends initialize/initialized at start
# and exits if they fail. Installs the venv on first use ($STEPFLOW_VENV, default
# $INGEST_E2E_CACHE/stepflow-venv). Prints the REST API base (…/api/v1) once healthy; pid in
# $INGEST_E2E_RUN/$STEPFLOW_NAME.pid (default stepflow), config and log next to it.
# STEPFLOW_START_TIMEOUT (s, default 60).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"
[ $# -ge 2 ] || die "usage: $0 PORT WORKER_URL"
PORT="$1" WORKER_URL="${2%/}"
NAME="${STEPFLOW_NAME:-stepflow}"
STEPFLOW_VERSION="${STEPFLOW_VERSION:-0.9.0}"
STEPFLOW_VENV="${STEPFLOW_VENV:-$INGEST_E2E_CACHE/stepflow-venv}"
TIMEOUT="${STEPFLOW_START_TIMEOUT:-60}"
mkdir -p "$INGEST_E2E_RUN"
if pid_alive "$NAME"; then die "$NAME already runs (pid $(cat "$INGEST_E2E_RUN/$NAME.pid")); stop it first"; fi
refuse_busy "$NAME" "$PORT" "PORT"

have_stepflow() {
  [ -x "$STEPFLOW_VENV/bin/python" ] && "$STEPFLOW_VENV/bin/python" - "$STEPFLOW_VERSION" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
sys.exit(0 if m.version("stepflow-orchestrator") == sys.argv[1] else 1)
PY
}
if ! have_stepflow; then
  [ -x "$STEPFLOW_VENV/bin/python" ] || python3 -m venv "$STEPFLOW_VENV"
  step "pip install stepflow-orchestrator==$STEPFLOW_VERSION into $STEPFLOW_VENV" \
    "$STEPFLOW_VENV/bin/pip" install --disable-pip-version-check -q "stepflow-orchestrator==$STEPFLOW_VERSION"
fi
BIN="$("$STEPFLOW_VENV/bin/python" -c 'import os, stepflow_orchestrator as m; print(os.path.join(os.path.dirname(m.__file__), "bin", "stepflow-server"))')"
[ -x "$BIN" ] || die "stepflow-server not found at $BIN"

CFG="$INGEST_E2E_RUN/$NAME-config.yml"
LOGF="$INGEST_E2E_RUN/$NAME.log"
cat >"$CFG" <<YAML
# Same shape as the deployment's configmap: only the worker URL is local.
plugins:
  builtin:
    type: builtin
  langflow_k8s:
    type: stepflow
    transport: http
    url: "$WORKER_URL"
routes:
  "/langflow/{*component}":
    - plugin: langflow_k8s
  "/builtin/{*component}":
    - plugin: builtin
stateStore:
  type: inMemory
YAML

t0=$(date +%s.%N)
# 0.9.0 always binds 0.0.0.0:PORT (no bind-address flag).
start_bg "$NAME" "$LOGF" "$BIN" --port "$PORT" --config "$CFG" --log-level info
API="http://127.0.0.1:$PORT/api/v1"
if ! wait_http "$API/health" "$START_PID" "$TIMEOUT" "$LOGF" stepflow-server; then
  rm -f "$INGEST_E2E_RUN/$NAME.pid"; exit 1
fi
echo "$API" >"$INGEST_E2E_RUN/$NAME.url"
log "stepflow-server $STEPFLOW_VERSION at $API -> $WORKER_URL, pid $START_PID, up after $(elapsed "$t0") s; log $LOGF"
echo "$API"
