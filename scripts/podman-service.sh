#!/usr/bin/env bash
# Makes sure a Docker-compatible API answers for the tests: an existing Docker/Podman socket that answers a ping, or
# a podman service we start with runc (crun does not work on our machines; platform.md). The programs themselves
# can also start their own service (layers/ContainerRuntime.ts); this only saves every test process doing so.
#   podman-service.sh ensure   exit 0 once an engine answers (starting podman when none does)
#   podman-service.sh which    print "<podman|docker> <socket>" of the engine that answers, or fail
set -euo pipefail
# shellcheck source=lib/engine.sh
source "$(dirname "$0")/lib/engine.sh"

case "${1:-ensure}" in
  ensure)
    answering_engine >/dev/null && exit 0
    command -v podman >/dev/null || { echo "no container engine answers and podman is not installed: run ./scripts/bootstrap.sh setup (it installs podman + runc)" >&2; exit 1; }
    sock="$(podman_service_socket)"
    mkdir -p "$(dirname "$sock")"
    runtime=(); command -v runc >/dev/null && runtime=(--runtime runc)
    log_file="${TMPDIR:-/tmp}/cynode-podman-service.log"
    # Started from / : conmon inherits the service's working directory and fails every attach ("write child: broken
    # pipe") once that directory is gone, e.g. the clone a CI run started it from. `exec` with every standard stream
    # redirected: no shell of ours lingers beside the service holding our caller's stdout, which would keep a
    # `... | tee` (CI's log) waiting for an end of file forever.
    (cd / && exec nohup podman "${runtime[@]}" system service --time=0 "unix://$sock" </dev/null >"$log_file" 2>&1) &
    for _ in $(seq 1 50); do engine_probe "$sock" >/dev/null && exit 0; sleep 0.2; done
    echo "podman system service did not answer on $sock; see $log_file" >&2
    exit 1
    ;;
  which) answering_engine ;;
  *) echo "usage: $0 ensure|which" >&2; exit 2 ;;
esac
