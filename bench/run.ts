/**
 * `just bench` / `npm run bench`: CyNode measured against the container floor and the original design, every figure
 * a ratio or a comparison taken side by side in the same run (bench/README.md says how each one is measured).
 *
 *   tsx bench/run.ts [--quick]
 *
 * Order: the dispatcher's capacity and the worker's overhead first (they start their own database / worker, and
 * must not share the CPU with the system); then the whole system via scripts/up.ts; idle footprint; task latency;
 * parallel throughput; gateway load; node startup; stop. Prints a table, writes bench/results.json (or
 * results-quick.json) and the plot (latency.svg / latency.png, `-quick` likewise) next to it. Exits 1 when a
 * figure could not be measured; missed targets are reported, not fatal.
 */
import { Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ContainerRuntime } from "../layers/ContainerRuntime.ts"
import { repoRoot } from "../test/support/programs.ts"
import { login, runEcho } from "./client.ts"
import { findEngineService, startCpuMeter } from "./cpu.ts"
import { measureFloors, startSampler } from "./footprint.ts"
import { measureGateway } from "./gateway.ts"
import { measureNodeStartup } from "./nodeStartup.ts"
import { measureParallel, type Parallel, PARALLEL_KINDS } from "./parallel.ts"
import { benchPanels, renderPlot } from "./plot.ts"
import { startSystem } from "./system.ts"
import { printTable } from "./table.ts"
import { checkTargets, type Dispatcher } from "./targets.ts"
import { BASELINE_COMMAND, BYTES, cpuPerMb, LINES, measureStreamingLatency, streamTasks, TASKS, VOLUME_COMMAND } from "./streaming.ts"
import { measureTaskLatency } from "./taskLatency.ts"
import { measureWorkerOverhead } from "./worker-overhead.ts"

const quick = process.argv.includes("--quick")
const unknown = process.argv.slice(2).filter((a) => a !== "--quick")
if (unknown.length > 0) {
  process.stderr.write(`error: unknown argument ${unknown.join(" ")}\nusage: tsx bench/run.ts [--quick]\n`)
  process.exit(2)
}

/** How much of everything: the full run stays under 10 minutes, the quick one well under 3. */
const PLAN = quick
  ? { latencyRuns: 10, workerRuns: 5, dispatcherJobs: 300, dispatcherPaced: 30, levels: [1, 4], tasksPerLevel: 8, loadSeconds: 3, idleSeconds: 2, freshNodes: 1, clusterNodes: 200, clusterSeconds: 10, clusterJobs: 1000 }
  : { latencyRuns: 30, workerRuns: 10, dispatcherJobs: 1000, dispatcherPaced: 100, levels: [1, 2, 4, 8], tasksPerLevel: 24, loadSeconds: 10, idleSeconds: 3, freshNodes: 3, clusterNodes: 1000, clusterSeconds: 30, clusterJobs: 5000 }

const say = (line: string) => process.stdout.write(`${line}\n`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const git = (...args: Array<string>) => {
  try {
    return execFileSync("git", args, { cwd: repoRoot, encoding: "utf8" }).trim()
  } catch {
    return undefined
  }
}

// Quiet: the runtime's own info lines would interleave with the bench's output.
const quiet = Logger.minimumLogLevel(LogLevel.Warning)
const runtime = ManagedRuntime.make(Layer.merge(ContainerRuntime.Live.pipe(Layer.provide(quiet)), quiet))
const errors: Record<string, string> = {}

/** Runs one figure; a failure is recorded (and printed) and the run goes on. */
const figure = async <A>(name: string, measure: () => Promise<A>): Promise<A | undefined> => {
  const t0 = performance.now()
  say(`▸ ${name} …`)
  try {
    const value = await measure()
    say(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    return value
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    errors[name] = message
    say(`  FAILED: ${message.slice(0, 2000)}`)
    return undefined
  }
}

/** bench/dispatcher.ts in its own process (it runs the real dispatcher on its own database), as JSON. */
interface ClusterFigure {
  readonly targets: ReadonlyArray<{ readonly what: string; readonly value: number | undefined; readonly unit: string; readonly bound: string; readonly met: boolean }>
}

/** Runs a bench script in its own process with `--json`, and parses the JSON it prints last. */
const benchInProcess = <A>(script: string, args: ReadonlyArray<string>) =>
  new Promise<A>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, "--json", ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")))
    child.once("error", reject)
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`${script} exited ${code}: ${stderr.slice(-2000)}`))
      try {
        resolve(JSON.parse(stdout.slice(stdout.indexOf("{"))) as A)
      } catch {
        reject(new Error(`${script} printed no JSON: ${stdout.slice(-500)} ${stderr.slice(-1000)}`))
      }
    })
  })

