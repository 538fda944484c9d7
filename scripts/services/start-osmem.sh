#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start osmem-server (PyPI osmem-server: an in-memory OpenSearch-compatible server, one Go binary)
# on loopback. It has no k-NN search, auth or TLS (see osproxy.py for TLS/auth/429 in front of it).
#
#   scripts/services/start-osmem.sh [PORT]      (default $OSMEM_PORT, 19200)
#
# Prints the URL on stdout once it answers; pid in $INGEST_E2E_RUN/osmem.pid, log in
# $INGEST_E2E_RUN/osmem.log. OSMEM_START_TIMEOUT (s, default 30).
#
# OSMEM_DATA_DIR (unset: in memory only, as the tests want) keeps the data across restarts:
# the server loads the folder's last complete save at start (`-seed`), and
# scripts/services/stop-all.sh saves the indices into it before stopping the server
# (scripts/services/osmem_snapshot.py: versioned saves, fsynced, switched atomically).
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

seed=()
if [ -n "${OSMEM_DATA_DIR:-}" ]; then
  # The last complete save (osmem_snapshot.py keeps versioned saves and recovers crash leftovers);
  # nothing printed: no data yet. A folder with saves but none complete stops here, not empty.
  saved="$(python3 "$HERE/osmem_snapshot.py" --resolve "$OSMEM_DATA_DIR")" || die "$NAME: its data in $OSMEM_DATA_DIR cannot be loaded (see above)"
  if [ -n "$saved" ]; then seed=(-seed "$saved"); fi
  log "osmem-server keeps its data in $OSMEM_DATA_DIR; loads ${saved:-nothing (no save yet)}"
fi

t0=$(date +%s.%N)
start_bg "$NAME" "$LOGF" "$BIN" -addr "127.0.0.1:$PORT" -no-stdin-watch "${seed[@]}"
URL="http://127.0.0.1:$PORT"
if ! wait_http "$URL/" "$START_PID" "$TIMEOUT" "$LOGF" osmem-server; then
  rm -f "$INGEST_E2E_RUN/$NAME.pid"; exit 1
fi
echo "$URL" >"$INGEST_E2E_RUN/$NAME.url"
if [ -n "${OSMEM_DATA_DIR:-}" ]; then echo "$OSMEM_DATA_DIR" >"$INGEST_E2E_RUN/$NAME.datadir"; else rm -f "$INGEST_E2E_RUN/$NAME.datadir"; fi
log "osmem-server $OSMEM_VERSION at $URL, pid $START_PID, up after $(elapsed "$t0") s; log $LOGF"
echo "$URL"
