#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start a real docling-serve on loopback, offline (no model downloads): the PyPI install with a
# TEST-ONLY stand-in layout model (random weights). HTML, DOCX, PPTX, XLSX, Markdown, CSV,
# AsciiDoc convert with genuine output; a PDF converts but its layout is meaningless (use PDFs to
# test plumbing only). Every request must send do_ocr=false and do_table_structure=false.
#
#   scripts/services/start-docling.sh [PORT]      (default $DOCLING_PORT, 15001)
#
# Prints the URL on stdout once /health answers; pid in $INGEST_E2E_RUN/docling.pid, log in
# $INGEST_E2E_RUN/docling.log. DOCLING_START_TIMEOUT (s, default 240) bounds the wait. Extra
# DOCLING_SERVE_* variables you export are passed through (e.g. DOCLING_SERVE_API_KEY).
# Stop it with scripts/services/stop-all.sh (or stop-all.sh docling).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"
PORT="${1:-$DOCLING_PORT}"
NAME="${DOCLING_NAME:-docling}"
TIMEOUT="${DOCLING_START_TIMEOUT:-240}"
LOGF="$INGEST_E2E_RUN/$NAME.log"
mkdir -p "$INGEST_E2E_RUN"

if pid_alive "$NAME"; then die "$NAME already runs (pid $(cat "$INGEST_E2E_RUN/$NAME.pid"), $(cat "$INGEST_E2E_RUN/$NAME.url" 2>/dev/null)); stop it first"; fi
refuse_busy "$NAME" "$PORT" DOCLING_PORT
"$HERE/install.sh" docling >&2

t0=$(date +%s.%N)
start_bg "$NAME" "$LOGF" env HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  DOCLING_SERVE_LOAD_MODELS_AT_BOOT=false DOCLING_SERVE_ENABLE_UI=false \
  DOCLING_SERVE_ARTIFACTS_PATH="$DOCLING_ARTIFACTS" \
  "$DOCLING_VENV/bin/docling-serve" run --host 127.0.0.1 --port "$PORT"
URL="http://127.0.0.1:$PORT"
if ! wait_http "$URL/health" "$START_PID" "$TIMEOUT" "$LOGF" docling-serve; then
  rm -f "$INGEST_E2E_RUN/$NAME.pid"; exit 1
fi
echo "$URL" >"$INGEST_E2E_RUN/$NAME.url"
log "docling-serve $DOCLING_VERSION (offline stand-in) at $URL, pid $START_PID, healthy after $(elapsed "$t0") s; log $LOGF"
echo "$URL"
