import type { RoutePolicy } from "../../layers/HttpRoutes.ts"
import { MAX_INPUT_FILES_BYTES } from "../../schema/files.ts"
import { MAX_PROMPT_BYTES } from "../../schema/job.ts"

/**
 * The gateway's route policy (user-gateway.md §2–§3): only the probes, login and refresh are open; body limits are
 * sized to each contract. `maxBodyBytes` (MAX_REQUEST_BODY_MB) is the ceiling and the limit of unlisted routes.
 */

const AUTH_BODY_BYTES = 64 * 1024
/**
 * Just above what a task may carry: the 1 MiB prompt, its input files in base64 (4/3 of their 1 MiB), and 64 KiB
 * for the other fields and JSON framing.
 */
const TASK_CREATE_BODY_BYTES = MAX_PROMPT_BYTES + Math.ceil(MAX_INPUT_FILES_BYTES / 3) * 4 + 64 * 1024

export const gatewayRoutes = (maxBodyBytes: number): RoutePolicy => {
  const cap = (n: number) => Math.min(n, maxBodyBytes)
  return {
    publicRoutes: ["GET /healthz", "GET /readyz", "POST /v1/auth/login", "POST /v1/auth/refresh"],
    defaultMaxBodyBytes: maxBodyBytes,
    quietRoutes: ["GET /healthz", "GET /readyz"],
    bodyLimits: {
      "POST /v1/auth/login": cap(AUTH_BODY_BYTES),
      "POST /v1/auth/refresh": cap(AUTH_BODY_BYTES),
      "POST /v1/auth/logout": cap(AUTH_BODY_BYTES),
      "POST /v1/admin/users": cap(AUTH_BODY_BYTES),
      "POST /v1/users/:id/revoke_sessions": cap(AUTH_BODY_BYTES),
      "POST /v1/users/:id/disable": cap(AUTH_BODY_BYTES),
      "POST /v1/users/:id/enable": cap(AUTH_BODY_BYTES),
      "POST /v1/tasks": cap(TASK_CREATE_BODY_BYTES),
      "POST /v1/tasks/:id/cancel": cap(AUTH_BODY_BYTES),
      "POST /v1/nodes/:node_slug/drain": cap(AUTH_BODY_BYTES),
      "POST /v1/nodes/:node_slug/disable": cap(AUTH_BODY_BYTES),
      "POST /v1/nodes/:node_slug/enable": cap(AUTH_BODY_BYTES)
    },
  }
}
