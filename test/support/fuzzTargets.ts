import { randomBytes, randomUUID } from "node:crypto"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createUser, loginTokens, startGateway, type RunningGateway } from "../user-gateway/gatewayProcess.ts"
import { capabilityReport, ControlPlaneHarness } from "./controlPlane.ts"
import { fuzzEndpoint, type FuzzEndpoint, type FuzzReport } from "./fuzz.ts"
import { startServer, type RunningProgram } from "./programs.ts"

/**
 * The three real programs and every POST endpoint of each, ready to fuzz: the control plane and the user gateway on
 * fresh databases, the worker API with a token file. Bodies that would do real work are pointed away from it (a
 * sandbox image outside the allowlist, a wrong PSK), so the fuzz exercises parsing and checks, not containers.
 */

export interface FuzzService {
  readonly name: string
  readonly baseUrl: string
  readonly program: RunningProgram
  readonly endpoints: ReadonlyArray<FuzzEndpoint>
}

export interface FuzzTargets {
  readonly services: ReadonlyArray<FuzzService>
  readonly stop: () => Promise<void>
}

const bearer = (token: string) => `Bearer ${token}`

const startControlPlane = async (): Promise<{ service: FuzzService; stop: () => Promise<void> }> => {
  const harness = await ControlPlaneHarness.start()
  const slug = `fuzz-${randomBytes(4).toString("hex")}`
  const registered = await harness.register(capabilityReport(slug))
  if (registered.status !== 201 && registered.status !== 200) throw new Error(`registration answered ${registered.status}`)
  const jwt = (registered.json as { auth: { node_jwt: string } }).auth.node_jwt
  const endpoints: Array<FuzzEndpoint> = [
    { name: "POST /v1/nodes/register", target: "/v1/nodes/register", validBody: { psk: "not-the-psk", capability: capabilityReport(slug) } },
    {
      name: "POST /v1/nodes/config",
      target: "/v1/nodes/config",
      authorization: bearer(jwt),
      validBody: { version: 1, node_slug: slug, config_version: "1", status: "applied" }
    },
    { name: "POST /v1/nodes/capability", target: "/v1/nodes/capability", authorization: bearer(jwt), validBody: capabilityReport(slug) },
    { name: "POST /v1/nodes/heartbeat", target: "/v1/nodes/heartbeat", authorization: bearer(jwt), validBody: {} }
  ]
  return {
    service: { name: "control-plane", baseUrl: harness.baseUrl, program: harness.program, endpoints },
    stop: () => harness.stop()
  }
}

const startUserGateway = async (): Promise<{ service: FuzzService; stop: () => Promise<void> }> => {
  const gateway: RunningGateway = await startGateway()
  const victim = await createUser(gateway, `fuzz-victim-${randomBytes(3).toString("hex")}`, "victim-password-1")
  // One session per endpoint that could end the session it is called with (logout).
  const admin = await loginTokens(gateway, "admin", gateway.adminPassword)
  const logoutSession = await loginTokens(gateway, "admin", gateway.adminPassword)
  const auth = bearer(admin.access_token)
  const endpoints: Array<FuzzEndpoint> = [
    { name: "POST /v1/auth/login", target: "/v1/auth/login", validBody: { handle: "fuzz-nobody", password: "wrong-password" } },
    { name: "POST /v1/auth/refresh", target: "/v1/auth/refresh", validBody: { refresh_token: "not.a.token" } },
    { name: "POST /v1/auth/logout", target: "/v1/auth/logout", authorization: bearer(logoutSession.access_token), validBody: {} },
    { name: "POST /v1/admin/users", target: "/v1/admin/users", authorization: auth, validBody: { handle: "admin", password: "taken-handle-1" } },
    { name: "POST /v1/users/:id/revoke_sessions", target: `/v1/users/${victim.id}/revoke_sessions`, authorization: auth, validBody: {} },
    { name: "POST /v1/users/:id/disable", target: `/v1/users/${victim.id}/disable`, authorization: auth, validBody: {} },
    { name: "POST /v1/users/:id/enable", target: `/v1/users/${victim.id}/enable`, authorization: auth, validBody: {} },
    { name: "POST /v1/tasks", target: "/v1/tasks", authorization: auth, validBody: { prompt: "echo fuzz", input_mode: "script", files: [{ path: "in.txt", content_base64: "aGk=" }] } },
    { name: "POST /v1/tasks/:id/cancel", target: `/v1/tasks/${randomUUID()}/cancel`, authorization: auth, validBody: {} },
    { name: "POST /v1/nodes/:node_slug/drain", target: "/v1/nodes/fuzz-node/drain", authorization: auth, validBody: {} },
    { name: "POST /v1/nodes/:node_slug/disable", target: "/v1/nodes/fuzz-node/disable", authorization: auth, validBody: {} },
    { name: "POST /v1/nodes/:node_slug/enable", target: "/v1/nodes/fuzz-node/enable", authorization: auth, validBody: {} }
  ]
  return {
    service: { name: "user-gateway", baseUrl: gateway.baseUrl, program: gateway.program, endpoints },
    stop: () => gateway.stop()
  }
}

