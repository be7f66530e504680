import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { Effect, Exit, Logger, LogLevel, Redacted, Scope } from "effect"
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DispatchWorld } from "../../features/support/dispatch.ts"
import * as EmbeddedPostgres from "../../layers/EmbeddedPostgres.ts"
import { freePort } from "../support/programs.ts"

/**
 * `just faults [--quick]`: faults injected into the real programs (control planes, Worker API with real sandboxes, a
 * Podman service of its own on its own socket, its own database and ports), one table row per scenario:
 * tasks submitted / completed / failed with a reason / failed without one / lost / run twice / containers leaked.
 * Target: 0 lost, 0 run twice, 0 leaked, 0 failed without a reason. Exits 1 when a scenario misses it.
 */

const quick = process.argv.includes("--quick")
// Random per run: leak counts look only at this run's containers, whoever else uses the same container storage.
const SLUG = `faults-${randomBytes(3).toString("hex")}`

interface Row {
  readonly scenario: string
  submitted: number
  completed: number
  failedWithReason: number
  failedWithoutReason: number
  lost: number
  runTwice: number
  leaked: number
  readonly reasons: Map<string, number>
  /** What the programs logged about the fault (e.g. records answered from memory). */
  readonly notes: Array<string>
  seconds: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A podman service of our own, on a socket in our own directory, with the runc runtime (platform.md). */
class PodmanService {
  private child: ChildProcess | undefined
  constructor(readonly socket: string) {}

  async start() {
    this.child = spawn("podman", ["--runtime", "runc", "system", "service", "--time=0", `unix://${this.socket}`], {
      stdio: "ignore",
      detached: true
    })
    for (let i = 0; i < 100; i++) {
      if (await this.answers()) return
      await sleep(100)
    }
    throw new Error(`the podman service on ${this.socket} did not answer`)
  }

  async answers() {
    return new Promise<boolean>((resolve) => {
      import("node:http").then((http) => {
        const req = http.get({ socketPath: this.socket, path: "/_ping", timeout: 1000 }, (res) => {
          res.resume()
          resolve(res.statusCode === 200)
        })
        req.on("error", () => resolve(false))
        req.on("timeout", () => resolve(false))
      })
    })
  }

  kill9() {
    if (this.child?.pid !== undefined) process.kill(this.child.pid, "SIGKILL")
  }

  stop() {
    if (this.child?.pid !== undefined && this.child.exitCode === null) process.kill(this.child.pid, "SIGTERM")
  }

  /** This node's CyNode containers still present (running or not). */
  async containers(): Promise<number> {
    const out = await new Promise<string>((resolve) => {
      const ps = spawn("podman", ["--url", `unix://${this.socket}`, "ps", "-a", "-q", "--filter", `label=io.cynode.node=${SLUG}`])
      let text = ""
      ps.stdout.on("data", (d: Buffer) => (text += d.toString()))
      ps.on("close", () => resolve(text))
    })
    return out.split("\n").filter((l) => l.trim() !== "").length
  }
}

/** An embedded PostgreSQL we can stop and start again on the same data and port. */
class OwnPostgres {
  private scope: Scope.CloseableScope | undefined
  private server: EmbeddedPostgres.EmbeddedServer | undefined
  constructor(readonly dataDir: string, readonly port: number) {}

  async start() {
    const scope = Effect.runSync(Scope.make())
    this.server = await Effect.runPromise(
      EmbeddedPostgres.start({ dataDir: this.dataDir, port: this.port }).pipe(Scope.extend(scope), Logger.withMinimumLogLevel(LogLevel.Warning))
    )
    this.scope = scope
  }

