import * as HttpClientLayer from "../../layers/HttpClient.ts"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { afterAll, beforeAll, describe, expect, it, vi } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { runCli } from "../../src/cli/Cli.ts"
import { repoRoot } from "../support/programs.ts"
import { completeTaskAsDispatcher, startGateway, type RunningGateway } from "../user-gateway/gatewayProcess.ts"

/**
 * The CLI against a real user gateway (real database, no dispatcher: tasks stay queued unless the test writes the
 * result the way the dispatcher does). Commands run in-process through `runCli`, with output captured.
 */

let gateway: RunningGateway
let configDir: string

beforeAll(async () => {
  gateway = await startGateway()
  configDir = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-cli-it-"))
}, 120_000)

afterAll(async () => {
  await gateway?.stop()
  fs.rmSync(configDir, { recursive: true, force: true })
})

interface Run {
  readonly code: number
  readonly out: string
  readonly err: string
}

const cli = async (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Run> => {
  const out: Array<string> = []
  const err: Array<string> = []
  const log = vi.spyOn(console, "log").mockImplementation((...parts: Array<unknown>) => void out.push(parts.join(" ")))
  const error = vi.spyOn(console, "error").mockImplementation((...parts: Array<unknown>) => void err.push(parts.join(" ")))
  try {
    const provider = ConfigProvider.fromMap(new Map(Object.entries({
      CYNODE_CONFIG_DIR: configDir,
      CYNODE_GATEWAY_URL: gateway.baseUrl,
      ...env
    })))
    const code = await Effect.runPromise(
      runCli(args).pipe(
        Effect.withConfigProvider(provider),
        Effect.provide(Layer.merge(NodeContext.layer, HttpClientLayer.layer))
      )
    )
    return { code, out: out.join("\n"), err: err.join("\n") }
  } finally {
    log.mockRestore()
    error.mockRestore()
  }
}

const credentialsFile = () => path.join(configDir, "credentials.json")

describe("cynode CLI against a real gateway", () => {
  it("refuses commands before login with exit code 3", async () => {
    const run = await cli(["whoami"])
    expect(run.code).toBe(3)
    expect(run.err).toBe("error: not logged in: run `cynode login` first")
  })

  it("reports a wrong password as the gateway's problem, exit code 3, and stores nothing", async () => {
    const run = await cli(["login", "--user", "admin"], { CYNODE_PASSWORD: "wrong-password" })
    expect(run.code).toBe(3)
    expect(run.err).toMatch(/^error: Unauthorized: /)
    expect(fs.existsSync(credentialsFile())).toBe(false)
  })

  it("logs in, keeps the tokens 0600, and whoami shows the user", async () => {
    const login = await cli(["login", "--user", "admin", "--json"], { CYNODE_PASSWORD: gateway.adminPassword })
    expect(login.code).toBe(0)
    expect(JSON.parse(login.out)).toMatchObject({ gateway_url: gateway.baseUrl, handle: "admin", credentials_file: credentialsFile() })
    expect(login.out).not.toContain("access_token")
    expect(fs.statSync(credentialsFile()).mode & 0o777).toBe(0o600)
    const whoami = await cli(["whoami"])
    expect(whoami).toMatchObject({ code: 0 })
    expect(whoami.out).toMatch(/^admin \([0-9a-f-]{36}\)$/)
  })

  it("creates, lists, gets and reads a task; a finished task's result shows stdout and the exit code", async () => {
    const created = await cli(["task", "create", "--command", "echo hi", "--name", "cli-it", "--json"])
    expect(created.code).toBe(0)
    const task = JSON.parse(created.out) as { id: string; task_name: string; status: string }
    expect(task).toMatchObject({ task_name: "cli-it", status: "queued" })

    const list = await cli(["task", "list", "--status", "queued", "--json"])
    expect(list.code).toBe(0)
    expect((JSON.parse(list.out) as { tasks: Array<{ id: string }> }).tasks.map((t) => t.id)).toContain(task.id)

    const byName = await cli(["task", "get", "cli-it"])
    expect(byName.code).toBe(0)
    expect(byName.out).toContain(task.id)

    const pending = await cli(["task", "result", task.id])
    expect(pending.code).toBe(0)
    expect(pending.out).toContain("task " + task.id + ": queued")

    await completeTaskAsDispatcher(gateway, task.id, { version: 1, status: "completed", exit_code: 0, stdout: "hi\n", stderr: "" })
    const done = await cli(["task", "result", "cli-it", "--wait", "--json"])
    expect(done.code).toBe(0)
    expect(JSON.parse(done.out)).toMatchObject({ task_id: task.id, status: "completed", exit_code: 0, stdout: "hi\n" })
  })

  it("a failed task makes `task result` exit 6", async () => {
    const created = await cli(["task", "create", "--command", "false", "--json"])
    const { id } = JSON.parse(created.out) as { id: string }
    await completeTaskAsDispatcher(gateway, id, { version: 1, status: "completed", exit_code: 1, stdout: "", stderr: "" }, "failed")
    const run = await cli(["task", "result", id])
    expect(run.code).toBe(6)
    expect(run.out).toContain("exit code 1")
    expect(run.err).toBe(`error: task ${id} ended failed`)
  })

  it("shows the gateway's validation problem with its fields (exit 4) and usage errors locally (exit 2)", async () => {
    const invalid = await cli(["task", "create", "--prompt", "hello", "--timeout", "5"])
    expect(invalid.code).toBe(4)
    expect(invalid.err).toMatch(/^error: Bad Request: /)
    // Refused by the contract's schema before it is sent, and reported as the gateway's own 400 would be.
    const tooMany = await cli(["task", "list", "--limit", "500"])
    expect(tooMany.code).toBe(4)
    expect(tooMany.err).toMatch(/^error: Bad Request: invalid request: limit: /)
    const missing = await cli(["task", "get", "no-such-task"])
    expect(missing.code).toBe(4)
    expect(missing.err).toMatch(/^error: Not Found: /)
    const both = await cli(["task", "create", "--prompt", "a", "--command", "b"])
    expect(both.code).toBe(2)
    expect(both.err).toBe("error: give exactly one of --command, --script or --prompt")
    const unknown = await cli(["task", "frobnicate"])
    expect(unknown.code).toBe(2)
  })

  it("refreshes an access token the gateway refuses, and saves the new pair", async () => {
    const stored = JSON.parse(fs.readFileSync(credentialsFile(), "utf8")) as Record<string, string>
    fs.writeFileSync(credentialsFile(), JSON.stringify({ ...stored, access_token: "not-a-valid-token" }), { mode: 0o600 })
    const run = await cli(["whoami"])
    expect(run.code).toBe(0)
    const after = JSON.parse(fs.readFileSync(credentialsFile(), "utf8")) as Record<string, string>
    expect(after.access_token).not.toBe("not-a-valid-token")
    expect(after.refresh_token).not.toBe(stored.refresh_token)
  })

  it("never sends the tokens to another gateway", async () => {
    const run = await cli(["whoami", "--gateway", "http://127.0.0.1:9"])
    expect(run.code).toBe(3)
    expect(run.err).toContain(`the stored login is for ${gateway.baseUrl}`)
  })

  it("logs out: the session ends on the gateway and the file is removed", async () => {
    const stored = JSON.parse(fs.readFileSync(credentialsFile(), "utf8")) as Record<string, string>
    const run = await cli(["logout"])
    expect(run.code).toBe(0)
    expect(fs.existsSync(credentialsFile())).toBe(false)
    const me = await gateway.call("GET", "/v1/users/me", { token: stored.access_token! })
    expect(me.status).toBe(401)
  })

  it("status reports both services and exits non-zero when the control plane is down", async () => {
    const run = await cli(["status", "--control-plane", "http://127.0.0.1:9", "--json"])
    const report = JSON.parse(run.out) as { ready: boolean; services: Array<{ name: string; healthy: boolean }> }
    expect(report.ready).toBe(false)
    expect(report.services.map((s) => [s.name, s.healthy])).toEqual([["user gateway", true], ["control plane", false]])
    expect(run.code).toBe(5)
  })

  it("runs as the package bin", () => {
    const run = spawnSync(process.execPath, ["bin/cynode.mjs", "--version"], { cwd: repoRoot, encoding: "utf8" })
    expect(run.status).toBe(0)
    expect(run.stdout.trim()).toBe("0.1.0")
  })
})
