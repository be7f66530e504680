import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { capabilityReport, ControlPlaneHarness } from "../support/controlPlane.ts"

/**
 * Heartbeats on the real control plane: `POST /v1/nodes/heartbeat` keeps a node active; silence past the TTL makes it
 * `lost` (not dispatchable, `/readyz` 503 saying so); the next heartbeat makes it active and ready again.
 */

let cp: ControlPlaneHarness
let jwt = ""
const SLUG = "beat-node"

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
  const ack = await cp.request("POST", "/v1/nodes/config", {
    token: jwt,
    body: {
      version: 1,
      node_slug: SLUG,
      config_version: (config.json as { config_version: string }).config_version,
      status: "applied"
    }
  })
  expect(ack.status).toBe(204)
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
      expect((await beat()).status).toBe(204)
      await new Promise((r) => setTimeout(r, 300))
    }
    expect(await statusOf()).toBe("active")
    expect((await cp.request("GET", "/readyz")).status).toBe(200)

    await waitFor("the node becoming lost", async () => (await statusOf()) === "lost")
    const notReady = await cp.request("GET", "/readyz")
    expect(notReady.status).toBe(503)
    expect(notReady.text).toContain(`no live dispatchable node: ${SLUG} is lost`)
    expect(cp.program.output()).toContain("node lost: no heartbeat within the TTL")

    expect((await beat()).status).toBe(204)
    expect(await statusOf()).toBe("active")
    expect((await cp.request("GET", "/readyz")).status).toBe(200)
    expect(cp.program.output()).toContain("node back: heartbeat after being lost")
  })
})
