/**
 * Cluster scale, simulated: 1,000 nodes against one real control plane (the program, on a real PostgreSQL). Each
 * simulated node registers with the PSK, fetches its config and acks it over HTTP like a node manager, then sends
 * real HTTP heartbeats at the default interval (5 s); their Worker APIs are one in-process server that answers every
 * job at once (`/n/<i>/v1/worker/...`). Reports:
 *   - heartbeats/s absorbed and the control plane's CPU share (of one core) while only heartbeats arrive;
 *   - placements/s: jobs stored in one burst, claimed, sent and completed across the fleet (heartbeats continuing);
 *   - detection: a node holding a running job dies (heartbeats stop, its connections reset); time to `lost` and to
 *     its job's resolution (`NODE_LOST_GRACE=0s` here, so the job is resolved at the first sweep after `lost`).
 * Targets (the cluster issue): < 25 % of one core at 1,000 nodes, ≥ 1,000 placements/s, detection ≤ TTL + 1 s.
 * Beside Nomad's figures: 50 heartbeats/s default cap (`max_heartbeats_per_second`), C1M ≈ 3,750 placements/s.
 *
 *   npx tsx bench/cluster.ts [--nodes 1000] [--seconds 30] [--jobs 5000] [--json]
 */
import { readFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Redacted } from "effect"
import { Agent, request } from "undici"
import { capabilityReport, makeSecrets } from "../test/support/controlPlane.ts"
import { startServer } from "../test/support/programs.ts"
import { profileEnv } from "./profileEnv.ts"
import { flagArg, numberArg } from "./args.ts"
import { createTestDatabase } from "../test/support/testDatabase.ts"

const NODES = numberArg("nodes", 1000)
const WINDOW_S = numberArg("seconds", 30)
const JOBS = numberArg("jobs", 5000)
const asJson = flagArg("json")
const HEARTBEAT_S = 5
const TTL_S = 3 * HEARTBEAT_S
const say = (line: string) => {
  if (!asJson) process.stdout.write(`${line}\n`)
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// --- The fleet's Worker APIs: one server, a path prefix per node; the victim's requests can be held or reset ---

interface Fleet {
  readonly url: string
  readonly completed: () => number
  readonly duplicates: () => number
  /** Requests for this node are held open (a job that runs), until `kill` resets them and every later one. */
  readonly hold: (index: number) => void
  readonly kill: (index: number) => void
  readonly close: () => Promise<void>
}

const startFleet = (): Promise<Fleet> => {
  const seen = new Set<string>()
  let duplicates = 0
  let completed = 0
  const held = new Set<number>()
  const dead = new Set<number>()
  const heldSockets = new Map<number, Array<Socket>>()
  const send = (res: ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, body !== undefined ? { "content-type": "application/json" } : {})
    res.end(body !== undefined ? JSON.stringify(body) : undefined)
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const match = /^\/n\/(\d+)(\/.*)$/.exec(req.url ?? "")
    const index = Number(match?.[1] ?? -1)
    if (dead.has(index)) return req.socket.destroy()
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const path = match?.[2] ?? ""
      // Live output: an instant job prints nothing, so its stream is just the end line.
      if (req.method === "GET" && /^\/v1\/worker\/jobs\/[^/]+\/output/.test(path)) {
        res.writeHead(200, { "content-type": "application/x-ndjson" })
        return res.end('{"end":true}\n')
      }
      if (req.method === "GET" && path.startsWith("/v1/worker/jobs/")) return send(res, 404, { status: 404, detail: "unknown job" })
      if (req.method !== "POST" || path !== "/v1/worker/jobs:run") return send(res, 404, { status: 404, detail: "no route" })
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { task_id: string; job_id: string }
      if (seen.has(body.job_id)) duplicates++
      seen.add(body.job_id)
      if (held.has(index)) {
        heldSockets.set(index, [...(heldSockets.get(index) ?? []), req.socket])
        return
      }
      const now = new Date().toISOString()
      completed++
      send(res, 200, {
        version: 1, task_id: body.task_id, job_id: body.job_id, status: "completed", exit_code: 0,
        stdout: "ok\n", stderr: "", started_at: now, ended_at: now, truncated: { stdout: false, stderr: false }
      })
    })
  })
  server.keepAliveTimeout = 60_000
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        completed: () => completed,
        duplicates: () => duplicates,
        hold: (i) => void held.add(i),
        kill: (i) => {
          dead.add(i)
          for (const socket of heldSockets.get(i) ?? []) socket.destroy()
        },
        close: () => new Promise<void>((r) => {
          server.closeAllConnections()
          server.close(() => r())
        })
      })
    })
  )
}

