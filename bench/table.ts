/** The bench's printed table: one section per figure, each with its comparison, then the targets. */
import type { Stats } from "./container-floor.ts"
import type { Footprint } from "./footprint.ts"
import type { Gateway, LoadResult } from "./gateway.ts"
import type { NodeStartup } from "./nodeStartup.ts"
import type { Streaming } from "./streaming.ts"
import type { Parallel } from "./parallel.ts"
import type { Check, Dispatcher } from "./targets.ts"
import type { TaskLatency } from "./taskLatency.ts"

export interface BenchResults {
  readonly mode: string
  readonly date: string
  readonly git: { readonly commit: string; readonly dirty: boolean }
  readonly environment: { readonly node: string; readonly cpuCount: number; readonly cpuModel: string; readonly engine: string }
  readonly figures: {
    readonly taskLatency: (TaskLatency & { readonly workerOverhead: WorkerOverhead | undefined }) | undefined
    readonly dispatcher: Dispatcher | undefined
    readonly parallel: Parallel | undefined
    readonly gateway: Gateway | undefined
    readonly footprint: Footprint
    readonly cpu: { readonly perTaskMs: Record<string, Record<string, number>> | undefined }
    readonly nodeStartup: NodeStartup | undefined
    readonly streaming: (Streaming & { readonly targetP95Ms: number; readonly ratioToTarget: number }) | undefined
  }
  readonly targets: ReadonlyArray<Check>
  readonly errors: Record<string, string>
}

interface WorkerOverhead {
  readonly bareRun: Stats
  readonly worker: Stats
  readonly overheadOverRunMedianMs: number
}

const row = (cells: ReadonlyArray<string | number>, widths: ReadonlyArray<number>) =>
  "  " + cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join("  ")

const ms = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "—" : n >= 100 ? n.toFixed(0) : n.toFixed(1))

