#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stop the local services started by scripts/services/start-*.sh (or scripts/up): every
# $INGEST_E2E_RUN/*.pid, or only the names given (docling, osmem, embeddings, ...).
# Services started with Docker (scripts/up on a machine with a Docker engine) are stopped with
#   docker compose -f docker/compose.yaml down
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  shopt -s nullglob
  for f in "$INGEST_E2E_RUN"/*.pid; do names+=("$(basename "$f" .pid)"); done
fi
[ ${#names[@]} -gt 0 ] || { log "no services recorded in $INGEST_E2E_RUN"; exit 0; }
for n in "${names[@]}"; do stop_pidfile "$n" & done   # in parallel: each may take a few seconds
wait
