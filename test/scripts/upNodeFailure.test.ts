import { describe, expect, it } from "@effect/vitest"
import { startUpSystem, stopUpSystem } from "../support/upSystem.ts"

/**
 * `just up` with a node that cannot start (an invalid CYNODE_INFERENCE_MODE, read only by the node manager): the
 * failure is reported and the control plane and gateway stay up, not ready; `--exit-on-failure` ends everything.
 */

const BROKEN_NODE = { CYNODE_INFERENCE_MODE: "not-a-mode" }

describe("just up when the node fails", () => {
  it("reports the node's failure and keeps the control plane and the gateway up, readiness saying why", async () => {
    const sys = await startUpSystem({ prefix: "nodefail", env: BROKEN_NODE })
    try {
      const deadline = Date.now() + 30_000
      while (!sys.output().includes("✗ the node failed") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
      expect(sys.output()).toContain("✗ the node failed: node-manager exited")
      expect(sys.output()).toContain("CyNode is up without a failed node")
      const health = await fetch(`${sys.gatewayUrl}/healthz`)
      expect(health.status).toBe(200)
      const ready = await fetch(`${sys.controlPlaneUrl}/readyz`)
      expect(ready.status).toBe(503)
      expect(await ready.text()).toContain("no inference path")
      expect(sys.child.exitCode).toBeNull()
    } finally {
      expect((await stopUpSystem(sys, 60_000)).code).toBe("0")
    }
  }, 240_000)

  it("--exit-on-failure stops everything when the node fails", async () => {
    const failure = await startUpSystem({ prefix: "nodefail-exit", env: BROKEN_NODE, args: ["--exit-on-failure"] }).then(
      () => "started",
      (error: unknown) => String(error)
    )
    expect(failure).toContain("exited (1) before the system was ready")
    expect(failure).toContain("node-manager exited")
  }, 240_000)
})