/** 7: simulated nodes against one control plane (bench/cluster.ts), in a process of its own. */
const clusterFigure = async () => {
  const figure = await benchInProcess<ClusterFigure>("bench/cluster.ts", [
    "--nodes", String(PLAN.clusterNodes), "--seconds", String(PLAN.clusterSeconds), "--jobs", String(PLAN.clusterJobs)
  ])
  for (const t of figure.targets) say(`  ${t.met ? "✓" : "✗"} ${t.what}: ${t.value ?? "-"} ${t.unit} (target ${t.bound})`)
  return figure
}

const dispatcherFigure = () =>
  benchInProcess<Dispatcher>("bench/dispatcher.ts", ["--jobs", String(PLAN.dispatcherJobs), "--paced", String(PLAN.dispatcherPaced)])

const environment = async () => {
  const engine = await runtime.runPromise(Effect.flatMap(ContainerRuntime, (rt) => rt.version)).catch(() => undefined)
  const cpus = os.cpus()
  return {
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuCount: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    engine: engine === undefined ? "unknown" : `${engine.engine} ${engine.version} (API ${engine.apiVersion})`
  }
}

const postmasterPid = (stateDir: string) => {
  try {
    return Number.parseInt(fs.readFileSync(path.join(stateDir, "pgdata", "postmaster.pid"), "utf8").split("\n")[0] ?? "", 10)
  } catch {
    return undefined
  }
}

/** CPU ms per task of each kind in the parallel figure, per consumer. */
const cpuPerTask = (phases: Record<string, Record<string, number>>, parallel: Parallel) => {
  const tasks = parallel.levels.reduce((n, l) => n + l.tasks, 0)
  return Object.fromEntries(PARALLEL_KINDS.map((kind) => [
    kind,
    Object.fromEntries(Object.entries(phases[`parallel: ${kind}`] ?? {}).map(([who, ms]) => [who, Math.round((ms / tasks) * 10) / 10]))
  ]))
}