const startWorker = async (): Promise<{ service: FuzzService; stop: () => Promise<void> }> => {
  const dir = mkdtempSync(join(tmpdir(), "cynode-fuzz-worker-"))
  const token = `wk-${randomBytes(24).toString("hex")}`
  const tokenFile = join(dir, "token")
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
  const mountRoot = join(dir, "mounts")
  mkdirSync(mountRoot, { mode: 0o700 })
  const engineEnv = Object.fromEntries(
    ["CYNODE_CONTAINER_SOCKET", "DOCKER_HOST", "XDG_RUNTIME_DIR", "CYNODE_PODMAN_SERVICE"].flatMap((name) =>
      process.env[name] === undefined ? [] : [[name, process.env[name] as string]]
    )
  )
  const { program, baseUrl } = await startServer(
    "worker-api",
    "CYNODE_WORKER_LISTEN_ADDR",
    () => ({
      ...engineEnv,
      CYNODE_NODE_SLUG: `fuzz-node-${randomBytes(3).toString("hex")}`,
      CYNODE_SANDBOX_MOUNT_ROOT: mountRoot,
      CYNODE_WORKER_TOKEN_FILE: tokenFile
    }),
    { readyPath: "/healthz", timeoutMs: 60_000 }
  )
  const job = {
    version: 1,
    task_id: "fuzz-task",
    job_id: "fuzz-job",
    // Not on the allowlist: a body that passes every other check is refused before any container exists.
    sandbox: { image: "localhost/not-allowed:fuzz", command: ["true"] }
  }
  const endpoints: Array<FuzzEndpoint> = [
    { name: "POST /v1/worker/jobs:run", target: "/v1/worker/jobs:run", authorization: bearer(token), validBody: job },
    { name: "POST /v1/worker/jobs/:job_id/cancel", target: "/v1/worker/jobs/fuzz-job/cancel", authorization: bearer(token), validBody: {} }
  ]
  return {
    service: { name: "worker-api", baseUrl, program, endpoints },
    stop: async () => {
      await program.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export const startFuzzTargets = async (): Promise<FuzzTargets> => {
  const started: Array<{ service: FuzzService; stop: () => Promise<void> }> = []
  const stop = async () => {
    for (const s of started.reverse()) await s.stop().catch(() => undefined)
  }
  try {
    started.push(await startControlPlane())
    started.push(await startUserGateway())
    started.push(await startWorker())
  } catch (error) {
    await stop()
    throw error
  }
  return { services: started.map((s) => s.service), stop }
}

export interface ServiceOutcome {
  readonly reports: ReadonlyArray<FuzzReport>
  /** `/healthz` after the fuzz. */
  readonly healthy: boolean
  /** Log lines that must never appear: `[object Object]`, or an ERROR for a request that was not a 5xx. */
  readonly badLogLines: ReadonlyArray<string>
}

const healthy = (baseUrl: string) =>
  fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.status === 200, () => false)

/** Fuzzes every endpoint of a service with `count` requests each (seed + endpoint index), then checks its health. */
export const fuzzService = async (service: FuzzService, count: number, seed: number): Promise<ServiceOutcome> => {
  const reports: Array<FuzzReport> = []
  for (const [i, endpoint] of service.endpoints.entries()) {
    reports.push(await fuzzEndpoint(service.baseUrl, endpoint, { count, seed: seed + i }))
  }
  const badLogLines = service.program.output().split("\n").filter((line) =>
    line.includes("[object Object]") || (line.includes('"logLevel":"ERROR"') && line.includes("request failed"))
  )
  return { reports, healthy: await healthy(service.baseUrl), badLogLines }
}
