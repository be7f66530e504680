import Docker from "dockerode"

/** The container engine as the BDD suites look at it directly: what a node left running, and removing it. */

/** The images `just images` builds. */
export const SANDBOX_IMAGE = "localhost/cynode-sandbox:latest"
export const STANDIN_IMAGE = "localhost/cynode-inference-standin:latest"

const SOCKET = (process.env.CYNODE_CONTAINER_SOCKET ?? "unix:///run/podman/podman.sock").replace(/^unix:\/\//, "")
// `host: undefined` explicitly: dockerode merges DOCKER_HOST defaults, which would override the socket path.
export const docker = new Docker({ socketPath: SOCKET, host: undefined })

/** Containers of this node: every CyNode container carries the managed label and its node's slug. */
export const containersOf = (nodeSlug: string) =>
  docker.listContainers({ all: true, filters: { label: ["io.cynode.managed=true", `io.cynode.node=${nodeSlug}`] } })