const main = async () => {
  const started = performance.now()
  const date = new Date().toISOString()
  say(`CyNode bench (${quick ? "quick" : "full"}), ${date}`)
  const env = await environment()
  say(`  ${env.cpuCount} × ${env.cpuModel}, node ${env.node}, ${env.engine}`)

  const dispatcher = await figure("2 dispatcher capacity (bench/dispatcher.ts)", dispatcherFigure)
  const cluster = await figure(`7 cluster (bench/cluster.ts, ${PLAN.clusterNodes} simulated nodes)`, clusterFigure)
  const workerOverhead = await figure("1b worker overhead (bench/worker-overhead.ts)", () =>
    runtime.runPromise(measureWorkerOverhead(PLAN.workerRuns)))

  const floors = await figure("5b footprint floors (reference processes)", measureFloors)

  say("▸ starting the system (scripts/up.ts) …")
  const system = await startSystem()
  say(`  up in ${(system.readyMs / 1000).toFixed(1)} s: gateway ${system.gatewayUrl}, node ${system.nodeSlug}`)
  const sampler = startSampler(system.programs, "idle")
  const engineService = findEngineService()
  const cpu = startCpuMeter([
    ...system.programs,
    { name: "bench", pid: process.pid },
    ...(engineService !== undefined ? [{ name: "engine service", pid: engineService }] : [])
  ], postmasterPid(system.stateDir), "idle")
  const phase = (name: string) => {
    sampler.phase(name)
    cpu.phase(name)
  }
  let taskLatency, parallel, gateway, nodeStartup
  let streamingRun: { readonly latency: Awaited<ReturnType<typeof measureStreamingLatency>>; readonly bytes: number } | undefined
  try {
    await sleep(PLAN.idleSeconds * 1000)
    const session = await login(system.gatewayUrl, "admin", system.adminPassword)

    phase("task latency")
    taskLatency = await figure(`1 task latency (${PLAN.latencyRuns} interleaved rounds)`, () =>
      runtime.runPromise(measureTaskLatency(session, PLAN.latencyRuns)))

    phase("parallel")
    parallel = await figure(`3 parallel throughput (levels ${PLAN.levels.join(", ")})`, () =>
      runtime.runPromise(measureParallel(session, PLAN.levels, PLAN.tasksPerLevel, (kind) => cpu.phase(`parallel: ${kind}`))))

    gateway = await figure(`4 gateway load (${PLAN.loadSeconds} s per endpoint)`, async () => {
      phase("gateway floor")
      const { taskId } = await runEcho(session) // a completed task of our own to read
      return runtime.runPromise(measureGateway(session, {
        taskId,
        handle: "admin",
        password: system.adminPassword,
        seconds: PLAN.loadSeconds,
        connections: 10
      }, phase))
    })

    phase("streaming latency")
    streamingRun = await figure(`7 live output (${LINES} lines; ${TASKS} × ${BYTES / 1024} KiB followed)`, async () => {
      const fresh = await login(system.gatewayUrl, "admin", system.adminPassword)
      const latency = await measureStreamingLatency(fresh)
      phase("streaming: baseline")
      await streamTasks(fresh, BASELINE_COMMAND)
      phase("streaming: output")
      const bytes = await streamTasks(fresh, VOLUME_COMMAND)
      return { latency, bytes }
    })

    phase("node startup")
    nodeStartup = await figure(`6 node startup (${PLAN.freshNodes} fresh node(s))`, () => measureNodeStartup(system, PLAN.freshNodes))
  } finally {
    const footprintValue = sampler.stop(floors ?? {})
    const cpuValue = cpu.stop()
    say("▸ stopping the system …")
    await system.stop()
    await runtime.dispose()
    const streamedMb = streamingRun === undefined ? 0 : streamingRun.bytes / (1024 * 1024)
    const streaming = streamingRun === undefined ? undefined : {
      ...streamingRun.latency,
      targetP95Ms: 250,
      ratioToTarget: Math.round((streamingRun.latency.latencyMs.p95 / 250) * 100) / 100,
      streamedMb: Math.round(streamedMb * 100) / 100,
      cpuMsPerMb: cpuPerMb(cpuValue.phases["streaming: output"] ?? {}, cpuValue.phases["streaming: baseline"] ?? {}, streamedMb)
    }
    const figures = {
      streaming,
      taskLatency: taskLatency === undefined ? undefined : { ...taskLatency, workerOverhead },
      dispatcher,
      cluster,
      parallel,
      gateway,
      footprint: footprintValue,
      cpu: { ...cpuValue, perTaskMs: parallel === undefined ? undefined : cpuPerTask(cpuValue.phases, parallel) },
      nodeStartup
    }
    const targets = checkTargets(figures)
    const results = {
      mode: quick ? "quick" : "full",
      date,
      git: { commit: git("rev-parse", "HEAD") ?? "unknown", dirty: (git("status", "--porcelain") ?? "") !== "" },
      environment: env,
      plan: PLAN,
      durationSeconds: Math.round((performance.now() - started) / 1000),
      systemReadySeconds: Math.round(system.readyMs / 100) / 10,
      figures,
      targets,
      errors
    }
    const suffix = quick ? "-quick" : ""
    const dir = path.join(repoRoot, "bench")
    fs.writeFileSync(path.join(dir, `results${suffix}.json`), JSON.stringify(results, null, 2) + "\n")
    const plot = renderPlot(benchPanels(parallel, dispatcher))
    fs.writeFileSync(path.join(dir, `latency${suffix}.svg`), plot.svg)
    fs.writeFileSync(path.join(dir, `latency${suffix}.png`), plot.png)
    printTable(results, say)
    say(`\nwrote bench/results${suffix}.json, bench/latency${suffix}.png and .svg in ${results.durationSeconds} s`)
  }
}

main().then(
  () => process.exit(Object.keys(errors).length > 0 ? 1 : 0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    process.exit(1)
  }
)