// --- CPU of a process (utime + stime from /proc, in seconds) ---

const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits

const main = async () => {
  const db = await createTestDatabase()
  const secrets = makeSecrets()
  const { program, baseUrl } = await startServer("control-plane", "CONTROL_PLANE_LISTEN_ADDR", (url) => ({
    DATABASE_URL: db.url,
    ORCHESTRATOR_PUBLIC_URL: url,
    NODE_REGISTRATION_PSK: secrets.psk,
    JWT_SECRET: secrets.jwtSecret,
    BOOTSTRAP_ADMIN_PASSWORD: `admin-${secrets.psk}`,
    READINESS_REQUIRE_INFERENCE: "false",
    NODE_LOST_GRACE: "0s",
    DISPATCH_CONCURRENCY: "256",
    CYNODE_LOG_LEVEL: "info",
    ...profileEnv()
  }), { timeoutMs: 180_000 })
  const fleet = await startFleet()
  const sql = ManagedRuntime.make(
    PgClient.layer({ url: Redacted.make(db.url) }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)))
  )
  const agent = new Agent({ connections: 64, pipelining: 1, keepAliveTimeout: 60_000 })
  const call = async (method: "GET" | "POST", path: string, body: unknown, jwt?: string) => {
    const res = await request(`${baseUrl}${path}`, {
      method,
      dispatcher: agent,
      headers: {
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...(jwt !== undefined ? { authorization: `Bearer ${jwt}` } : {})
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    const text = await res.body.text()
    return { status: res.statusCode, json: text === "" ? undefined : JSON.parse(text) as Record<string, unknown> }
  }

  try {
    // Join the fleet, 25 nodes at a time.
    say(`▸ ${NODES} simulated nodes joining …`)
    const joinStarted = performance.now()
    const jwts: Array<string> = []
    for (let start = 0; start < NODES; start += 25) {
      await Promise.all(Array.from({ length: Math.min(25, NODES - start) }, async (_, k) => {
        const i = start + k
        const slug = `sim-${String(i).padStart(4, "0")}`
        const capability = capabilityReport(slug, `${fleet.url}/n/${i}`)
        ;(capability.node as Record<string, unknown>).labels = i === 0 ? ["victim"] : []
        ;(capability.inference as Record<string, unknown>).mode = "disabled"
        ;(capability.sandbox as Record<string, unknown>).max_concurrency = 4
        const reg = await call("POST", "/v1/nodes/register", { psk: secrets.psk, capability })
        const auth = reg.json?.auth as Record<string, unknown> | undefined
        if (auth === undefined) throw new Error(`registration of ${slug} answered ${reg.status}`)
        const jwt = String(auth.node_jwt)
        const config = await call("GET", "/v1/nodes/config", undefined, jwt)
        const ack = await call("POST", "/v1/nodes/config", {
          version: 1, node_slug: slug, config_version: config.json?.config_version, status: "applied"
        }, jwt)
        if (ack.status !== 204) throw new Error(`ack of ${slug} answered ${ack.status}`)
        jwts[i] = jwt
      }))
    }
    const joinSeconds = (performance.now() - joinStarted) / 1000
    say(`  joined in ${round(joinSeconds)} s`)

    // Heartbeats: every node every 5 s, spread evenly over the interval.
    let beats = 0
    let failed = 0
    let stopped = false
    const silenced = new Set<number>()
    const beaters = jwts.map((jwt, i) =>
      (async () => {
        await sleep((i / NODES) * HEARTBEAT_S * 1000)
        while (!stopped && !silenced.has(i)) {
          const t0 = performance.now()
          try {
            const res = await call("POST", "/v1/nodes/heartbeat", undefined, jwt)
            if (res.status >= 200 && res.status < 300) beats++
            else failed++
          } catch {
            failed++
          }
          await sleep(Math.max(0, HEARTBEAT_S * 1000 - (performance.now() - t0)))
        }
      })()
    )

    // 1. Heartbeats only.
    await sleep(HEARTBEAT_S * 1000)
    say(`▸ heartbeats only, ${WINDOW_S} s …`)
    const b0 = beats
    const c0 = cpuSeconds(program.pid)
    const w0 = performance.now()
    await sleep(WINDOW_S * 1000)
    const windowS = (performance.now() - w0) / 1000
    const heartbeatsPerSecond = (beats - b0) / windowS
    const cpuShare = (cpuSeconds(program.pid) - c0) / windowS
    say(`  ${round(heartbeatsPerSecond)} heartbeats/s absorbed, control plane ${round(cpuShare * 100)} % of one core, ${failed} failed`)

    // 2. Placements: a burst of jobs stored at once (as the gateway stores them).
    say(`▸ placing ${JOBS} jobs across the fleet …`)
    const sqlRun = <A>(text: string, params: ReadonlyArray<unknown> = []) =>
      sql.runPromise(Effect.flatMap(PgClient.PgClient, (client) => client.unsafe(text, params))) as Promise<ReadonlyArray<A>>
    const completedBefore = fleet.completed()
    const p0 = performance.now()
    await sqlRun(
      `WITH admin AS (SELECT id FROM users WHERE handle = 'admin'),
       t AS (INSERT INTO tasks (created_by, prompt, summary) SELECT admin.id, 'bench', 'bench-' || g FROM admin, generate_series(1, $1) g RETURNING id)
       INSERT INTO jobs (task_id, payload) SELECT id, '{"command":["true"]}'::jsonb FROM t`,
      [JOBS]
    )
    while (fleet.completed() - completedBefore < JOBS) await sleep(20)
    let doneRows = 0
    while (doneRows < JOBS) {
      const [row] = await sqlRun<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'`)
      doneRows = row?.n ?? 0
      if (doneRows < JOBS) await sleep(50)
    }
    const placeSeconds = (performance.now() - p0) / 1000
    const placementsPerSecond = JOBS / placeSeconds
    const [spread] = await sqlRun<{ nodes: number }>(`SELECT count(DISTINCT node_id)::int AS nodes FROM jobs WHERE status = 'completed'`)
    say(`  ${round(placementsPerSecond)} placements/s (${JOBS} in ${round(placeSeconds)} s, on ${spread?.nodes} nodes), ${fleet.duplicates()} sent twice`)

    // 3. Detection: the victim runs a job, then dies.
    say("▸ detection: a node with a running job dies …")
    fleet.hold(0)
    await sqlRun(
      `WITH t AS (INSERT INTO tasks (created_by, prompt, summary) SELECT id, 'victim', 'victim-job' FROM users WHERE handle = 'admin' RETURNING id)
       INSERT INTO jobs (task_id, payload) SELECT id, '{"command":["sleep","600"],"placement":{"node_selector":["victim"]}}'::jsonb FROM t`
    )
    let running = false
    while (!running) {
      const [row] = await sqlRun<{ status: string }>(`SELECT j.status FROM jobs j JOIN tasks t ON t.id = j.task_id WHERE t.summary = 'victim-job'`)
      running = row?.status === "running"
      if (!running) await sleep(50)
    }
    await sleep(500)
    const death = Date.now()
    silenced.add(0)
    fleet.kill(0)
    let lostAt: number | undefined
    let resolvedAt: number | undefined
    let resolution = ""
    while (resolvedAt === undefined && Date.now() - death < (TTL_S + 30) * 1000) {
      const [row] = await sqlRun<{ status: string; error_type: string | null; node_status: string }>(
        `SELECT j.status, j.result ->> 'error_type' AS error_type, n.status AS node_status
         FROM jobs j JOIN tasks t ON t.id = j.task_id JOIN nodes n ON n.node_slug = 'sim-0000' WHERE t.summary = 'victim-job'`
      )
      if (lostAt === undefined && row?.node_status === "lost") lostAt = Date.now()
      if (row !== undefined && row.status !== "running") {
        resolvedAt = Date.now()
        resolution = `${row.status}${row.error_type !== null ? ` (${row.error_type})` : ""}`
      }
      await sleep(25)
    }
    // The last heartbeat before death was up to one interval earlier: the TTL counts from it.
    const toLost = lostAt === undefined ? undefined : (lostAt - death) / 1000
    const toResolved = resolvedAt === undefined ? undefined : (resolvedAt - death) / 1000
    say(`  death → lost ${toLost === undefined ? "not seen" : `${round(toLost, 2)} s`}; death → job resolved ${toResolved === undefined ? "not seen" : `${round(toResolved, 2)} s (${resolution})`}`)

    stopped = true
    await Promise.all(beaters)

    const targets = [
      { what: `control plane CPU at ${NODES} nodes, 5 s heartbeats`, value: round(cpuShare * 100), unit: "% of one core", bound: "< 25", met: cpuShare < 0.25 },
      { what: "heartbeats/s absorbed", value: round(heartbeatsPerSecond), unit: "/s", bound: `≈ ${NODES / HEARTBEAT_S} (Nomad default cap 50)`, met: heartbeatsPerSecond >= 0.95 * NODES / HEARTBEAT_S },
      { what: "placements/s", value: round(placementsPerSecond), unit: "/s", bound: "≥ 1000 (Nomad C1M ≈ 3750)", met: placementsPerSecond >= 1000 },
      { what: "death → lost", value: toLost === undefined ? undefined : round(toLost, 2), unit: "s", bound: `≤ TTL + 1 = ${TTL_S + 1}`, met: toLost !== undefined && toLost <= TTL_S + 1 },
      { what: "death → job resolved", value: toResolved === undefined ? undefined : round(toResolved, 2), unit: "s", bound: `≤ TTL + 1 = ${TTL_S + 1}`, met: toResolved !== undefined && toResolved <= TTL_S + 1 }
    ]
    const result = {
      nodes: NODES,
      heartbeatIntervalSeconds: HEARTBEAT_S,
      joinSeconds: round(joinSeconds),
      heartbeatsPerSecond: round(heartbeatsPerSecond),
      heartbeatFailures: failed,
      controlPlaneCpuShare: round(cpuShare, 3),
      placements: { jobs: JOBS, seconds: round(placeSeconds, 2), perSecond: round(placementsPerSecond), nodesUsed: spread?.nodes ?? 0, sentTwice: fleet.duplicates() },
      detection: { ttlSeconds: TTL_S, toLostSeconds: toLost, toResolvedSeconds: toResolved, resolution },
      targets
    }
    if (asJson) process.stdout.write(`${JSON.stringify(result)}\n`)
    else {
      say("\ncluster figures beside their targets")
      for (const t of targets) say(`  ${t.met ? "✓" : "✗"} ${t.what.padEnd(44)} ${String(t.value ?? "-").padStart(8)} ${t.unit.padEnd(14)} target ${t.bound}`)
    }
  } finally {
    await agent.close()
    await program.stop(5_000)
    await fleet.close()
    await sql.dispose()
    await db.drop()
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`cluster bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    process.exit(1)
  }
)
