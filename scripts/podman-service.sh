#!/usr/bin/env bash
# Makes sure a Docker-compatible API answers for the tests: an existing Docker/Podman socket, or a podman
# service we start with runc (crun does not work on our machines; platform.md). The programs themselves can
# also start their own service (layers/ContainerRuntime.ts); this only saves every test process doing so.
set -euo pipefail
sock=/run/podman/podman.sock
answers() { curl -fsS --max-time 2 --unix-socket "$1" http://d/_ping >/dev/null 2>&1; }

case "${1:-ensure}" in
  ensure)
    if [ -n "${CYNODE_CONTAINER_SOCKET:-}" ] && answers "${CYNODE_CONTAINER_SOCKET#unix://}"; then exit 0; fi
    for s in "$sock" /var/run/docker.sock "${XDG_RUNTIME_DIR:-/nonexistent}/podman/podman.sock"; do
      if answers "$s"; then exit 0; fi
    done
    command -v podman >/dev/null || { echo "no container API answers and podman is not installed: run ./scripts/bootstrap.sh setup" >&2; exit 1; }
    mkdir -p "$(dirname "$sock")"
    runtime=(); command -v runc >/dev/null && runtime=(--runtime runc)
    nohup podman "${runtime[@]}" system service --time=0 "unix://$sock" >/tmp/cynode-podman-service.log 2>&1 &
    for _ in $(seq 1 50); do answers "$sock" && exit 0; sleep 0.2; done
    echo "podman system service did not answer on $sock; see /tmp/cynode-podman-service.log" >&2
    exit 1
    ;;
  *) echo "usage: $0 ensure" >&2; exit 2 ;;
esac
