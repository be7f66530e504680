import { Effect, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { WorkerTokens } from "../../src/control-plane/WorkerTokens.ts"
import { capabilityReport, ControlPlaneHarness } from "../support/controlPlane.ts"

/**
 * Heartbeats on the real control plane: `POST /v1/nodes/heartbeat` keeps a node active; silence past the TTL makes it
 * `lost` (not dispatchable, `/readyz` 503 saying so); the next heartbeat makes it active and ready again. Each answer
 * names the config version issued to the node; a worker token the current key cannot decrypt is re-issued there.
 */

let cp: ControlPlaneHarness
let jwt = ""
let ackedVersion = ""
const SLUG = "beat-node"

const nodeRow = async () =>
  (await cp.query<{ worker_api_bearer_token: string; issued_config_version: string; config_version: string }>(
    "SELECT worker_api_bearer_token, issued_config_version, config_version FROM nodes WHERE node_slug = $1",
    [SLUG]
  ))[0]

const ack = (configVersion: string) =>
  cp.request("POST", "/v1/nodes/config", { token: jwt, body: { version: 1, node_slug: SLUG, config_version: configVersion, status: "applied" } })

const statusOf = async () =>
  (await cp.query<{ status: string }>("SELECT status FROM nodes WHERE node_slug = $1", [SLUG]))[0]?.status

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms:\n${cp.program.output().slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

beforeAll(async () => {
  cp = await ControlPlaneHarness.start({
    env: { NODE_HEARTBEAT_INTERVAL: "300ms", NODE_LIVENESS_TTL: "1s", READINESS_REQUIRE_INFERENCE: "false" }
  })
  const registered = await cp.register(capabilityReport(SLUG))
  expect(registered.status).toBe(201)
  const bootstrap = registered.json as { auth: { node_jwt: string }; orchestrator: { endpoints: Record<string, string> } }
  jwt = bootstrap.auth.node_jwt
  expect(bootstrap.orchestrator.endpoints.node_heartbeat_url).toBe(`${cp.baseUrl}/v1/nodes/heartbeat`)
  const config = await cp.request("GET", "/v1/nodes/config", { token: jwt })
  ackedVersion = (config.json as { config_version: string }).config_version
  expect((await ack(ackedVersion)).status).toBe(204)
}, 120_000)

afterAll(async () => {
  await cp?.stop()
})

describe("node heartbeats", () => {
  it("refuses a heartbeat without a node token", async () => {
    expect((await cp.request("POST", "/v1/nodes/heartbeat")).status).toBe(401)
  })

  it("keeps the node active while it beats, loses it when it stops, and takes it back on the next beat", async () => {
    const beat = () => cp.request("POST", "/v1/nodes/heartbeat", { token: jwt })
    for (let i = 0; i < 6; i++) {
      const answer = await beat()
      expect(answer.status).toBe(200)
      expect(answer.json).toEqual({ config_version: ackedVersion })
      await new Promise((r) => setTimeout(r, 300))
    }
    expect(await statusOf()).toBe("active")
    expect((await cp.request("GET", "/readyz")).status).toBe(200)

    await waitFor("the node becoming lost", async () => (await statusOf()) === "lost")
    const notReady = await cp.request("GET", "/readyz")
    expect(notReady.status).toBe(503)
    expect(notReady.text).toContain(`no live dispatchable node: ${SLUG} is lost`)
    expect(cp.program.output()).toContain("node lost: no heartbeat within the TTL")

    expect((await beat()).status).toBe(200)
    expect(await statusOf()).toBe("active")
    expect((await cp.request("GET", "/readyz")).status).toBe(200)
    expect(cp.program.output()).toContain("node back: heartbeat after being lost")
  })
  it("re-issues a worker token the current key cannot decrypt and answers the new version", async () => {
    // As if the control plane had restarted with a rotated JWT_SECRET: the stored token is under another key.
    const foreign = WorkerTokens.fromKey(new Uint8Array(randomBytes(32)))
    const undecryptable = foreign.encrypt(Redacted.make("the token before the rotation"))
    await cp.query("UPDATE nodes SET worker_api_bearer_token = $1 WHERE node_slug = $2", [undecryptable, SLUG])

    const answer = await cp.request("POST", "/v1/nodes/heartbeat", { token: jwt })
    expect(answer.status).toBe(200)
    const issued = (answer.json as { config_version: string }).config_version
    expect(issued).not.toBe(ackedVersion)
    const row = await nodeRow()
    expect(row).toMatchObject({ issued_config_version: issued, config_version: ackedVersion })
    expect(row?.worker_api_bearer_token).not.toBe(undecryptable)
    const tokens = WorkerTokens.fromKey(WorkerTokens.deriveKey(Redacted.make(cp.secrets.jwtSecret)))
    const fresh = Redacted.value(await Effect.runPromise(tokens.decrypt(row?.worker_api_bearer_token ?? "")))
    expect(cp.program.output()).toContain("worker token re-issued")
    expect(cp.program.output()).not.toContain(fresh)
    // Not dispatchable until the node applies the new version.
    expect((await cp.request("GET", "/readyz")).status).toBe(503)

    // The next beat answers the same version: the token is decryptable now.
    expect((await cp.request("POST", "/v1/nodes/heartbeat", { token: jwt })).json).toEqual({ config_version: issued })
    const config = await cp.request("GET", "/v1/nodes/config", { token: jwt })
    const delivered = config.json as { config_version: string; worker_api: { orchestrator_bearer_token: string } }
    expect(delivered.config_version).toBe(issued)
    expect(delivered.worker_api.orchestrator_bearer_token).toBe(fresh)
    expect((await ack(issued)).status).toBe(204)
    ackedVersion = issued
    await waitFor("readiness", async () => (await cp.request("GET", "/readyz")).status === 200)
  })
})
