#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine with Node 20.19+:
#   ./scripts/bootstrap.sh demo    install what is missing, then bring CyNode up and run a demo task to its result
#   ./scripts/bootstrap.sh test    install what is missing, then run every check (`just ci`)
#   ./scripts/bootstrap.sh setup   install only
#   ./scripts/bootstrap.sh plan    print what setup would install and start, change nothing
# The decision is whether a container ENGINE answers (scripts/lib/engine.sh), not which clients are installed: a
# `docker` client without a daemon counts as nothing. When no engine answers it installs podman + runc (crun does
# not work on our machines; platform.md) and starts a podman service. busybox-static is needed for the sandbox
# image either way. npm dependencies come from `npm install` (`npm ci` cannot work here; platform.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/engine.sh
source scripts/lib/engine.sh

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
has() { command -v "$1" >/dev/null 2>&1; }

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif has sudo; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; exit 1
  fi
}

check_node() {
  has node || { echo "Node.js 20.19+ is required" >&2; exit 1; }
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
    { echo "Node.js 20.19+ is required (found $(node --version))" >&2; exit 1; }
}

# decide: sets ENGINE ("<kind> <socket>" or empty), PACKAGES and START_SERVICE (a socket path or empty).
decide() {
  ENGINE="$(answering_engine || true)"
  PACKAGES=()
  START_SERVICE=""
  if [ -z "$ENGINE" ]; then
    has podman || PACKAGES+=(podman)
    has runc || PACKAGES+=(runc)
    START_SERVICE="$(podman_service_socket)"
  fi
  [ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || [ -n "${CYNODE_BUSYBOX:-}" ] || PACKAGES+=(busybox-static)
  # Debian's Chromium for the web console's browser tests (playwright-core drives it; nothing downloads a browser).
  if [ "${BROWSER_TESTS:-0}" = 1 ]; then [ -x /usr/bin/chromium ] || PACKAGES+=(chromium); fi
  return 0
}

print_plan() {
  local clients=()
  for c in docker podman runc; do has "$c" && clients+=("$c"); done
  echo "clients: ${clients[*]:-none}"
  if [ -n "$ENGINE" ]; then echo "engine: ${ENGINE% *} answers at ${ENGINE#* }"; else echo "engine: none answers"; fi
  echo "install: ${PACKAGES[*]:-nothing}"
  if [ -n "$START_SERVICE" ]; then echo "start: podman service at $START_SERVICE"; else echo "start: nothing"; fi
}

install_system_packages() {
  if [ ${#PACKAGES[@]} -gt 0 ]; then
    log "installing system packages: ${PACKAGES[*]}"
    need_root apt-get update -qq
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
  fi
}

install_node_modules() {
  if [ ! -x node_modules/.bin/just ] || [ package.json -nt node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm install"
    npm install --no-audit --no-fund --loglevel=error
  fi
  # The web console has its own packages (console/package.json): Vite, React, playwright-core.
  if [ ! -x console/node_modules/.bin/vite ] || [ console/package-lock.json -nt console/node_modules/.package-lock.json ]; then
    log "npm install (console)"
    npm install --prefix console --no-audit --no-fund --loglevel=error
  fi
}

setup() {
  check_node
  decide
  print_plan
  install_system_packages
  install_node_modules
  ./scripts/podman-service.sh ensure
  log "building local images"
  ./scripts/images.sh
}

case "${1:-}" in
  plan) BROWSER_TESTS=1; check_node; decide; print_plan ;;
  setup) setup ;;
  demo) setup; exec node_modules/.bin/just demo ;;
  test) BROWSER_TESTS=1; setup; exec node_modules/.bin/just ci ;;
  *) echo "usage: $0 demo|test|setup|plan" >&2; exit 2 ;;
esac
