/**
 * The container floor: what one trivial sandbox run costs on this machine, measured side by side.
 *   - cli:       `podman run --rm` (or `docker run --rm`) of the same image and command;
 *   - api-run:   ContainerRuntime.run (create, attach, start, exit seen, remove), what the worker uses;
 *   - api-wait:  create, start, wait, logs, remove through the same layer (the classic cycle, for comparison).
 * Medians over N runs (default 10, `--runs N`), after one warm-up of each. `--json` prints the figures as JSON.
 *
 *   npx tsx bench/container-floor.ts [--runs 10] [--json]
 */
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { ContainerRuntime, type ContainerRuntimeShape } from "../layers/ContainerRuntime.ts"
import { findExecutable } from "../layers/container/podmanService.ts"

export const SANDBOX_IMAGE = process.env.CYNODE_SANDBOX_IMAGE ?? "localhost/cynode-sandbox:latest"
const COMMAND = ["echo", "hello"]
const LABELS = { "io.cynode.role": "bench" }

export interface Stats {
  readonly runs: number
  readonly medianMs: number
  readonly p95Ms: number
  readonly minMs: number
}

export const stats = (samples: ReadonlyArray<number>): Stats => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
  const mid = sorted.length / 2
  const median = sorted.length % 2 === 1 ? at(0.5) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
  return { runs: sorted.length, medianMs: round(median), p95Ms: round(at(0.95)), minMs: round(sorted[0] ?? Number.NaN) }
}

const round = (ms: number) => Math.round(ms * 10) / 10

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const t0 = performance.now()
    yield* effect
    return performance.now() - t0
  })

/** Runs the samplers interleaved (one of each per round) so that machine noise hits them alike. */
export const interleaved = <E, const T extends ReadonlyArray<Effect.Effect<number, E>>>(runs: number, samplers: T) =>
  Effect.gen(function* () {
    for (const sample of samplers) yield* sample // warm-up, not counted
    const samples = samplers.map((): Array<number> => [])
    for (let i = 0; i < runs; i++) {
      for (const [k, sample] of samplers.entries()) samples[k]?.push(yield* sample)
    }
    return samples.map(stats) as { readonly [K in keyof T]: Stats }
  })

/** The runtime's own CLI, with the same ulimits and network as our containers. */
export const cliCommand = (engine: "podman" | "docker"): ReadonlyArray<string> => {
  const limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
  const runtime = engine === "podman" && findExecutable("runc") !== undefined ? ["--runtime", "runc"] : []
  return [engine, ...runtime, "run", "--rm", "--network", "none", ...limits, SANDBOX_IMAGE, ...COMMAND]
}

/** One CLI run. Podman's CLI occasionally loses the output of a short container; such runs are counted, not fatal. */
export const cliOnce = (argv: ReadonlyArray<string>, lostOutput: { count: number }) =>
  Effect.sync(() => {
    const t0 = performance.now()
    const result = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" })
    const ms = performance.now() - t0
    if (result.status !== 0) throw new Error(`${argv.join(" ")} failed (status ${result.status}): ${result.stderr}`)
    if (result.stdout !== "hello\n") lostOutput.count++
    return ms
  })

export const apiRunOnce = (rt: ContainerRuntimeShape) =>
  timed(
    rt.run({ image: SANDBOX_IMAGE, cmd: COMMAND, labels: LABELS }, { timeout: "30 seconds" }).pipe(
      Effect.filterOrDie(
        (r) => r.exitCode === 0 && Buffer.from(r.stdout).toString() === "hello\n",
        () => new Error("unexpected output")
      )
    )
  )

/** create + start + wait + logs + remove, each step timed. */
export const apiWaitOnce = (rt: ContainerRuntimeShape, steps: Record<string, Array<number>>) =>
  Effect.gen(function* () {
    const t0 = performance.now()
    const id = yield* rt.create({ image: SANDBOX_IMAGE, cmd: COMMAND, labels: LABELS })
    const t1 = performance.now()
    yield* rt.start(id)
    const t2 = performance.now()
    const code = yield* rt.wait(id)
    const t3 = performance.now()
    const out = yield* rt.logs(id, { stdout: 1024, stderr: 1024 })
    const t4 = performance.now()
    yield* rt.remove(id)
    const t5 = performance.now()
    if (code !== 0 || Buffer.from(out.stdout).toString() !== "hello\n") return yield* Effect.dieMessage("unexpected output")
    const timings = { create: t1 - t0, start: t2 - t1, wait: t3 - t2, logs: t4 - t3, remove: t5 - t4 }
    for (const [name, ms] of Object.entries(timings)) (steps[name] ??= []).push(ms)
    return t5 - t0
  })

export const measureContainerFloor = (runs: number) =>
  Effect.gen(function* () {
    const rt = yield* ContainerRuntime
    yield* rt.ensureImage(SANDBOX_IMAGE)
    const argv = cliCommand(rt.engine)
    const lostOutput = { count: 0 }
    const steps: Record<string, Array<number>> = {}
    const [cli, apiRun, apiWait] = yield* interleaved(runs, [cliOnce(argv, lostOutput), apiRunOnce(rt), apiWaitOnce(rt, steps)])
    const left = yield* rt.listByLabel(LABELS)
    if (left.length > 0) return yield* Effect.dieMessage(`${left.length} bench containers left behind`)
    return {
      engine: rt.engine,
      endpoint: rt.endpoint,
      cli: { command: argv.join(" "), outputLost: lostOutput.count, ...cli },
      apiRun,
      apiWait: { ...apiWait, steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, stats(v.slice(1)).medianMs])) },
      ratioApiRunToCli: Math.round((apiRun.medianMs / cli.medianMs) * 100) / 100
    }
  })

const main = Effect.gen(function* () {
  const args = process.argv.slice(2)
  const runsAt = args.indexOf("--runs")
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 10
  const result = yield* measureContainerFloor(Number.isInteger(runs) && runs > 0 ? runs : 10)
  if (args.includes("--json")) {
    console.log(JSON.stringify(result, null, 2))
    return
  }
  console.log(`container floor on ${result.engine} (${result.endpoint}), medians over ${result.cli.runs} runs`)
  const line = (name: string, s: Stats, what: string) =>
    console.log(`  ${name.padEnd(9)} ${s.medianMs.toFixed(1).padStart(7)} ms  (p95 ${s.p95Ms} ms)  ${what}`)
  line("cli", result.cli, result.cli.command)
  if (result.cli.outputLost > 0) console.log(`            (the CLI lost the output of ${result.cli.outputLost} runs)`)
  line("api-run", result.apiRun, "create+attach+start+exit+remove")
  line("api-wait", result.apiWait, "create+start+wait+logs+remove")
  console.log(`            steps: ${Object.entries(result.apiWait.steps).map(([k, v]) => `${k} ${v} ms`).join(", ")}`)
  console.log(`  api-run / cli = ${result.ratioApiRunToCli}`)
})

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(main.pipe(Effect.provide(ContainerRuntime.Live))).catch((e: unknown) => {
    console.error(e)
    process.exit(1)
  })
}
