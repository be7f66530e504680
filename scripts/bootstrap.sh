#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine with Node 20.19+:
#   ./scripts/bootstrap.sh demo    install what is missing, then bring CyNode up and run a demo task to its result
#   ./scripts/bootstrap.sh test    install what is missing, then run every check (`just ci`)
#   ./scripts/bootstrap.sh setup   install only
# It installs system packages only when no container runtime is present (podman + runc, busybox-static for the
# sandbox image), npm dependencies with `npm install` (`npm ci` cannot work here; platform.md), and local images.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; exit 1
  fi
}

install_system_packages() {
  local pkgs=()
  command -v podman >/dev/null || command -v docker >/dev/null || pkgs+=(podman)
  if command -v podman >/dev/null || [ ${#pkgs[@]} -gt 0 ]; then command -v runc >/dev/null || pkgs+=(runc); fi
  [ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || pkgs+=(busybox-static)
  command -v curl >/dev/null || pkgs+=(curl)
  if [ ${#pkgs[@]} -gt 0 ]; then
    log "installing system packages: ${pkgs[*]}"
    need_root apt-get update -qq
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
}

check_node() {
  command -v node >/dev/null || { echo "Node.js 20.19+ is required" >&2; exit 1; }
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
    { echo "Node.js 20.19+ is required (found $(node --version))" >&2; exit 1; }
}

install_node_modules() {
  if [ ! -x node_modules/.bin/just ] || [ package.json -nt node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm install"
    npm install --no-audit --no-fund --loglevel=error
  fi
}

setup() {
  check_node
  install_system_packages
  install_node_modules
  ./scripts/podman-service.sh ensure
  log "building local images"
  ./scripts/images.sh
}

case "${1:-}" in
  setup) setup ;;
  demo) setup; exec node_modules/.bin/just demo ;;
  test) setup; exec node_modules/.bin/just ci ;;
  *) echo "usage: $0 demo|test|setup" >&2; exit 2 ;;
esac
