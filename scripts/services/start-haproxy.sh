#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start HAProxy (Debian package `haproxy`) as the stand-in for Stepflow's instance-aware balancer
# in front of three `ingest serve` replicas run with POD_NAME w1, w2, w3 (see haproxy.cfg.tmpl).
#
#   scripts/services/start-haproxy.sh LB_PORT PORT_W1 PORT_W2 PORT_W3 [STATS_PORT]
#
# Prints the balancer URL on stdout once it listens; pid in $INGEST_E2E_RUN/$HAPROXY_NAME.pid
# (default name haproxy), rendered config and log next to it. Stop with stop_pidfile or kill the pid.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"
[ $# -ge 4 ] || die "usage: $0 LB_PORT PORT_W1 PORT_W2 PORT_W3 [STATS_PORT]"
LB="$1" P1="$2" P2="$3" P3="$4" ST="${5:-$(( $1 + 1 ))}"
NAME="${HAPROXY_NAME:-haproxy}"
BIN="${HAPROXY_BIN:-$(command -v haproxy || echo /usr/sbin/haproxy)}"
[ -x "$BIN" ] || die "haproxy not found; install it: apt-get install haproxy"
mkdir -p "$INGEST_E2E_RUN"
if pid_alive "$NAME"; then die "$NAME already runs (pid $(cat "$INGEST_E2E_RUN/$NAME.pid")); stop it first"; fi
refuse_busy "$NAME" "$LB" "LB_PORT"
refuse_busy "$NAME stats" "$ST" "STATS_PORT"

CFG="$INGEST_E2E_RUN/$NAME.cfg"
LOGF="$INGEST_E2E_RUN/$NAME.log"
sed -e "s/@LB@/$LB/g" -e "s/@P1@/$P1/g" -e "s/@P2@/$P2/g" -e "s/@P3@/$P3/g" -e "s/@ST@/$ST/g" \
  "$HERE/haproxy.cfg.tmpl" >"$CFG"
"$BIN" -c -q -f "$CFG" || die "invalid HAProxy config $CFG"

# -db: stay in the foreground (no daemon), so the recorded pid is HAProxy itself.
start_bg "$NAME" "$LOGF" "$BIN" -db -f "$CFG"
for _ in $(seq 1 100); do
  if port_busy "$LB"; then
    echo "http://127.0.0.1:$LB" >"$INGEST_E2E_RUN/$NAME.url"
    log "haproxy at http://127.0.0.1:$LB (stats http://127.0.0.1:$ST/stats), pid $START_PID; config $CFG"
    echo "http://127.0.0.1:$LB"
    exit 0
  fi
  kill -0 "$START_PID" 2>/dev/null || { log "haproxy exited; last lines of $LOGF:"; tail -n 20 "$LOGF" >&2; exit 1; }
  sleep 0.1
done
log "haproxy did not listen on $LB within 10 s"; kill "$START_PID" 2>/dev/null || true; exit 1
