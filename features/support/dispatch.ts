import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { JobPayload } from "../../schema/job.ts"
import { TasksRepo } from "../../src/user-gateway/TasksRepo.ts"
import { capabilityReport, makeSecrets, startControlPlane, type Secrets } from "../../test/support/controlPlane.ts"
import { WorkerTokens } from "../../src/control-plane/WorkerTokens.ts"
import { freePort, startProgram, waitForHttp, type RunningProgram } from "../../test/support/programs.ts"
import { createTestDatabase } from "../../test/support/testDatabase.ts"
import { eventually, removeNodeContainers } from "./node_manager.ts"

/**
 * Real programs for the dispatch scenarios (features/orchestrator/dispatch.feature): one database, one or more
 * control planes on it, and real Worker APIs (with real sandbox containers) that nodes register over the control
 * plane's HTTP API. Jobs are created through the gateway's own TasksRepo, as `POST /v1/tasks` would.
 */

/** Short leases, so a crashed dispatcher's jobs are reconciled within seconds. */
const DISPATCH_ENV = {
  DISPATCH_LEASE_TTL: "3s",
  DISPATCH_LEASE_RENEW: "1s",
  DISPATCH_POLL_INTERVAL: "5s"
}

export interface ControlPlane {
  readonly program: RunningProgram
  readonly baseUrl: string
}

export interface WorkerNode {
  readonly slug: string
  readonly url: string
  readonly mountRoot: string
  readonly tokenFile: string
  /** The token delivered in the node's config. */
  readonly deliveredToken: string
  readonly jwt: string
  readonly configVersion: string
  program: RunningProgram | undefined
}

/** A real node-manager program (its Worker API in-process), as operators run one. */
export interface ManagedNode {
  /** Unique per run: the node labels its containers with it and reaps leftovers by it at startup. */
  readonly slug: string
  readonly program: RunningProgram
  readonly stateDir: string
}

const json = async (res: Response): Promise<Record<string, unknown>> => {
  const text = await res.text()
  try {
    return JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new Error(`expected JSON, got ${res.status}: ${text.slice(0, 300)}`)
  }
}

export class DispatchWorld {
  readonly controlPlanes: Array<ControlPlane> = []
  readonly workers = new Map<string, WorkerNode>()
  /** Real node managers by the name the scenario gave them. */
  readonly nodeManagers = new Map<string, ManagedNode>()
  /** Job ids by the name the scenario gave them. */
  readonly jobs = new Map<string, { readonly taskId: string; readonly jobId: string }>()
  private readonly dir = mkdtempSync(join(tmpdir(), "cynode-dispatch-"))
  /** Registered nodes heartbeat like the node manager does, so liveness keeps them active. */
  private readonly heartbeats: Array<ReturnType<typeof setInterval>> = []

  private constructor(
    readonly db: { readonly url: string; drop(): Promise<void> },
    public secrets: Secrets,
    private readonly runtime: ManagedRuntime.ManagedRuntime<PgClient.PgClient | TasksRepo, unknown>
  ) {}