  async url(database: string) {
    const server = this.server
    if (server === undefined) throw new Error("PostgreSQL is not running")
    await Effect.runPromise(EmbeddedPostgres.ensureDatabase(server, database).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
    return Redacted.value(server.urlFor(database))
  }

  async stop() {
    if (this.scope !== undefined) await Effect.runPromise(Scope.close(this.scope, Exit.void).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
    this.scope = undefined
  }
}

const script = (seconds: number) => ({ command: ["sh", "-c", `echo run >> /workspace/runs; sleep ${seconds}; echo done`] as [string, ...Array<string>] })

/** Starts a world: `controlPlanes` control planes on one database, one node whose Worker API uses our podman. */
const startWorld = async (podman: PodmanService, controlPlanes: number) => {
  const world = await DispatchWorld.create()
  for (let i = 0; i < controlPlanes; i++) await world.startControlPlane()
  await world.registerNode(SLUG, { maxConcurrency: 8 })
  await startWorker(world, podman)
  await world.ack(SLUG)
  return world
}

const startWorker = (world: DispatchWorld, podman: PodmanService) =>
  world.startWorker(SLUG, { maxConcurrency: 8, env: { CYNODE_CONTAINER_SOCKET: `unix://${podman.socket}`, CYNODE_PODMAN_SERVICE: "never" } })

/** Submits `count` jobs, at most `window` unfinished at once, running `inject` once `injectAfter` are submitted. */
const submit = async (
  world: DispatchWorld,
  row: Row,
  options: { readonly count: number; readonly window: number; readonly seconds: number; readonly injectAfter?: number; readonly inject?: () => Promise<void> }
) => {
  const names: Array<string> = []
  let injected: Promise<void> | undefined
  for (let i = 0; i < options.count; i++) {
    while (names.length - (await finishedCount(world, names)) >= options.window) await sleep(100)
    const name = `${row.scenario}-${i}`
    await world.createJob(name, script(options.seconds))
    names.push(name)
    row.submitted++
    if (options.inject !== undefined && injected === undefined && names.length >= (options.injectAfter ?? 1)) {
      await sleep(1500) // the first jobs are running in their sandboxes
      injected = options.inject()
    }
  }
  await injected
  return names
}

const finishedCount = async (world: DispatchWorld, names: ReadonlyArray<string>) => {
  if (names.length === 0) return 0
  const ids = names.map((n) => world.job(n).jobId)
  const [row] = await world.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND ended_at IS NOT NULL",
    [ids]
  )
  return row?.n ?? 0
}

const reasonOf = (result: Record<string, unknown> | null): string | undefined => {
  if (result === null) return undefined
  if (typeof result.error_type === "string") return result.error_type
  const line = String(result.stderr ?? "").split("\n").find((l) => l.startsWith("cynode-worker:"))
  if (line !== undefined) return line.replace(/^cynode-worker: /, "").slice(0, 60)
  if (typeof result.exit_code === "number" && result.exit_code !== 0) return `exit code ${result.exit_code}`
  return undefined
}

/** Waits (bounded) for every job to end, then counts. */
const tally = async (world: DispatchWorld, podman: PodmanService, row: Row, names: ReadonlyArray<string>, deadlineMs: number) => {
  const deadline = Date.now() + deadlineMs
  while (Date.now() < deadline && (await finishedCount(world, names)) < names.length) await sleep(500)
  for (const name of names) {
    const { jobId } = world.job(name)
    const job = await world.jobRow(jobId)
    const runs = (world.workspaceFile(SLUG, jobId, "runs") ?? "").split("\n").filter((l) => l === "run").length
    if (runs > 1) row.runTwice++
    if (job.ended_at === null || !job.task_closed) row.lost++
    else if (job.status === "completed") row.completed++
    else {
      const reason = reasonOf(job.result)
      if (reason === undefined) row.failedWithoutReason++
      else {
        row.failedWithReason++
        row.reasons.set(reason, (row.reasons.get(reason) ?? 0) + 1)
      }
    }
  }
  // Removal is retried by the worker and its reaper; give them a moment before counting what is left.
  for (let i = 0; i < 20 && (await podman.containers()) > 0; i++) await sleep(1000)
  row.leaked = await podman.containers()
}

const newRow = (scenario: string): Row => ({
  scenario,
  submitted: 0,
  completed: 0,
  failedWithReason: 0,
  failedWithoutReason: 0,
  lost: 0,
  runTwice: 0,
  leaked: 0,
  reasons: new Map(),
  notes: [],
  seconds: 0
})

type Scenario = (podman: PodmanService, row: Row) => Promise<void>

const n = (full: number, short: number) => (quick ? short : full)

type World = Awaited<ReturnType<typeof startWorld>>

/** The common shape of a mid-run fault: start a world, submit jobs of `seconds` each, inject the fault once 8 are
 * in, tally every job, stop the world. */
const midRunFault = async (
  podman: PodmanService,
  row: Row,
  options: { readonly controlPlanes: number; readonly seconds: number; readonly tallyMs: number; readonly inject: (world: World) => Promise<void> }
) => {
  const world = await startWorld(podman, options.controlPlanes)
  try {
    const names = await submit(world, row, {
      count: n(40, 12),
      window: 16,
      seconds: options.seconds,
      injectAfter: 8,
      inject: () => options.inject(world)
    })
    await tally(world, podman, row, names, options.tallyMs)
  } finally {
    await world.stop()
  }
}

const scenarios: ReadonlyArray<readonly [string, Scenario]> = [
  ["control-plane-kill9", (podman, row) =>
    // Two control planes on one database; one is killed -9 while jobs run. The other reconciles its leases.
    midRunFault(podman, row, {
      controlPlanes: 2,
      seconds: 2,
      tallyMs: 120_000,
      inject: async (world) => void (await world.controlPlanes[0]!.program.crash())
    })],
  ["worker-kill9", (podman, row) =>
    // The node's process (the Worker API, which the node manager runs in-process) killed -9 mid-job and restarted.
    midRunFault(podman, row, {
      controlPlanes: 1,
      seconds: 2,
      tallyMs: 120_000,
      inject: async (world) => {
        await world.node(SLUG).program?.crash()
        await sleep(1000)
        await startWorker(world, podman)
      }
    })],
  ["podman-kill9", (podman, row) =>
    // The Podman service killed -9 while sandboxes run (they keep running under conmon), started again 2 s later.
    midRunFault(podman, row, {
      controlPlanes: 1,
      seconds: 3,
      tallyMs: 180_000,
      inject: async () => {
        podman.kill9()
        await sleep(2000)
        await podman.start()
      }
    })],
  ["postgres-restart-and-30s-outage", async (podman, row) => {
    // Our own PostgreSQL: a fast restart while jobs run, then a 30 s outage while jobs run.
    const pgDir = mkdtempSync(join(tmpdir(), "cynode-faults-pg-"))
    chmodSync(pgDir, 0o755)
    const port = await freePort()
    const database = new OwnPostgres(join(pgDir, "data"), port)
    await database.start()
    const world = await DispatchWorld.create({ url: await database.url("faults"), drop: async () => undefined })
    try {
      await world.startControlPlane()
      await world.registerNode(SLUG, { maxConcurrency: 8 })
      await startWorker(world, podman)
      await world.ack(SLUG)
      const names: Array<string> = []
      const batch = async (label: string, count: number) => {
        for (let i = 0; i < count; i++) {
          const name = `${row.scenario}-${label}-${i}`
          await world.createJob(name, script(3))
          names.push(name)
          row.submitted++
        }
      }
      await batch("restart", n(12, 6))
      await sleep(1500)
      await database.stop()
      await database.start()
      await batch("outage", n(12, 6))
      await sleep(1500)
      await database.stop()
      await sleep(n(30_000, 10_000)) // the quick form: a 10 s outage
      await database.start()
      await tally(world, podman, row, names, 180_000)
    } finally {
      await world.stop().catch(() => undefined)
      await database.stop()
      rmSync(pgDir, { recursive: true, force: true })
    }
  }],
  ["full-disk", async (podman, row) => {
    // The workspace filesystem (a small tmpfs under the mount root) is filled by the first jobs (4 × 3 MB in 8 MB);
    // the harness frees it 8 s later, as an operator would.
    const world = await DispatchWorld.create()
    await world.startControlPlane()
    const node = await world.registerNode(SLUG, { maxConcurrency: 8 })
    mkdirSync(node.mountRoot, { recursive: true })
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", node.mountRoot])
    try {
      await startWorker(world, podman)
      await world.ack(SLUG)
      const fill = { command: ["sh", "-c", "echo run >> /workspace/runs; head -c 3000000 /dev/zero > /workspace/fill || exit 28; sleep 1; echo done"] as [string, ...Array<string>] }
      const names: Array<string> = []
      for (let i = 0; i < n(24, 12); i++) {
        const name = `${row.scenario}-${i}`
        await world.createJob(name, i < 4 ? fill : script(1))
        names.push(name)
        row.submitted++
      }
      await sleep(8000)
      execFileSync("sh", ["-c", `rm -f ${node.mountRoot}/*/workspace/fill`])
      await tally(world, podman, row, names, 180_000)
      const output = world.node(SLUG).program?.output() ?? ""
      const count = (text: string) => output.split("\n").filter((l) => l.includes(text)).length
      row.notes.push(`worker: ${count("answered from memory")} results kept in memory, ${count("job accepted")} accepted`)
    } finally {
      await world.stop().catch(() => undefined)
      execFileSync("umount", ["-l", node.mountRoot])
    }
  }],
  ["load-1000-by-50", async (podman, row) => {
    const world = await startWorld(podman, 1)
    try {
      const names = await submit(world, row, { count: n(1000, 100), window: 50, seconds: 0 })
      await tally(world, podman, row, names, 600_000)
    } finally {
      await world.stop()
    }
  }]
]

const main = async () => {
  const dir = mkdtempSync(join(tmpdir(), "cynode-faults-"))
  const podman = new PodmanService(join(dir, "podman.sock"))
  await podman.start()
  const only = process.argv.slice(2).filter((a) => !a.startsWith("--"))
  const rows: Array<Row> = []
  try {
    for (const [name, run] of scenarios) {
      if (only.length > 0 && !only.includes(name)) continue
      const row = newRow(name)
      const started = Date.now()
      process.stdout.write(`faults: ${name} …\n`)
      try {
        await run(podman, row)
      } catch (error) {
        row.reasons.set(`scenario error: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`, 1)
        row.lost = Math.max(row.lost, row.submitted - row.completed - row.failedWithReason - row.failedWithoutReason)
      }
      row.seconds = Math.round((Date.now() - started) / 1000)
      rows.push(row)
    }
  } finally {
    podman.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  const header = "| scenario | submitted | completed | failed (reason) | failed, no reason | lost | run twice | leaked | s | reasons, notes |"
  const lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
  for (const r of rows) {
    const reasons = [...[...r.reasons].map(([k, v]) => `${k} ×${v}`), ...r.notes].join("; ")
    lines.push(`| ${r.scenario} | ${r.submitted} | ${r.completed} | ${r.failedWithReason} | ${r.failedWithoutReason} | ${r.lost} | ${r.runTwice} | ${r.leaked} | ${r.seconds} | ${reasons} |`)
  }
  process.stdout.write(`\nFault injection (${quick ? "quick" : "full"}, ${new Date().toISOString().slice(0, 10)}):\n${lines.join("\n")}\n`)
  const missed = rows.filter((r) => r.lost > 0 || r.runTwice > 0 || r.leaked > 0 || r.failedWithoutReason > 0 || r.submitted === 0)
  process.exit(missed.length === 0 ? 0 : 1)
}

await main()
