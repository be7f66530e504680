/**
 * Dispatcher capacity: the real dispatcher (claims, leases, result transactions on a real PostgreSQL) against
 * a worker that answers instantly — a real HTTP server in this process honouring the Worker API contract (bearer
 * check, 409 for a held job, 429 over its limit, GET and cancel). For 1, 4 and 16 in-flight jobs per node it reports
 *   - burst:  N jobs stored at once; jobs/s until every task is completed, and submit→dispatch latency percentiles;
 *   - paced:  jobs stored one by one, spaced out; submit→dispatch latency of an unloaded dispatcher;
 * beside the original design's model for the same job count (one job per 1 s tick: N jobs take N s; a job waits for
 * the next tick, 0.5 s on average, and in a burst the k-th job waits k s).
 *
 * `--profile` adds, per level, where the burst's time went: the dispatcher's spans (claim, finish, each SQL
 * statement, the worker call) by count, mean and total wall time.
 *
 *   npx tsx bench/dispatcher.ts [--jobs 2000] [--paced 200] [--nodes 1] [--profile] [--json]
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import * as Database from "../layers/Database.ts"
import { DispatcherLive, DispatcherStatus } from "../src/control-plane/Dispatcher.ts"
import { DispatchSettings, type DispatchSettingsShape } from "../src/control-plane/DispatchSettings.ts"
import { DispatchWakeup } from "../src/control-plane/DispatchWakeup.ts"
import { WorkerTokens } from "../src/control-plane/WorkerTokens.ts"
import { createTestDatabase } from "../test/support/testDatabase.ts"
import { makeSpanProfile } from "./spanProfile.ts"
import { flagArg, numberArg } from "./args.ts"

const JOBS = numberArg("jobs", 2000)
const PACED = numberArg("paced", 200)
const NODES = numberArg("nodes", 1)
const PACE_MS = 20
const LEVELS = [1, 4, 16]
const asJson = flagArg("json")
const profile = flagArg("profile") ? makeSpanProfile() : undefined

// --- The instant worker ---

interface InstantWorker {
  readonly url: string
  readonly token: string
  /** Receipt time (ms) of each job id; a second receipt of one id is recorded as a duplicate. */
  readonly received: Map<string, number>
  readonly duplicates: Array<string>
  readonly maxSeen: () => number
  readonly close: () => Promise<void>
}

const startInstantWorker = (maxConcurrency: number): Promise<InstantWorker> => {
  const token = randomBytes(32).toString("base64url")
  const received = new Map<string, number>()
  const results = new Map<string, unknown>()
  const duplicates: Array<string> = []
  let active = 0
  let maxSeen = 0
  const send = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers })
    res.end(body !== undefined ? JSON.stringify(body) : undefined)
  }
  const problem = (status: number, detail: string) => ({ type: "urn:cynodeai:error:bench", title: "bench", status, detail })
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, problem(401, "invalid bearer token"), { "www-authenticate": "Bearer" })
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const url = req.url ?? ""
      const statusMatch = /^\/v1\/worker\/jobs\/([^/]+)$/.exec(url)
      if (req.method === "GET" && statusMatch !== null) {
        const result = results.get(statusMatch[1]!)
        return result === undefined ? send(res, 404, problem(404, "unknown job")) : send(res, 200, result)
      }
      // Live output: an instant job prints nothing, so its stream is just the end line.
      if (req.method === "GET" && /^\/v1\/worker\/jobs\/[^/]+\/output/.test(url)) {
        res.writeHead(200, { "content-type": "application/x-ndjson" })
        return res.end('{"end":true}\n')
      }
      if (req.method === "POST" && /^\/v1\/worker\/jobs\/[^/]+\/cancel$/.test(url)) return send(res, 204)
      if (req.method !== "POST" || url !== "/v1/worker/jobs:run") return send(res, 404, problem(404, "no such route"))
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { task_id: string; job_id: string }
      const done = results.get(body.job_id)
      if (done !== undefined) return send(res, 200, done)
      if (active >= maxConcurrency) return send(res, 429, problem(429, "busy"), { "retry-after": "1" })
      if (received.has(body.job_id)) duplicates.push(body.job_id)
      received.set(body.job_id, performance.timeOrigin + performance.now())
      active++
      maxSeen = Math.max(maxSeen, active)
      const now = new Date().toISOString()
      const result = {
        version: 1, task_id: body.task_id, job_id: body.job_id, status: "completed", exit_code: 0,
        stdout: "ok\n", stderr: "", started_at: now, ended_at: now, truncated: { stdout: false, stderr: false }
      }
      results.set(body.job_id, result)
      active--
      send(res, 200, result)
    })
  })
  server.keepAliveTimeout = 60_000
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        token,
        received,
        duplicates,
        maxSeen: () => maxSeen,
        close: () => new Promise<void>((r) => server.close(() => r()))
      })
    })
  )
}

