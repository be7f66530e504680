/**
 * The worker API's added overhead: one trivial sandbox job through the REAL worker-api program (HTTP, auth, decode,
 * job record, workspace, create+attach+start+exit+remove, reply) against a bare create+start+wait+remove of the same
 * image and command through the ContainerRuntime layer, and against `ContainerRuntime.run` (the cycle the worker
 * uses, whose exit detection is faster than Podman's wait), all interleaved in the same run.
 * Medians over N runs (default 10, `--runs N`) after one warm-up of each. `--json` prints the figures as JSON.
 *
 *   npx tsx bench/worker-overhead.ts [--runs 10] [--json]
 */
import { Effect } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ContainerRuntime, type ContainerRuntimeShape } from "../layers/ContainerRuntime.ts"
import { freePort, startProgram, waitForHttp, type RunningProgram } from "../test/support/programs.ts"
import { SANDBOX_IMAGE, stats, type Stats } from "./container-floor.ts"

const COMMAND = ["echo", "hello"]
const LABELS = { "io.cynode.role": "bench" }

const bareOnce = (rt: ContainerRuntimeShape) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const id = yield* rt.create({ image: SANDBOX_IMAGE, cmd: COMMAND, labels: LABELS })
    yield* rt.start(id)
    const code = yield* rt.wait(id)
    yield* rt.remove(id)
    if (code !== 0) return yield* Effect.dieMessage(`bare run exited ${code}`)
    return performance.now() - t0
  })

/** The same cycle the worker uses (exit seen when the attach stream closes): the overhead on equal terms. */
const runOnce = (rt: ContainerRuntimeShape) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const result = yield* rt.run({ image: SANDBOX_IMAGE, cmd: COMMAND, labels: LABELS }, { timeout: "30 seconds" })
    if (result.exitCode !== 0) return yield* Effect.dieMessage(`bare run exited ${result.exitCode}`)
    return performance.now() - t0
  })

interface Worker {
  readonly program: RunningProgram
  readonly baseUrl: string
  readonly token: string
  readonly dir: string
}

const startWorker = Effect.acquireRelease(
  Effect.promise(async (): Promise<Worker> => {
    const dir = mkdtempSync(join(tmpdir(), "cynode-worker-bench-"))
    const token = randomBytes(24).toString("hex")
    writeFileSync(join(dir, "token"), token, { mode: 0o600 })
    const port = await freePort()
    const passThrough = Object.fromEntries(
      ["CYNODE_CONTAINER_SOCKET", "DOCKER_HOST", "XDG_RUNTIME_DIR", "CYNODE_PODMAN_SERVICE"]
        .flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]!]]))
    )
    const program = startProgram("worker-api", {
      ...passThrough,
      CYNODE_LOG_LEVEL: "warning",
      CYNODE_NODE_SLUG: `bench-${randomUUID().slice(0, 8)}`,
      CYNODE_WORKER_LISTEN_ADDR: `127.0.0.1:${port}`,
      CYNODE_SANDBOX_MOUNT_ROOT: join(dir, "mounts"),
      CYNODE_WORKER_TOKEN_FILE: join(dir, "token"),
      CYNODE_SANDBOX_IMAGE: SANDBOX_IMAGE
    })
    const baseUrl = `http://127.0.0.1:${port}`
    await waitForHttp(program, `${baseUrl}/readyz`, { timeoutMs: 60_000 })
    return { program, baseUrl, token, dir }
  }),
  (w) => Effect.promise(async () => {
    await w.program.stop()
    rmSync(w.dir, { recursive: true, force: true })
  })
)

const workerOnce = (w: Worker) =>
  Effect.promise(async () => {
    const t0 = performance.now()
    const res = await fetch(`${w.baseUrl}/v1/worker/jobs:run`, {
      method: "POST",
      headers: { authorization: `Bearer ${w.token}`, "content-type": "application/json" },
      body: JSON.stringify({
        version: 1,
        task_id: "bench-task",
        job_id: `bench-${randomUUID()}`,
        sandbox: { image: SANDBOX_IMAGE, command: COMMAND }
      })
    })
    const body = (await res.json()) as { status?: string; stdout?: string }
    const ms = performance.now() - t0
    if (res.status !== 200 || body.status !== "completed" || body.stdout !== "hello\n") {
      throw new Error(`worker job failed: ${res.status} ${JSON.stringify(body)}`)
    }
    return ms
  })

export const measureWorkerOverhead = (runs: number) =>
  Effect.scoped(
    Effect.gen(function*() {
      const rt = yield* ContainerRuntime
      yield* rt.ensureImage(SANDBOX_IMAGE)
      const worker = yield* startWorker
      const samplers = [bareOnce(rt), runOnce(rt), workerOnce(worker)] as const
      for (const sample of samplers) yield* sample // warm-up, not counted
      const bare: Array<number> = []
      const bareRun: Array<number> = []
      const viaWorker: Array<number> = []
      for (let i = 0; i < runs; i++) {
        bare.push(yield* samplers[0])
        bareRun.push(yield* samplers[1])
        viaWorker.push(yield* samplers[2])
      }
      const left = yield* rt.listByLabel(LABELS)
      if (left.length > 0) return yield* Effect.dieMessage(`${left.length} bench containers left behind`)
      const b: Stats = stats(bare)
      const r: Stats = stats(bareRun)
      const w: Stats = stats(viaWorker)
      const diff = (x: Stats) => Math.round((w.medianMs - x.medianMs) * 10) / 10
      return { engine: rt.engine, bare: b, bareRun: r, worker: w, overheadMedianMs: diff(b), overheadOverRunMedianMs: diff(r) }
    })
  )

const main = Effect.gen(function*() {
  const args = process.argv.slice(2)
  const runsAt = args.indexOf("--runs")
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 10
  const result = yield* measureWorkerOverhead(Number.isInteger(runs) && runs > 0 ? runs : 10)
  if (args.includes("--json")) {
    console.log(JSON.stringify(result, null, 2))
    return
  }
  console.log(`worker overhead on ${result.engine}, medians over ${result.bare.runs} interleaved runs`)
  const line = (name: string, s: Stats, what: string) =>
    console.log(`  ${name.padEnd(7)} ${s.medianMs.toFixed(1).padStart(7)} ms  (p95 ${s.p95Ms} ms, min ${s.minMs} ms)  ${what}`)
  line("bare", result.bare, "create+start+wait+remove through ContainerRuntime")
  line("run", result.bareRun, "ContainerRuntime.run: create+attach+start+exit+remove (the worker's own cycle)")
  line("worker", result.worker, "POST /v1/worker/jobs:run to the worker-api program, end to end")
  console.log(`  added by the worker: ${result.overheadMedianMs.toFixed(1)} ms over bare, ${result.overheadOverRunMedianMs.toFixed(1)} ms over run (median differences)`)
})

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(main.pipe(Effect.provide(ContainerRuntime.Live))).catch((e: unknown) => {
    console.error(e)
    process.exit(1)
  })
}
