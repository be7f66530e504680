# Sourced by bootstrap.sh, podman-service.sh and images.sh: which container engine ANSWERS, not which CLIs exist
# (a machine can carry a `docker` client with no daemon behind it). Probing uses Node, which CyNode needs anyway,
# so curl is not a precondition. Socket order matches the programs' discovery (layers/container/discovery.ts).

# engine_probe <socket-path>: prints "podman" or "docker" and succeeds when GET /_ping answers 200 on that socket.
engine_probe() {
  [ -S "$1" ] || return 1
  node -e '
    const req = require("http").get({ socketPath: process.argv[1], path: "/_ping", timeout: 2000 }, (res) => {
      res.resume()
      if (res.statusCode !== 200) process.exit(1)
      console.log(res.headers["libpod-api-version"] === undefined ? "docker" : "podman")
      process.exit(0)
    })
    req.on("timeout", () => process.exit(1))
    req.on("error", () => process.exit(1))
  ' "$1" 2>/dev/null
}

# engine_candidates: unix socket paths to try, one a line, in the programs' order. CYNODE_CONTAINER_SOCKET or a
# unix DOCKER_HOST alone when set; CYNODE_ENGINE_SOCKETS (space-separated) replaces the default list.
engine_candidates() {
  if [ -n "${CYNODE_CONTAINER_SOCKET:-}" ]; then printf '%s\n' "${CYNODE_CONTAINER_SOCKET#unix://}"; return; fi
  case "${DOCKER_HOST:-}" in unix://*) printf '%s\n' "${DOCKER_HOST#unix://}"; return ;; esac
  if [ -n "${CYNODE_ENGINE_SOCKETS:-}" ]; then printf '%s\n' $CYNODE_ENGINE_SOCKETS; return; fi
  local runtime_dir="${XDG_RUNTIME_DIR:-}"
  [ -z "$runtime_dir" ] && [ "$(id -u)" -ne 0 ] && runtime_dir="/run/user/$(id -u)"
  [ -n "$runtime_dir" ] && printf '%s\n' "$runtime_dir/podman/podman.sock"
  printf '%s\n' /run/podman/podman.sock /var/run/docker.sock
}

# answering_engine: prints "<kind> <socket>" for the first candidate that answers; fails when none does.
answering_engine() {
  local sock kind
  while IFS= read -r sock; do
    if kind="$(engine_probe "$sock")"; then printf '%s %s\n' "$kind" "$sock"; return 0; fi
  done < <(engine_candidates)
  return 1
}

# podman_service_socket: where we start our own podman service when none answers.
podman_service_socket() {
  if [ -n "${CYNODE_CONTAINER_SOCKET:-}" ]; then printf '%s\n' "${CYNODE_CONTAINER_SOCKET#unix://}"
  elif [ "$(id -u)" -eq 0 ]; then printf '%s\n' /run/podman/podman.sock
  else printf '%s\n' "${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/podman/podman.sock"
  fi
}
