#!/usr/bin/env bash
# Installs what brownout needs from Debian 12's packages (only what is
# missing) and builds it. Sourced by the other scripts; safe to run again.
set -euo pipefail

BROWNOUT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BROWNOUT_ROOT

# Build tools and libraries, plus what the tests and the demo run.
BROWNOUT_PACKAGES=(
  g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libcli11-dev libtomlplusplus-dev libspdlog-dev doctest-dev
  python3 python3-psycopg2 curl jq netcat-openbsd procps postgresql redis-server redis-tools
  chromium fonts-dejavu-core clang libclang-rt-14-dev mariadb-server mariadb-client libdbd-mariadb-perl
)

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "brownout: installing ${missing[*]}" >&2
    if [ "$(id -u)" -ne 0 ]; then
      echo "brownout: run as root (or install these packages yourself): ${missing[*]}" >&2
      exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_missing "${BROWNOUT_PACKAGES[@]}"
# Node.js runs the end-to-end test with a real Toxiproxy client library.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  install_missing nodejs npm
fi

# build PRESET: configures and builds build/ (default) or build-asan/ (asan).
build() {
  local preset="${1:-default}"
  cd "$BROWNOUT_ROOT"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
}
