#!/usr/bin/env bash
# dangan's two entry points (see README):
#   ./scripts/dev.sh demo   set up, then digitise samples/batch through Prefect and show the results
#   ./scripts/dev.sh test   set up, then run the test suite (what CI runs)
# Setup is idempotent: a virtual environment in .venv/, dangan installed into it with pinned
# versions (constraints.txt), missing Debian packages installed, PP-OCR models put in the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
PORT=${DANGAN_PREFECT_PORT:-4200}
# Archives run on closed networks: no telemetry.
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

need_debs() {
  command -v dpkg-query >/dev/null || return 0
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

pick_python() {
  local c
  for c in ${PYTHON:-} python3.11 python3.12 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      echo "$c"; return
    fi
  done
  need_debs python3 python3-venv
  echo python3
}

setup() {
  # libgomp1: OpenMP runtime of paddlepaddle and onnxruntime. tesseract-ocr + Chinese packs: the
  # comparison/fallback engine (ocr.engine: tesseract, or ocr.vertical_engine).
  need_debs libgomp1 ca-certificates tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-chi-sim-vert \
    tesseract-ocr-chi-tra tesseract-ocr-chi-tra-vert
  if [ ! -x "$VENV/bin/python" ]; then
    local py
    py=$(pick_python)
    "$py" -c 'import ensurepip' 2>/dev/null || need_debs python3-venv
    log "creating $VENV with $("$py" --version)"
    "$py" -m venv "$VENV"
  fi
  local stamp="$VENV/.dangan-installed" sum
  sum=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    log "installing dangan and its dependencies into .venv (pinned by constraints.txt)"
    # pip's log goes to a file: shown only when the install fails.
    "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[test,faster-whisper,postgres,openvino]" >"$VENV/pip-install.log" 2>&1 || {
      tail -40 "$VENV/pip-install.log" >&2
      exit 3
    }
    # openai-whisper without its triton requirement (GPU only); its real dependencies are in
    # pyproject.toml. See README, "Speech".
    "$VENV/bin/python" -m pip install -q --no-deps -c constraints.txt openai-whisper >>"$VENV/pip-install.log" 2>&1 || {
      tail -40 "$VENV/pip-install.log" >&2
      exit 3
    }
    echo "$sum" >"$stamp"
  fi
  log "PP-OCR models"
  "$VENV/bin/dangan" models fetch
}

prefect_up() {
  "$VENV/bin/python" - "$PORT" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/health", timeout=2)
except Exception:
    sys.exit(1)
PY
}

start_prefect() {
  if prefect_up; then
    log "reusing the Prefect server on 127.0.0.1:$PORT"
    return
  fi
  local home=${PREFECT_HOME:-$HOME/.prefect}
  mkdir -p "$home"
  log "starting a Prefect server on 127.0.0.1:$PORT (log: $home/server.log)"
  setsid nohup "$VENV/bin/prefect" server start --host 127.0.0.1 --port "$PORT" >"$home/server.log" 2>&1 </dev/null &
  for _ in $(seq 120); do
    prefect_up && return
    sleep 1
  done
  echo "the Prefect server did not start; see $home/server.log" >&2
  exit 3
}

demo() {
  setup
  start_prefect
  export PREFECT_API_URL="http://127.0.0.1:$PORT/api"
  local rc=0
  log "dangan run samples/batch"
  "$VENV/bin/dangan" run samples/batch || rc=$?
  log "dangan search 档案数字化"
  "$VENV/bin/dangan" search 档案数字化 --limit 3
  log "dangan progress"
  "$VENV/bin/dangan" progress
  log "Prefect UI: http://127.0.0.1:$PORT  ·  more: .venv/bin/dangan --help"
  return $rc
}

run_tests() {
  setup
  # Only the tests need these: fonts-noto-cjk for generated pages; poppler-utils and chromium to read
  # the 双层PDF back and drive the search page; postgresql for a private server of Debian's that the
  # PostgreSQL store is tested against (tests/postgres_server.py).
  need_debs fonts-noto-cjk poppler-utils chromium postgresql
  exec "$VENV/bin/python" -m pytest -ra "$@"
}

case "${1:-}" in
  demo) demo ;;
  test) shift; run_tests "$@" ;;
  setup) setup ;;
  *) echo "usage: $0 demo|test|setup" >&2; exit 1 ;;
esac
