import type { RoutePolicy } from "../../layers/HttpRoutes.ts"

/**
 * The control plane's route policy (control-plane.md §3): the probes are open and registration is checked by its
 * PSK middleware; every other route needs a node or operator token (checked by HttpApi security middleware, before
 * the body is read). Bodies are small JSON documents: 1 MiB at most.
 */
export const controlPlaneRoutes: RoutePolicy = {
  publicRoutes: ["GET /healthz", "GET /readyz", "POST /v1/nodes/register"],
  defaultMaxBodyBytes: 1024 * 1024,
  quietRoutes: ["GET /healthz", "GET /readyz", "POST /v1/nodes/heartbeat", "POST /v1/nodes/capability"]
}
