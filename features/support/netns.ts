import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Redacted } from "effect"
import { execFile, execFileSync } from "node:child_process"
import { promisify } from "node:util"
import { randomBytes, randomInt } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createConnection, createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeSecrets, type Secrets } from "../../test/support/controlPlane.ts"
import { freePort, startProgram, waitForHttp, type ProgramName, type RunningProgram } from "../../test/support/programs.ts"
import { createTestDatabase } from "../../test/support/testDatabase.ts"

/**
 * A cluster on a real network (features/cluster/netns.feature, tag @netns): the control plane in a "hub" network
 * namespace holding a bridge, and each node (node manager + its in-process Worker API) in a namespace of its own,
 * joined to the hub's bridge by a veth pair. Every address lives inside namespaces made here (the host keeps only its
 * loopback); nothing is added to the host's network. Partitions are a veth link set down on the hub side.
 *
 * The control plane reaches PostgreSQL through a unix socket relayed to the test server (unix sockets cross network
 * namespaces), nodes reach the container engine through its unix socket, and the user gateway runs on the host's
 * loopback (it talks only to the database). Needs root and `ip netns`.
 *
 * Cleanup deletes every namespace made here (which deletes their veths), on `stop()` and on process exit.
 */

const execFileAsync = promisify(execFile)

const CP_PORT = 12082
const WORKER_PORT = 12090

const ip = (...args: ReadonlyArray<string>) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString()

/** Namespaces made by this process, deleted on exit even when a scenario failed halfway. */
const made = new Set<string>()
process.once("exit", () => {
  for (const ns of made) {
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" })
    } catch {
      // already gone
    }
  }
})

/** Whether this machine lets us make network namespaces (root and iproute2). */
export const netnsAvailable = (): boolean => {
  const probe = `cyprobe${randomBytes(3).toString("hex")}`
  try {
    ip("netns", "add", probe)
    ip("netns", "del", probe)
    return true
  } catch {
    return false
  }
}

/** Forwards a unix socket (`<dir>/.s.PGSQL.5432`, libpq's naming) to the test PostgreSQL over TCP. */
const relayPostgres = (dir: string, host: string, port: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = createServer((client) => {
      const upstream = createConnection({ host, port })
      client.pipe(upstream).pipe(client)
      const end = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on("error", end)
      upstream.on("error", end)
      client.on("close", end)
      upstream.on("close", end)
    })
    server.once("error", reject)
    server.listen(join(dir, ".s.PGSQL.5432"), () => resolve(server))
  })

/** A program started inside a namespace: `ip netns exec` execs it, so the pid is the program's own. */
const startInNamespace = (ns: string, name: ProgramName, env: Record<string, string>): RunningProgram =>
  startProgram(name, env, [], ["ip", "netns", "exec", ns])

export interface ClusterNode {
  readonly slug: string
  readonly namespace: string
  /** The veth end inside the hub, attached to its bridge: down = partitioned. */
  readonly hubLink: string
  readonly address: string
  readonly stateDir: string
  readonly mountRoot: string
  program: RunningProgram
}

export interface JobRow {
  readonly job_id: string
  readonly task_id: string
  readonly status: string
  readonly node_slug: string | null
  readonly error_type: string | null
  readonly error: string | null
  readonly started_at: Date | null
}

export class NetnsCluster {
  readonly nodes = new Map<string, ClusterNode>()
  readonly namespaces: Array<string> = []
  controlPlane: RunningProgram | undefined
  gateway: RunningProgram | undefined
  gatewayUrl = ""
  private adminToken = ""
  private relay: Server | undefined

  private constructor(
    readonly id: string,
    readonly subnet: string,
    readonly dir: string,
    readonly db: { readonly url: string; drop(): Promise<void> },
    readonly secrets: Secrets,
    readonly adminPassword: string,
    private readonly sql: ManagedRuntime.ManagedRuntime<PgClient.PgClient, unknown>
  ) {}