export const printTable = (r: BenchResults, say: (line: string) => void) => {
  const f = r.figures
  say("")
  say(`CyNode bench, ${r.mode} run, ${r.date}, commit ${r.git.commit.slice(0, 12)}${r.git.dirty ? " (uncommitted changes)" : ""}`)
  say(`${r.environment.cpuCount} × ${r.environment.cpuModel}; node ${r.environment.node}; ${r.environment.engine}`)

  say("\n1. Task latency, `echo hello` submit → result (ms; interleaved rounds)")
  if (f.taskLatency !== undefined) {
    const t = f.taskLatency
    const w = [48, 8, 8]
    say(row(["", "p50", "p95"], w))
    say(row(["CyNode: gateway → dispatcher → worker → result", ms(t.gateway.medianMs), ms(t.gateway.p95Ms)], w))
    say(row([`${t.cli.command.split(" ")[0]} run --rm (CLI floor)`, ms(t.cli.medianMs), ms(t.cli.p95Ms)], w))
    say(row(["API create+start+wait+logs+remove", ms(t.apiWait.medianMs), ms(t.apiWait.p95Ms)], w))
    say(row(["API run (create+attach+start+exit+remove)", ms(t.apiRun.medianMs), ms(t.apiRun.p95Ms)], w))
    say(row(["API run of the worker's hardened sandbox spec", ms(t.apiSandbox.medianMs), ms(t.apiSandbox.p95Ms)], w))
    say(`  ratios: CyNode / CLI = ${t.ratios.gatewayToCliP50} at p50 (target ≤ 1.25), ${t.ratios.gatewayToCliP95} at p95; ` +
      `CyNode / API wait cycle = ${t.ratios.gatewayToApiWaitP50} at p50; CyNode / worker's sandbox run = ${t.ratios.gatewayToApiSandboxP50} at p50`)
    const s = t.gateway.stepsMedianMs
    say(`  where CyNode's time goes (medians): POST /v1/tasks ${ms(s.submit)} | submitted → container start ${ms(s.submittedToContainerStart)}` +
      ` | container start → exit seen ${ms(s.containerStartToExit)} | exit → result at client ${ms(s.exitToResultAtClient)}`)
    if (t.workerOverhead !== undefined) {
      const o = t.workerOverhead
      say(`  worker API alone (bench/worker-overhead.ts): ${ms(o.worker.medianMs)} vs its bare run ${ms(o.bareRun.medianMs)} (${o.overheadOverRunMedianMs >= 0 ? "+" : ""}${ms(o.overheadOverRunMedianMs)} ms)`)
    }
  }

  say("\n2. Dispatcher capacity, instant HTTP worker, 1 node")
  if (f.dispatcher !== undefined) {
    const d = f.dispatcher
    const w = [26, 8, 9, 26, 22]
    say(row(["in-flight per node", "jobs/s", "burst s", "burst dispatch p50/95/99", "paced p50/95/99 ms"], w))
    for (const l of d.results) {
      const b = l.burst.latencyMs
      const p = l.paced.latencyMs
      say(row([String(l.inflightPerNode), l.burst.jobsPerSecond, l.burst.seconds, `${ms(b.p50)}/${ms(b.p95)}/${ms(b.p99)}`, `${ms(p.p50)}/${ms(p.p95)}/${ms(p.p99)}`], w))
    }
    const m = d.model.burst
    say(row(["original (1 per 1 s tick)", m.jobsPerSecond, m.seconds, `${ms(m.latencyMs.p50)}/${ms(m.latencyMs.p95)}/${ms(m.latencyMs.p99)}`, "500/950/990"], w))
    say(`  ${d.jobs} jobs per burst, ${d.paced} paced jobs; best ${Math.max(...d.results.map((l) => l.burst.jobsPerSecond))} jobs/s = ` +
      `${Math.max(...d.results.map((l) => l.burst.jobsPerSecond))}× the original design (target ≥ 500 jobs/s)`)
  }

  say("\n3. Parallel sandbox throughput, N concurrent `echo hello`")
  if (f.parallel !== undefined) {
    const w = [4, 6, 11, 11, 12, 6, 11, 15, 15, 15]
    say(row(["N", "tasks", "CyNode t/s", "direct t/s", "sandbox t/s", "ratio", "vs sandbox", "CyNode p50/95", "direct p50/95", "sandbox p50/95"], w))
    const pair = (x: { readonly latency: Stats }) => `${ms(x.latency.medianMs)}/${ms(x.latency.p95Ms)}`
    for (const l of f.parallel.levels) {
      say(row([l.concurrency, l.tasks, l.endToEnd.tasksPerSecond, l.direct.tasksPerSecond, l.directSandbox.tasksPerSecond, l.ratio,
        l.ratioToSandbox, pair(l.endToEnd), pair(l.direct), pair(l.directSandbox)], w))
    }
    say("  (direct = ContainerRuntime.run of the bare image; sandbox = the same of the worker's hardened spec and workspace)")
    const perTask = f.cpu.perTaskMs
    if (perTask !== undefined) {
      const kinds = Object.keys(perTask)
      const who = [...new Set(kinds.flatMap((k) => Object.keys(perTask[k] ?? {})))].filter((w) => w !== "machine")
      const cw = [16, ...kinds.map(() => 11)]
      say("  CPU ms per task in these batches, by consumer (where a task's cost goes; `other` = conmon, runc, kernel, …):")
      say(row(["", ...kinds], cw))
      for (const w of [...who, "machine"]) say(row([w, ...kinds.map((k) => ms(perTask[k]?.[w]))], cw))
    }
    say("  (target: ratio ≥ 0.9; the node runs at most 4 sandboxes at once, so N = 8 queues at the node)")
  }

  say("\n4. Gateway under a bounded loopback load (autocannon in the bench process)")
  if (f.gateway !== undefined) {
    const w = [34, 6, 8, 8, 8, 8, 7]
    say(row(["endpoint", "conns", "req/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx"], w))
    const line = (name: string, l: LoadResult) =>
      say(row([name, l.connections, l.requestsPerSecond, ms(l.latencyMs.p50), ms(l.latencyMs.p90), ms(l.latencyMs.p99), l.non2xx + l.errors], w))
    line("floor: bare node:http, same body", f.gateway.floor)
    line("GET /v1/tasks/{id}", f.gateway.task)
    line("GET /v1/tasks/{id}/result", f.gateway.result)
    line("POST /v1/auth/login (Argon2id)", f.gateway.login)
    say(`  reads / floor: ${f.gateway.ratios.taskToFloorRequestsPerSecond} and ${f.gateway.ratios.resultToFloorRequestsPerSecond} of the floor's req/s`)
    say("  (target for the reads: ≥ 3000 req/s and p99 < 20 ms; login/s is reported only)")
  }

  say("\n5. Footprint, resident memory (MB): peak per phase, then the kernel's high-water mark")
  {
    const phases = Object.keys(f.footprint.phases)
    const programs = [...new Set(Object.values(f.footprint.phases).flatMap((p) => Object.keys(p)))]
    const w = [14, ...phases.map((p) => Math.max(7, p.length)), 10]
    say(row(["program", ...phases, "high-water"], w))
    for (const program of programs) {
      say(row([program, ...phases.map((p) => ms(f.footprint.phases[p]?.[program])), ms(f.footprint.highWaterMb[program])], w))
    }
    const floors = Object.entries(f.footprint.floorsMb).map(([name, mb]) => `${name} ${ms(mb)}`).join(", ")
    if (floors !== "") say(`  floors, idle, same reading: ${floors}`)
    say("  (target < 150 MB for control-plane, user-gateway and node-manager (with its in-process worker API) while idle and")
    say("   under load; `database` is just up's supervisor of the embedded PostgreSQL, reported only)")
  }

  say("\n6. Node startup, node-manager start → applied ack, by step (ms)")
  if (f.nodeStartup !== undefined) {
    const n = f.nodeStartup
    const steps = Object.keys(n.fresh.stepsMedianMs)
    const w = [18, 12, 16]
    say(row(["step", "system node", `fresh (median ${n.fresh.runs})`], w))
    for (const step of steps) say(row([step, ms(n.systemNode?.steps[step]), ms(n.fresh.stepsMedianMs[step])], w))
    say(row(["total (in-process)", ms(n.systemNode?.totalMs), ms(Math.round(n.fresh.samples.map((s) => s.totalMs).sort((a, b) => a - b)[Math.floor(n.fresh.samples.length / 2)] ?? Number.NaN))], w))
    say(row(["spawn → applied ack", "", ms(n.fresh.toAckMs.medianMs)], w))
    say("  (system node: started with the control plane, so `register` includes waiting for it; it also starts the inference container.")
    say("   fresh nodes: started against the running system with inference disabled.)")
  }

  say("\n7. Live output: a line printed in the sandbox → the same line at a client following the task (SSE)")
  if (f.streaming !== undefined) {
    const s = f.streaming
    say(`  ${s.lines} lines, 50 ms apart: p50 ${ms(s.latencyMs.p50)} ms, p95 ${ms(s.latencyMs.p95)} ms (target ≤ ${s.targetP95Ms}; ratio ${s.ratioToTarget}), ` +
      `max ${ms(s.latencyMs.max)} ms; in order, once each: ${s.inOrderOnce ? "yes" : "NO"} (stamps: /proc/uptime, ±10 ms)`)
    say(`  cost of streaming, CPU ms per MB of output (${s.streamedMb} MB followed, minus the same tasks printing nothing): ` +
      Object.entries(s.cpuMsPerMb).map(([k, v]) => `${k} ${v}`).join(", "))
  }

  say("\nTargets")
  const w = [14, 40, 10, 9, 6]
  say(row(["figure", "what", "value", "target", "met"], w))
  for (const c of r.targets) say(row([c.figure, c.what, c.value === undefined ? "—" : String(c.value), c.bound, c.met ? "yes" : "NO"], w))
  for (const [name, message] of Object.entries(r.errors)) say(`  not measured: ${name}: ${message.split("\n")[0]}`)
}
