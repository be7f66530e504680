import * as HttpClientLayer from "../../layers/HttpClient.ts"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { afterAll, beforeAll, describe, expect, it, vi } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { runCli } from "../../src/cli/Cli.ts"
import { loginTokens, startGateway, type RunningGateway } from "../user-gateway/gatewayProcess.ts"

/**
 * Operator control of nodes: `cynode node list|drain|disable|enable|remove` against the real gateway's admin API, on
 * node rows as the control plane writes them (one with a job still running there).
 */

let gateway: RunningGateway
let configDir: string

const cli = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const out: Array<string> = []
  const err: Array<string> = []
  const log = vi.spyOn(console, "log").mockImplementation((...parts: Array<unknown>) => void out.push(parts.join(" ")))
  const error = vi.spyOn(console, "error").mockImplementation((...parts: Array<unknown>) => void err.push(parts.join(" ")))
  try {
    const provider = ConfigProvider.fromMap(new Map(Object.entries({ CYNODE_CONFIG_DIR: configDir, CYNODE_GATEWAY_URL: gateway.baseUrl, ...env })))
    const code = await Effect.runPromise(
      runCli(args).pipe(Effect.withConfigProvider(provider), Effect.provide(Layer.merge(NodeContext.layer, HttpClientLayer.layer)))
    )
    return { code, out: out.join("\n"), err: err.join("\n") }
  } finally {
    log.mockRestore()
    error.mockRestore()
  }
}

const snapshot = (labels: ReadonlyArray<string>) =>
  JSON.stringify({ node: { labels }, sandbox: { max_concurrency: 3 }, compute: { cpu_cores: 8, ram_mb: 16000 }, gpu: { present: false } })

beforeAll(async () => {
  gateway = await startGateway()
  configDir = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-cli-node-"))
  await gateway.sql((sql) =>
    Effect.gen(function*() {
      const nodes = yield* sql<{ id: string; node_slug: string }>`
        INSERT INTO nodes (node_slug, status, config_version, issued_config_version, config_ack_status,
          worker_api_target_url, worker_api_bearer_token, last_seen_at)
        VALUES ('node-busy', 'active', 'v1', 'v1', 'applied', 'http://10.0.0.1:12090', 'x', now()),
               ('node-idle', 'active', 'v1', 'v1', 'applied', 'http://10.0.0.2:12090', 'x', now()),
               ('node-gone', 'lost', 'v1', 'v1', 'applied', 'http://10.0.0.3:12090', 'x', now() - interval '1 hour')
        RETURNING id::text AS id, node_slug`
      for (const n of nodes) {
        yield* sql`INSERT INTO node_capabilities (node_id, capability_snapshot)
          VALUES (${n.id}, ${snapshot(n.node_slug === "node-busy" ? ["zone=a", "ssd"] : ["zone=b"])}::jsonb)`
      }
      const busy = nodes.find((n) => n.node_slug === "node-busy")!.id
      const [admin] = yield* sql<{ id: string }>`SELECT id::text AS id FROM users WHERE handle = 'admin'`
      const [task] = yield* sql<{ id: string }>`
        INSERT INTO tasks (created_by, prompt, summary, status) VALUES (${admin!.id}, 'p', 'busy', 'running') RETURNING id::text AS id`
      return yield* sql`INSERT INTO jobs (task_id, payload, status, node_id, started_at, lease_id, lease_expires_at)
        VALUES (${task!.id}, '{"command":["true"]}'::jsonb, 'running', ${busy}, now(), gen_random_uuid(), now() + interval '1 hour')`
    })
  )
  const login = await cli(["login", "--user", "admin"], { CYNODE_PASSWORD: gateway.adminPassword })
  expect(login.code).toBe(0)
}, 120_000)

afterAll(async () => {
  await gateway?.stop()
  fs.rmSync(configDir, { recursive: true, force: true })
})

describe("cynode node", () => {
  it("lists every node with liveness, last seen, running jobs, free slots, labels and capabilities", async () => {
    const run = await cli(["node", "list", "--json"])
    expect(run.code).toBe(0)
    const { nodes } = JSON.parse(run.out) as { nodes: Array<Record<string, unknown>> }
    expect(nodes.map((n) => [n.node_slug, n.status, n.admin_state, n.dispatchable, n.running_jobs, n.free_slots])).toEqual([
      ["node-busy", "active", "enabled", true, 1, 2],
      ["node-gone", "lost", "enabled", false, 0, 0],
      ["node-idle", "active", "enabled", true, 0, 3]
    ])
    expect(nodes[0]).toMatchObject({
      labels: ["zone=a", "ssd"],
      capabilities: { max_concurrency: 3, cpu_cores: 8, ram_mb: 16000, gpu: false, inference: false }
    })
    expect(typeof nodes[0]!.last_seen_at).toBe("string")
    const table = await cli(["node", "list"])
    expect(table.out.split("\n")[0]).toMatch(/^NODE\s+STATE\s+LAST SEEN\s+RUNNING\s+FREE\s+LABELS\s+CAPABILITIES$/)
    expect(table.out).toMatch(/node-gone\s+lost\s/)
  })

  it("drains a busy node (draining until its job ends), drains an idle one at once, disables and enables", async () => {
    const busy = await cli(["node", "drain", "node-busy", "--json"])
    expect(busy.code).toBe(0)
    expect(JSON.parse(busy.out)).toMatchObject({ node_slug: "node-busy", admin_state: "draining", dispatchable: false, running_jobs: 1 })
    const idle = await cli(["node", "drain", "node-idle"])
    expect(idle.out).toBe("node-idle: active,drained (0 running)")
    expect((await cli(["node", "disable", "node-idle"])).out).toBe("node-idle: active,disabled (0 running)")
    expect((await cli(["node", "enable", "node-idle"])).out).toBe("node-idle: active (0 running)")
    const missing = await cli(["node", "drain", "node-nope"])
    expect(missing.code).toBe(4)
    expect(missing.err).toContain("no node node-nope")
  })

  it("removes an idle node, refuses to remove one with a job still running, and refuses non-admins", async () => {
    const refused = await cli(["node", "remove", "node-busy"])
    expect(refused.code).not.toBe(0)
    expect(refused.err).toContain("node node-busy still has 1 unfinished jobs; drain it first")
    expect((await cli(["node", "remove", "node-gone"])).out).toBe("node-gone: removed")
    const { nodes } = JSON.parse((await cli(["node", "list", "--json"])).out) as { nodes: Array<{ node_slug: string }> }
    expect(nodes.map((n) => n.node_slug)).toEqual(["node-busy", "node-idle"])

    const admin = await loginTokens(gateway, "admin", gateway.adminPassword)
    const created = await gateway.call("POST", "/v1/admin/users", { token: admin.access_token, body: { handle: "alice", password: "alice-password-123" } })
    expect(created.status).toBe(201)
    const alice = await loginTokens(gateway, "alice", "alice-password-123")
    expect((await gateway.call("GET", "/v1/nodes", { token: alice.access_token })).status).toBe(403)
    expect((await gateway.call("POST", "/v1/nodes/node-idle/drain", { token: alice.access_token })).status).toBe(403)
    expect((await gateway.call("GET", "/v1/nodes")).status).toBe(401)
  })
})