  get hub() {
    return `cy${this.id}-hub`
  }

  get controlPlaneUrl() {
    return `http://${this.subnet}.1:${CP_PORT}`
  }

  static async create(): Promise<NetnsCluster> {
    const db = await createTestDatabase()
    const sql = ManagedRuntime.make(
      PgClient.layer({ url: Redacted.make(db.url) }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)))
    )
    const dir = mkdtempSync(join(tmpdir(), "cynode-netns-"))
    const cluster = new NetnsCluster(
      randomBytes(3).toString("hex"),
      `10.${randomInt(200, 250)}.${randomInt(0, 255)}`,
      dir,
      db,
      makeSecrets(),
      `admin-${randomBytes(8).toString("hex")}`,
      sql
    )
    return cluster
  }

  private addNamespace(name: string) {
    ip("netns", "add", name)
    made.add(name)
    this.namespaces.push(name)
    ip("-n", name, "link", "set", "lo", "up")
  }

  /** The hub namespace with its bridge, the PostgreSQL relay, the control plane in the hub and the gateway. */
  async startControlPlane() {
    this.addNamespace(this.hub)
    ip("-n", this.hub, "link", "add", "br0", "type", "bridge")
    ip("-n", this.hub, "addr", "add", `${this.subnet}.1/24`, "dev", "br0")
    ip("-n", this.hub, "link", "set", "br0", "up")

    const pg = new URL(this.db.url)
    const socketDir = join(this.dir, "pg")
    mkdirSync(socketDir)
    this.relay = await relayPostgres(socketDir, pg.hostname, Number(pg.port || 5432))
    const viaSocket = `postgres://${pg.username || "postgres"}@/${pg.pathname.slice(1)}?host=${socketDir}`

    this.controlPlane = startInNamespace(this.hub, "control-plane", {
      DATABASE_URL: viaSocket,
      CONTROL_PLANE_LISTEN_ADDR: `${this.subnet}.1:${CP_PORT}`,
      ORCHESTRATOR_PUBLIC_URL: this.controlPlaneUrl,
      NODE_REGISTRATION_PSK: this.secrets.psk,
      JWT_SECRET: this.secrets.jwtSecret,
      BOOTSTRAP_ADMIN_PASSWORD: this.adminPassword,
      READINESS_REQUIRE_INFERENCE: "false",
      NODE_HEARTBEAT_INTERVAL: "500ms",
      NODE_LIVENESS_TTL: "1500ms",
      NODE_LOST_GRACE: "4s",
      DISPATCH_LEASE_TTL: "3s",
      DISPATCH_LEASE_RENEW: "1s"
    })
    await this.waitInHub(`${this.controlPlaneUrl}/healthz`, 200, this.controlPlane)

    const port = await freePort()
    this.gatewayUrl = `http://127.0.0.1:${port}`
    this.gateway = startProgram("user-gateway", {
      DATABASE_URL: this.db.url,
      USER_GATEWAY_LISTEN_ADDR: `127.0.0.1:${port}`,
      JWT_SECRET: this.secrets.jwtSecret,
      BOOTSTRAP_ADMIN_PASSWORD: this.adminPassword
    })
    await waitForHttp(this.gateway, `${this.gatewayUrl}/healthz`, { timeoutMs: 60_000 })
    const login = await this.gatewayCall("POST", "/v1/auth/login", { handle: "admin", password: this.adminPassword }, false)
    this.adminToken = String((login.json as { access_token: string }).access_token)
  }

  /**
   * An HTTP answer as seen from inside the hub (the host has no route there), through `curl` run asynchronously: the
   * PostgreSQL relay lives in this process, so blocking it would stall the control plane's database.
   */
  async hubGet(url: string): Promise<{ status: number; body: string }> {
    try {
      const { stdout } = await execFileAsync("ip", ["netns", "exec", this.hub, "curl", "-s", "-m", "15", "-w", "\n%{http_code}", url])
      const cut = stdout.lastIndexOf("\n")
      return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) }
    } catch {
      return { status: 0, body: "" }
    }
  }

  private async waitInHub(url: string, status: number, program: RunningProgram, timeoutMs = 90_000) {
    const deadline = Date.now() + timeoutMs
    while ((await this.hubGet(url)).status !== status) {
      if (program.child.exitCode !== null || program.child.signalCode !== null) {
        throw new Error(`${program.name} exited before ${url} answered:\n${program.output().slice(-4000)}`)
      }
      if (Date.now() > deadline) throw new Error(`${url} did not answer ${status} in time:\n${program.output().slice(-4000)}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  /** A node in a namespace of its own, joined to the hub's bridge by a veth pair; resolves once it is dispatchable. */
  async startNode(slug: string, options: { readonly maxConcurrency?: number } = {}): Promise<ClusterNode> {
    const index = this.nodes.size + 1
    const namespace = `cy${this.id}-n${index}`
    const hubLink = `cy${this.id}h${index}`
    const nodeLink = `cy${this.id}n${index}`
    const address = `${this.subnet}.${10 + index}`
    this.addNamespace(namespace)
    ip("link", "add", "name", hubLink, "netns", this.hub, "type", "veth", "peer", "name", nodeLink, "netns", namespace)
    ip("-n", this.hub, "link", "set", hubLink, "master", "br0")
    ip("-n", this.hub, "link", "set", hubLink, "up")
    ip("-n", namespace, "addr", "add", `${address}/24`, "dev", nodeLink)
    ip("-n", namespace, "link", "set", nodeLink, "up")

    const stateDir = join(this.dir, slug)
    const mountRoot = join(stateDir, "mounts")
    const program = startInNamespace(namespace, "node-manager", {
      CYNODE_ORCHESTRATOR_URL: this.controlPlaneUrl,
      CYNODE_NODE_REGISTRATION_PSK: this.secrets.psk,
      CYNODE_NODE_SLUG: slug,
      CYNODE_NODE_LABELS: `ns=${namespace}`,
      CYNODE_WORKER_LISTEN_ADDR: `${address}:${WORKER_PORT}`,
      CYNODE_WORKER_PUBLIC_URL: `http://${address}:${WORKER_PORT}`,
      CYNODE_STATE_DIR: stateDir,
      CYNODE_SANDBOX_MOUNT_ROOT: mountRoot,
      CYNODE_SANDBOX_MAX_CONCURRENCY: String(options.maxConcurrency ?? 2),
      CYNODE_INFERENCE_MODE: "disabled",
      CYNODE_HEARTBEAT_INTERVAL_SECONDS: "0.5",
      CYNODE_ORCHESTRATOR_WAIT_SECONDS: "30",
      CYNODE_SHUTDOWN_GRACE_SECONDS: "2",
      CYNODE_CONTAINER_SOCKET: process.env.CYNODE_CONTAINER_SOCKET ?? "unix:///run/podman/podman.sock"
    })
    const node: ClusterNode = { slug, namespace, hubLink, address, stateDir, mountRoot, program }
    this.nodes.set(slug, node)
    await this.waitUntil(`${slug} dispatchable`, async () => (await this.nodeRow(slug))?.dispatchable === true, 120_000, program)
    return node
  }

  node(slug: string): ClusterNode {
    const node = this.nodes.get(slug)
    if (node === undefined) throw new Error(`no node ${slug}`)
    return node
  }

  partition(slug: string) {
    ip("-n", this.hub, "link", "set", this.node(slug).hubLink, "down")
  }

  heal(slug: string) {
    ip("-n", this.hub, "link", "set", this.node(slug).hubLink, "up")
  }

  query<A = Record<string, unknown>>(text: string, params: ReadonlyArray<unknown> = []): Promise<ReadonlyArray<A>> {
    return this.sql.runPromise(
      Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe<A & object>(text, params))
    ) as Promise<ReadonlyArray<A>>
  }

  async nodeRow(slug: string) {
    const [row] = await this.query<{ status: string; admin_state: string; dispatchable: boolean }>(
      `SELECT status, admin_state, (status = 'active' AND admin_state = 'enabled' AND config_ack_status = 'applied'
         AND config_version = issued_config_version) AS dispatchable
       FROM nodes WHERE node_slug = $1`,
      [slug]
    )
    return row
  }

  async gatewayCall(method: string, path: string, body?: unknown, auth = true) {
    const res = await fetch(`${this.gatewayUrl}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...(auth ? { authorization: `Bearer ${this.adminToken}` } : {})
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    const text = await res.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text}`)
    return { status: res.status, json }
  }

  /** A commands task through the gateway, as a user submits it; returns its id. */
  async submit(script: string): Promise<string> {
    const res = await this.gatewayCall("POST", "/v1/tasks", { prompt: script, input_mode: "commands" })
    return String((res.json as { id: string }).id)
  }

  async jobs(taskIds: ReadonlyArray<string>): Promise<ReadonlyArray<JobRow>> {
    return this.query<JobRow>(
      `SELECT j.id::text AS job_id, j.task_id::text AS task_id, j.status, n.node_slug, j.result ->> 'error_type' AS error_type,
         j.result ->> 'error' AS error, j.started_at
       FROM jobs j LEFT JOIN nodes n ON n.id = j.node_id WHERE j.task_id = ANY($1::uuid[]) ORDER BY j.created_at`,
      [taskIds]
    )
  }

  async waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 90_000, program?: RunningProgram) {
    const deadline = Date.now() + timeoutMs
    while (!(await check())) {
      if (program !== undefined && (program.child.exitCode !== null || program.child.signalCode !== null)) {
        throw new Error(`${what}: ${program.name} exited:\n${program.output().slice(-4000)}`)
      }
      if (Date.now() > deadline) {
        throw new Error(`${what} did not happen within ${timeoutMs} ms\ncontrol plane:\n${this.controlPlane?.output().slice(-4000) ?? ""}`)
      }
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  /**
   * How many times each job ran, from the workers' own records: every job appends one line to `/workspace/runs` per
   * run of its sandbox, in the workspace of whichever node ran it.
   */
  runsByJob(): Map<string, Array<string>> {
    const runs = new Map<string, Array<string>>()
    for (const node of this.nodes.values()) {
      if (!existsSync(node.mountRoot)) continue
      for (const jobId of readdirSync(node.mountRoot)) {
        const file = join(node.mountRoot, jobId, "workspace", "runs")
        if (!existsSync(file)) continue
        const lines = readFileSync(file, "utf8").split("\n").filter((l) => l !== "")
        runs.set(jobId, [...(runs.get(jobId) ?? []), ...lines.map(() => node.slug)])
      }
    }
    return runs
  }

  /** Containers the nodes started (kill -9 leaves a node's sandbox behind), removed through the engine's CLI. */
  private removeContainers() {
    for (const node of this.nodes.values()) {
      try {
        const ids = execFileSync("podman", ["ps", "-aq", "--filter", `label=io.cynode.node=${node.slug}`]).toString().split("\n")
          .filter((id) => id !== "")
        if (ids.length > 0) execFileSync("podman", ["rm", "-f", ...ids], { stdio: "ignore" })
      } catch {
        // no podman CLI, or nothing to remove
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.program.stop(5_000)))
    await this.controlPlane?.stop(5_000)
    await this.gateway?.stop(5_000)
    this.removeContainers()
    for (const ns of this.namespaces) {
      try {
        ip("netns", "del", ns)
      } catch {
        // already gone
      }
      made.delete(ns)
    }
    this.relay?.close()
    await this.sql.dispose()
    await this.db.drop()
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 })
  }
}
