#!/usr/bin/env bash
# One entry point that sets up everything ise-trace needs on a Debian machine, then runs a job.
#
#   bash scripts/run.sh demo     # set up, then run the whole pipeline (ise-trace demo)
#   bash scripts/run.sh test     # set up, then run the test suite (pytest; gpu tests deselected here)
#   bash scripts/run.sh setup    # set up only
#
# Idempotent: each step checks first and does nothing when already done (Docker engine, apt
# packages, the .venv, the workspace image), so the second run starts in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
job="${1:-setup}"
shift || true
say() { printf '[setup] %s\n' "$*" >&2; }

# --- system packages: the Docker engine, debootstrap (for the registry-free base image), and
# headless Chromium with its driver (the browser tests of `ise-trace view`)
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- the Docker engine: start one when none answers
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log: /var/log/ise-trace-dockerd.log)"
  nohup dockerd >/var/log/ise-trace-dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/ise-trace-dockerd.log" >&2; exit 1; }
fi

# --- Python environment: reinstalled only when pyproject.toml or constraints.txt change
[ -x .venv/bin/python ] || { say "creating .venv"; python3 -m venv .venv; }
stamp=.venv/.ise-trace-installed
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages (the first time compiles llama-cpp-python: ~10 minutes)"
  log=.venv/pip-install.log
  pipi() { .venv/bin/pip install "$@" >>"$log" 2>&1 || { tail -40 "$log" >&2; echo "pip install failed; full log: $log" >&2; exit 1; }; }
  : >"$log"
  pipi --upgrade pip
  # torch first, pinned: this version's CPU wheel is available locally; others are gigabytes.
  pipi torch==2.13.0
  pipi -c constraints.txt -e '.[dev]'
  echo "$want" >"$stamp"
fi

# --- the workspace image (content-hashed: rebuilt only when sandbox/ changes)
.venv/bin/ise-trace sandbox build >/dev/null

case "$job" in
  setup) say "ready" ;;
  demo) exec .venv/bin/ise-trace demo "$@" ;;
  test)
    set +e
    .venv/bin/python -m pytest -m "not gpu" "$@"
    rc=$?
    [ "$rc" = 5 ] && { echo "pytest collected no tests" >&2; exit 1; }
    exit "$rc"
    ;;
  *) echo "unknown job '$job': use demo, test or setup" >&2; exit 2 ;;
esac
