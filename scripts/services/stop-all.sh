#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stop the local services started by scripts/services/start-*.sh (or scripts/up): every
# $INGEST_E2E_RUN/*.pid, or only the names given (docling, osmem, embeddings, ...).
# A service started with a data folder (osmem-server with OSMEM_DATA_DIR, as scripts/up starts it)
# first writes its indices there; when that fails it is left running, and the exit status is 1.
# Only a process that is still the one started is signalled (pid_alive: boot id and start time
# recorded beside the pid); a pid file naming anything else is removed as stale.
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
rc=0 stop=()
for n in "${names[@]}"; do
  if [ -s "$INGEST_E2E_RUN/$n.datadir" ] && [ -s "$INGEST_E2E_RUN/$n.url" ] && pid_alive "$n"; then
    if ! save_osmem "$n"; then
      log "$n keeps running so that its data is not lost; fix the cause above and run this again"
      rc=1; continue
    fi
  fi
  stop+=("$n")
done
for n in "${stop[@]}"; do stop_pidfile "$n" & done   # in parallel: each may take a few seconds
wait
exit "$rc"