  /** On a fresh test database, or on `database` (a server the caller controls, e.g. to restart it). */
  static async create(database?: { readonly url: string; drop(): Promise<void> }): Promise<DispatchWorld> {
    const db = database ?? await createTestDatabase()
    const pg = PgClient.layer({ url: Redacted.make(db.url) })
    const runtime = ManagedRuntime.make(
      TasksRepo.Live.pipe(Layer.provideMerge(pg), Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)))
    )
    return new DispatchWorld(db, makeSecrets(), runtime)
  }

  /** Starts one more control plane on the shared database. */
  async startControlPlane(extraEnv: Record<string, string> = {}): Promise<ControlPlane> {
    const cp = await startControlPlane(this.db.url, this.secrets, { ...DISPATCH_ENV, ...extraEnv })
    this.controlPlanes.push(cp)
    return cp
  }

  /**
   * Stops every control plane and starts one on the same database with these secrets (a rotation); with
   * `sameAddress`, on the port of the one running now, so running node managers reach it at the URLs they hold.
   */
  async restartControlPlane(secrets: Secrets, options: { readonly sameAddress?: boolean } = {}): Promise<ControlPlane> {
    const port = options.sameAddress === true ? Number(new URL(this.controlPlane.baseUrl).port) : undefined
    await Promise.all(this.controlPlanes.map((c) => c.program.stop(5_000)))
    this.secrets = secrets
    const cp = await startControlPlane(this.db.url, this.secrets, DISPATCH_ENV, port === undefined ? {} : { port })
    this.controlPlanes.push(cp)
    return cp
  }

  /**
   * Starts the real node-manager program against the running control plane (no inference; heartbeats every
   * second) and waits until its startup completed: registered, config applied and acked, Worker API ready.
   */
  async startNodeManager(name: string): Promise<ManagedNode> {
    const slug = `${name}-${randomBytes(3).toString("hex")}`
    const workerPort = await freePort()
    const stateDir = join(this.dir, slug)
    const program = startProgram("node-manager", {
      CYNODE_ORCHESTRATOR_URL: this.controlPlane.baseUrl,
      CYNODE_NODE_REGISTRATION_PSK: this.secrets.psk,
      CYNODE_NODE_SLUG: slug,
      CYNODE_WORKER_LISTEN_ADDR: `127.0.0.1:${workerPort}`,
      CYNODE_WORKER_PUBLIC_URL: `http://127.0.0.1:${workerPort}`,
      CYNODE_STATE_DIR: stateDir,
      CYNODE_INFERENCE_MODE: "disabled",
      CYNODE_HEARTBEAT_INTERVAL_SECONDS: "1",
      CYNODE_ORCHESTRATOR_WAIT_SECONDS: "20",
      CYNODE_SHUTDOWN_GRACE_SECONDS: "5",
      ...(process.env.CYNODE_CONTAINER_SOCKET !== undefined ? { CYNODE_CONTAINER_SOCKET: process.env.CYNODE_CONTAINER_SOCKET } : {})
    })
    const node = { slug, program, stateDir }
    this.nodeManagers.set(name, node)
    await eventually(`the startup of node manager ${name}`, 90_000, async () => {
      if (program.child.exitCode !== null) throw new Error(`node manager exited ${program.child.exitCode}:\n${program.output().slice(-3000)}`)
      return program.output().includes("node startup complete") ? true : undefined
    })
    return node
  }

  nodeManager(name: string): ManagedNode {
    const node = this.nodeManagers.get(name)
    if (node === undefined) throw new Error(`node manager ${name} was not started`)
    return node
  }

  /** The worker token the control plane holds for a node, decrypted with the current JWT_SECRET. */
  async storedWorkerToken(slug: string): Promise<string> {
    const [row] = await this.query<{ worker_api_bearer_token: string }>(
      "SELECT worker_api_bearer_token FROM nodes WHERE node_slug = $1",
      [slug]
    )
    const tokens = WorkerTokens.fromKey(WorkerTokens.deriveKey(Redacted.make(this.secrets.jwtSecret)))
    return Redacted.value(await Effect.runPromise(tokens.decrypt(row?.worker_api_bearer_token ?? "")))
  }

  get controlPlane(): ControlPlane {
    const cp = this.controlPlanes.find((c) => c.program.child.exitCode === null && c.program.child.signalCode === null)
    if (cp === undefined) throw new Error("no control plane is running")
    return cp
  }

  /** Registers a node whose worker will listen on a free port, and fetches its config (with its token). */
  async registerNode(slug: string, options: { readonly maxConcurrency?: number } = {}): Promise<WorkerNode> {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const capability = capabilityReport(slug, url)
    ;(capability.sandbox as Record<string, unknown>).max_concurrency = options.maxConcurrency ?? 4
    const cp = this.controlPlane
    const reg = await fetch(`${cp.baseUrl}/v1/nodes/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ psk: this.secrets.psk, capability })
    })
    const bootstrap = await json(reg)
    if (reg.status !== 201 && reg.status !== 200) throw new Error(`registration answered ${reg.status}: ${JSON.stringify(bootstrap)}`)
    const jwt = String((bootstrap.auth as Record<string, unknown>).node_jwt)
    const cfgRes = await fetch(`${cp.baseUrl}/v1/nodes/config`, { headers: { authorization: `Bearer ${jwt}` } })
    const config = await json(cfgRes)
    if (cfgRes.status !== 200) throw new Error(`config fetch answered ${cfgRes.status}: ${JSON.stringify(config)}`)
    const nodeDir = join(this.dir, slug)
    const node: WorkerNode = {
      slug,
      url,
      mountRoot: join(nodeDir, "mounts"),
      tokenFile: join(this.dir, `${slug}.token`),
      deliveredToken: String((config.worker_api as Record<string, unknown>).orchestrator_bearer_token),
      jwt,
      configVersion: String(config.config_version),
      program: undefined
    }
    this.workers.set(slug, node)
    this.heartbeats.push(setInterval(() => {
      const target = this.controlPlanes.find((c) => c.program.child.exitCode === null && c.program.child.signalCode === null)
      if (target === undefined) return
      fetch(`${target.baseUrl}/v1/nodes/heartbeat`, { method: "POST", headers: { authorization: `Bearer ${jwt}` } })
        .then((res) => res.body?.cancel())
        .catch(() => undefined)
    }, 1_000))
    return node
  }

  /** Writes the token file (the delivered token unless told otherwise), then starts the real Worker API. */
  async startWorker(
    slug: string,
    options: { readonly token?: string; readonly maxConcurrency?: number; readonly env?: Record<string, string> } = {}
  ) {
    const node = this.node(slug)
    writeFileSync(node.tokenFile, `${options.token ?? node.deliveredToken}\n`, { mode: 0o600 })
    node.program = startProgram("worker-api", {
      CYNODE_WORKER_TOKEN_FILE: node.tokenFile,
      CYNODE_NODE_SLUG: slug,
      CYNODE_WORKER_LISTEN_ADDR: node.url.replace("http://", ""),
      CYNODE_STATE_DIR: join(this.dir, slug),
      CYNODE_SANDBOX_MOUNT_ROOT: node.mountRoot,
      CYNODE_SANDBOX_MAX_CONCURRENCY: String(options.maxConcurrency ?? 4),
      ...options.env
    })
    await waitForHttp(node.program, `${node.url}/readyz`)
  }

  /** The node acknowledges its config as applied: from now on it is dispatchable. */
  async ack(slug: string, status: "applied" | "failed" = "applied") {
    const node = this.node(slug)
    const res = await fetch(`${this.controlPlane.baseUrl}/v1/nodes/config`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${node.jwt}` },
      body: JSON.stringify({
        version: 1,
        node_slug: slug,
        config_version: node.configVersion,
        ack_at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
        status,
        ...(status === "failed" ? { error: { type: "inference_start_failed", message: "not healthy" } } : {})
      })
    })
    if (res.status !== 204) throw new Error(`config ack answered ${res.status}: ${await res.text()}`)
  }

  node(slug: string): WorkerNode {
    const node = this.workers.get(slug)
    if (node === undefined) throw new Error(`node ${slug} is not registered`)
    return node
  }

  /** A task and its one queued job, stored as the gateway stores them (the jobs trigger wakes the dispatchers). */
  async createJob(name: string, payload: JobPayload, prompt = "dispatch scenario") {
    const { taskId, jobId } = await this.runtime.runPromise(
      Effect.gen(function*() {
        const pg = yield* PgClient.PgClient
        const tasks = yield* TasksRepo
        const [admin] = yield* pg<{ readonly id: string }>`SELECT id::text AS id FROM users WHERE handle = 'admin'`
        if (admin === undefined) return yield* Effect.dieMessage("the control plane has not seeded the admin user")
        const task = yield* tasks.create({ userId: admin.id, prompt, name, projectId: undefined, metadata: {}, payload })
        const jobs = yield* tasks.jobsOf(task.id)
        return { taskId: task.id, jobId: jobs[0]?.id ?? "" }
      })
    )
    this.jobs.set(name, { taskId, jobId })
    return { taskId, jobId }
  }

  job(name: string) {
    const job = this.jobs.get(name)
    if (job === undefined) throw new Error(`no job named ${name}`)
    return job
  }

  /** Cancels a task the way the gateway's `POST /v1/tasks/{id}/cancel` does. */
  cancelTask(taskId: string) {
    return this.runtime.runPromise(Effect.flatMap(TasksRepo, (tasks) => tasks.cancel(taskId)))
  }

  query<A = Record<string, unknown>>(text: string, params: ReadonlyArray<unknown> = []): Promise<ReadonlyArray<A>> {
    return this.runtime.runPromise(
      Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe<A & object>(text, params))
    ) as Promise<ReadonlyArray<A>>
  }

  async jobRow(jobId: string) {
    const [row] = await this.query<{
      status: string
      node_id: string | null
      result: Record<string, unknown> | null
      attempts: number
      ended_at: Date | null
      task_status: string
      task_closed: boolean
      result_summary: string | null
    }>(
      `SELECT j.status, j.node_id::text AS node_id, j.result, j.attempts, j.ended_at, t.status AS task_status,
         t.closed AS task_closed, t.metadata ->> 'result_summary' AS result_summary
       FROM jobs j JOIN tasks t ON t.id = j.task_id WHERE j.id = $1`,
      [jobId]
    )
    if (row === undefined) throw new Error(`job ${jobId} not found`)
    return row
  }

  /** Polls until `done` holds for the job's row, or fails with the last row seen. */
  async waitForJob(jobId: string, done: (row: Awaited<ReturnType<DispatchWorld["jobRow"]>>) => boolean, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs
    let row = await this.jobRow(jobId)
    while (!done(row)) {
      if (Date.now() > deadline) {
        throw new Error(`job ${jobId} did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(row)}\n` +
          this.controlPlanes.map((c) => c.program.output().slice(-3000)).join("\n----\n"))
      }
      await new Promise((r) => setTimeout(r, 200))
      row = await this.jobRow(jobId)
    }
    return row
  }

  /** The worker's own record of a job (`<mount_root>/<job_id>/job.json`), if it has one. */
  workerRecord(slug: string, jobId: string): Record<string, unknown> | undefined {
    const path = join(this.node(slug).mountRoot, jobId, "job.json")
    return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown> : undefined
  }

  /** What the job itself appended to its workspace (one line per run of the sandbox). */
  workspaceFile(slug: string, jobId: string, file: string): string | undefined {
    const path = join(this.node(slug).mountRoot, jobId, "workspace", file)
    return existsSync(path) ? readFileSync(path, "utf8") : undefined
  }

  /** How many times the worker logged accepting this job. */
  acceptedCount(slug: string, jobId: string): number {
    const output = this.node(slug).program?.output() ?? ""
    return output.split("\n").filter((line) => line.includes("job accepted") && line.includes(jobId)).length
  }

  async stop(): Promise<void> {
    for (const timer of this.heartbeats) clearInterval(timer)
    await Promise.all(this.controlPlanes.map((c) => c.program.stop(5_000)))
    await Promise.all([...this.workers.values()].map((w) => w.program?.stop(15_000)))
    for (const node of this.nodeManagers.values()) {
      await node.program.stop(40_000)
      await removeNodeContainers(node.slug)
    }
    await this.runtime.dispose()
    await this.db.drop()
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 })
  }
}