// --- Measurements ---

const percentile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN
const summarize = (samples: ReadonlyArray<number>) => {
  const s = [...samples].sort((a, b) => a - b)
  return { p50: round(percentile(s, 0.5)), p95: round(percentile(s, 0.95)), p99: round(percentile(s, 0.99)) }
}
const round = (n: number) => Math.round(n * 10) / 10

/** The original design: one job per 1 s tick. */
const modelBurst = (n: number) => ({
  seconds: n,
  jobsPerSecond: 1,
  latencyMs: { p50: Math.ceil(0.5 * n) * 1000 - 500, p95: Math.ceil(0.95 * n) * 1000 - 500, p99: Math.ceil(0.99 * n) * 1000 - 500 }
})
const modelPaced = { latencyMs: { p50: 500, p95: 950, p99: 990 } }

interface LevelResult {
  readonly inflightPerNode: number
  readonly burst: { readonly jobs: number; readonly seconds: number; readonly jobsPerSecond: number; readonly latencyMs: ReturnType<typeof summarize> }
  readonly paced: { readonly jobs: number; readonly latencyMs: ReturnType<typeof summarize> }
  readonly duplicates: number
  readonly maxConcurrentAtOneWorker: number
}

const runLevel = (inflight: number) =>
  Effect.gen(function*() {
    const db = yield* Effect.promise(() => createTestDatabase())
    const key = new Uint8Array(randomBytes(32))
    const tokens = WorkerTokens.fromKey(key)
    const workers = yield* Effect.promise(() => Promise.all(Array.from({ length: NODES }, () => startInstantWorker(inflight))))
    const settings: DispatchSettingsShape = {
      enabled: true,
      pollIntervalMs: 5_000,
      concurrency: Math.max(16, inflight * NODES),
      nodeMaxInflight: inflight,
      maxAttempts: 3,
      deadlineGraceMs: 300_000,
      maxJobTimeoutSeconds: 3600,
      leaseTtlMs: 15_000,
      leaseRenewMs: 5_000,
      sandboxImage: "localhost/cynode-sandbox:latest",
      inferenceModel: "standin:latest"
    }
    const database = Database.layerFromUrl(Redacted.make(db.url)).pipe(Layer.orDie)
    const base = Layer.mergeAll(
      database,
      Layer.succeed(WorkerTokens, tokens),
      Layer.succeed(DispatchSettings, settings),
      DispatchWakeup.Default,
      DispatcherStatus.Default
    )
    const result = yield* Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [user] = yield* sql<{ id: string }>`INSERT INTO users (handle) VALUES ('bench') RETURNING id::text AS id`
      for (const [i, w] of workers.entries()) {
        const [node] = yield* sql<{ id: string }>`
          INSERT INTO nodes (node_slug, status, config_version, issued_config_version, issued_inference, config_ack_status,
            worker_api_target_url, worker_api_bearer_token)
          VALUES (${`bench-${i}`}, 'active', 'v1', 'v1', true, 'applied', ${w.url},
            ${tokens.encrypt(Redacted.make(w.token))})
          RETURNING id::text AS id`
        yield* sql`INSERT INTO node_capabilities (node_id, capability_snapshot)
          VALUES (${node!.id}, ${JSON.stringify({ sandbox: { max_concurrency: inflight } })}::jsonb)`
      }
      let seq = 0
      const submit = (n: number) =>
        Effect.gen(function*() {
          const from = seq
          seq += n
          yield* sql`
            WITH t AS (
              INSERT INTO tasks (created_by, prompt, summary)
              SELECT ${user!.id}, 'true', 'bench-' || g FROM generate_series(${from}::int, ${seq - 1}::int) AS g
              RETURNING id)
            INSERT INTO jobs (task_id, payload) SELECT id, '{"command":["true"]}'::jsonb FROM t`
          return performance.timeOrigin + performance.now()
        })
      const completed = sql<{ n: number }>`SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'`.pipe(
        Effect.map((rows) => rows[0]?.n ?? 0)
      )
      const waitFor = (n: number) =>
        Effect.gen(function*() {
          while ((yield* completed) < n) yield* Effect.sleep("20 millis")
        })
      const received = () => {
        const all = new Map<string, number>()
        for (const w of workers) for (const [id, t] of w.received) all.set(id, t)
        return all
      }
      const jobIds = (from: number, to: number) =>
        sql<{ id: string }>`SELECT j.id::text AS id FROM jobs j JOIN tasks t ON t.id = j.task_id
          WHERE t.summary IN ${sql.in(Array.from({ length: to - from }, (_, k) => `bench-${from + k}`))}`.pipe(
          Effect.map((rows) => rows.map((r) => r.id))
        )

      // Warm-up: connections, JIT.
      yield* submit(50)
      yield* waitFor(50)

      // Burst.
      profile?.reset()
      const t0 = yield* submit(JOBS)
      yield* waitFor(50 + JOBS)
      const t1 = performance.timeOrigin + performance.now()
      if (profile !== undefined && !asJson) {
        console.log(`where the burst's time went, ${inflight} in flight per node (wall time; concurrent spans overlap):`)
        for (const line of profile.report()) console.log(`  ${line}`)
      }
      const got = received()
      const burstLatency = (yield* jobIds(50, 50 + JOBS)).map((id) => (got.get(id) ?? NaN) - t0)

      // Paced: one job at a time, spaced out.
      const pacedLatency: Array<number> = []
      for (let i = 0; i < PACED; i++) {
        const before = seq
        const at = yield* submit(1)
        const [id] = yield* jobIds(before, before + 1)
        while (!workers.some((w) => w.received.has(id!))) yield* Effect.sleep("1 millis")
        pacedLatency.push(received().get(id!)! - at)
        yield* Effect.sleep(`${PACE_MS} millis`)
      }
      yield* waitFor(50 + JOBS + PACED)
      return {
        inflightPerNode: inflight,
        burst: {
          jobs: JOBS,
          seconds: round((t1 - t0) / 1000),
          jobsPerSecond: Math.round(JOBS / ((t1 - t0) / 1000)),
          latencyMs: summarize(burstLatency)
        },
        paced: { jobs: PACED, latencyMs: summarize(pacedLatency) },
        duplicates: workers.reduce((n, w) => n + w.duplicates.length, 0),
        maxConcurrentAtOneWorker: Math.max(...workers.map((w) => w.maxSeen()))
      } satisfies LevelResult
    }).pipe(
      Effect.provide(DispatcherLive.pipe(Layer.provideMerge(base))),
      Effect.scoped,
      profile === undefined ? (e) => e : Effect.provide(profile.layer)
    )
    yield* Effect.promise(() => Promise.all(workers.map((w) => w.close())))
    yield* Effect.promise(() => db.drop())
    return result
  })

