#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start osmem-server (PyPI osmem-server: an in-memory OpenSearch-compatible server, one Go binary)
# on loopback. It has no k-NN search, auth or TLS (see osproxy.py for TLS/auth/429 in front of it).
#
#   scripts/services/start-osmem.sh [PORT]      (default $OSMEM_PORT, 19200)
#
# Prints the URL on stdout once it answers; pid in $INGEST_E2E_RUN/osmem.pid, log in
# $INGEST_E2E_RUN/osmem.log. OSMEM_START_TIMEOUT (s, default 30).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"
PORT="${1:-$OSMEM_PORT}"
NAME="${OSMEM_NAME:-osmem}"
TIMEOUT="${OSMEM_START_TIMEOUT:-30}"
LOGF="$INGEST_E2E_RUN/$NAME.log"
mkdir -p "$INGEST_E2E_RUN"

if pid_alive "$NAME"; then die "$NAME already runs (pid $(cat "$INGEST_E2E_RUN/$NAME.pid")); stop it first"; fi
refuse_busy "$NAME" "$PORT" OSMEM_PORT
"$HERE/install.sh" osmem >&2
BIN="$("$OSMEM_VENV/bin/python" -c 'import osmem_server, os; print(os.path.join(os.path.dirname(osmem_server.__file__), "bin", "osmem-server"))')"
[ -x "$BIN" ] || die "osmem-server binary not found at $BIN"

t0=$(date +%s.%N)
start_bg "$NAME" "$LOGF" "$BIN" -addr "127.0.0.1:$PORT" -no-stdin-watch
URL="http://127.0.0.1:$PORT"
if ! wait_http "$URL/" "$START_PID" "$TIMEOUT" "$LOGF" osmem-server; then
  rm -f "$INGEST_E2E_RUN/$NAME.pid"; exit 1
fi
echo "$URL" >"$INGEST_E2E_RUN/$NAME.url"
log "osmem-server $OSMEM_VERSION at $URL, pid $START_PID, up after $(elapsed "$t0") s; log $LOGF"
echo "$URL"
