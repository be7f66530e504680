import { describe, expect, it } from "@effect/vitest"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { startUpSystem, stopUpSystem, type UpSystem } from "../support/upSystem.ts"

/**
 * The whole system (`just up`) restarted on the same data with a rotated JWT_SECRET: the stored worker token is
 * re-issued, the node acks the new config, and a task runs; before, config delivery failed for good.
 */

const json = async (response: Response) => (await response.json()) as Record<string, unknown>

const runTask = async (sys: UpSystem, command: string) => {
  const login = await fetch(`${sys.gatewayUrl}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ handle: "admin", password: sys.adminPassword })
  })
  expect(login.status).toBe(200)
  const headers = { authorization: `Bearer ${String((await json(login)).access_token)}`, "content-type": "application/json" }
  const created = await fetch(`${sys.gatewayUrl}/v1/tasks`, {
    method: "POST",
    headers,
    body: JSON.stringify({ prompt: command, input_mode: "commands" })
  })
  expect(created.status).toBe(201)
  const id = String((await json(created)).id)
  for (let i = 0; i < 8; i++) {
    const result = await json(await fetch(`${sys.gatewayUrl}/v1/tasks/${id}/result?wait=30`, { headers }))
    if (["completed", "failed", "canceled"].includes(String(result.status))) return result
  }
  throw new Error(`task ${id} did not finish:\n${sys.output().slice(-4000)}`)
}

describe("just up restarted with a rotated JWT_SECRET", () => {
  it("re-issues the node's worker token, becomes ready only after this run's ack, and runs a task", async () => {
    const first = await startUpSystem({ prefix: "rotation" })
    let stateDir = first.stateDir
    try {
      expect(await runTask(first, "echo before the rotation")).toMatchObject({ status: "completed" })
    } finally {
      expect((await stopUpSystem(first, 60_000)).code).toBe("0")
    }
    const second = await startUpSystem({
      prefix: "rotation",
      reuse: { stateDir, nodeSlug: first.nodeSlug, adminPassword: first.adminPassword },
      env: { JWT_SECRET: randomBytes(32).toString("base64url") }
    })
    try {
      expect(second.output()).toContain("worker token re-issued")
      expect(await runTask(second, "echo after the rotation")).toMatchObject({ status: "completed" })
    } finally {
      expect((await stopUpSystem(second, 60_000)).code).toBe("0")
      fs.rmSync(stateDir, { recursive: true, force: true })
      stateDir = ""
    }
  }, 300_000)
})