const program = Effect.gen(function*() {
  const results: Array<LevelResult> = []
  for (const level of LEVELS) results.push(yield* runLevel(level))
  if (asJson) {
    console.log(JSON.stringify({ jobs: JOBS, paced: PACED, nodes: NODES, results, model: { burst: modelBurst(JOBS), paced: modelPaced } }, null, 2))
    return
  }
  const m = modelBurst(JOBS)
  console.log(`Dispatcher capacity: ${JOBS} jobs in one burst, then ${PACED} jobs one by one (${PACE_MS} ms apart); ${NODES} node(s), instant worker`)
  console.log("")
  console.log("in-flight/node | burst jobs/s | burst time | burst submit→dispatch p50 / p95 / p99 | paced submit→dispatch p50 / p95 / p99 | duplicates")
  for (const r of results) {
    console.log(
      `${String(r.inflightPerNode).padStart(14)} | ${String(r.burst.jobsPerSecond).padStart(12)} | ${`${r.burst.seconds} s`.padStart(10)} | ` +
        `${`${r.burst.latencyMs.p50} / ${r.burst.latencyMs.p95} / ${r.burst.latencyMs.p99} ms`.padStart(37)} | ` +
        `${`${r.paced.latencyMs.p50} / ${r.paced.latencyMs.p95} / ${r.paced.latencyMs.p99} ms`.padStart(37)} | ${r.duplicates}`
    )
  }
  console.log(
    `${"original model".padStart(14)} | ${String(m.jobsPerSecond).padStart(12)} | ${`${m.seconds} s`.padStart(10)} | ` +
      `${`${m.latencyMs.p50} / ${m.latencyMs.p95} / ${m.latencyMs.p99} ms`.padStart(37)} | ` +
      `${`${modelPaced.latencyMs.p50} / ${modelPaced.latencyMs.p95} / ${modelPaced.latencyMs.p99} ms`.padStart(37)} |`
  )
})

Effect.runPromise(program.pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
