import type { RoutePolicy } from "../../layers/HttpRoutes.ts"

/** Only the probes are open; every other route needs the bearer token. */
export const workerRoutes = (maxRequestBytes: number): RoutePolicy => ({
  publicRoutes: ["GET /healthz", "GET /readyz"],
  defaultMaxBodyBytes: maxRequestBytes,
  quietRoutes: ["GET /healthz", "GET /readyz"]
})
