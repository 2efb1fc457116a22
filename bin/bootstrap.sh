# Sourced by bin/demo and bin/test: installs what the project needs, from the pinned lock
# files, on a fresh machine. Safe to run again; each step is skipped when already done.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export UV_PYTHON_DOWNLOADS=never   # use the machine's Python 3.13 (pyenv honours .python-version)
export UV_LINK_MODE=copy

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_python() {
  local want; want="$(cat .python-version)"
  if ! python3 -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" 2>/dev/null; then
    echo "Python $want is needed (see .python-version); install it with pyenv: pyenv install $want" >&2
    exit 1
  fi
  if ! command -v uv >/dev/null 2>&1; then
    say "Installing uv from PyPI"
    python3 -m pip install --quiet "uv==0.13.9"
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  fi
  say "Installing Python packages (uv.lock)"
  uv sync --frozen --quiet
}

ensure_node_packages() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "Installing front-end packages (package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    say "Installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
}

ensure_faketime() {
  if [ ! -e "$FAKETIME_LIB" ]; then
    say "Installing Debian's faketime for TEST_CLOCK"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null
  fi
}
FAKETIME_LIB="/usr/lib/$(uname -m)-linux-gnu/faketime/libfaketimeMT.so.1"

ensure_services() {
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    say "Starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "Starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
  fi
}
