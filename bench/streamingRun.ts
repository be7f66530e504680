/**
 * `just bench-streaming`: figure 7 of `just bench` on its own (bench/streaming.ts): the system started as `just up`
 * starts it, the latency of a line from the sandbox to a following client and the CPU cost per MB streamed, printed
 * beside the target. The full `just bench` runs the same figure among the others.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { login } from "./client.ts"
import { startCpuMeter } from "./cpu.ts"
import { BASELINE_COMMAND, BYTES, cpuPerMb, LINES, measureStreamingLatency, streamTasks, TASKS, VOLUME_COMMAND } from "./streaming.ts"
import { startSystem } from "./system.ts"

const say = (line: string) => process.stdout.write(`${line}\n`)

const postmasterPid = (stateDir: string) => {
  try {
    return Number.parseInt(fs.readFileSync(path.join(stateDir, "pgdata", "postmaster.pid"), "utf8").split("\n")[0] ?? "", 10)
  } catch {
    return undefined
  }
}

const main = async () => {
  say("▸ starting the system (scripts/up.ts) …")
  const system = await startSystem()
  try {
    const cpu = startCpuMeter(system.programs, postmasterPid(system.stateDir), "idle")
    const session = await login(system.gatewayUrl, "admin", system.adminPassword)
    say(`▸ latency: ${LINES} lines, 50 ms apart, followed over SSE …`)
    cpu.phase("latency")
    const latency = await measureStreamingLatency(session)
    say(`▸ cost: ${TASKS} tasks × ${BYTES / 1024} KiB followed, against ${TASKS} tasks printing nothing …`)
    cpu.phase("baseline")
    await streamTasks(session, BASELINE_COMMAND)
    cpu.phase("output")
    const bytes = await streamTasks(session, VOLUME_COMMAND)
    const { phases } = cpu.stop()
    const mb = bytes / (1024 * 1024)
    const perMb = cpuPerMb(phases.output ?? {}, phases.baseline ?? {}, mb)
    say("")
    say("7. Live output: a line printed in the sandbox → the same line at a client following the task (SSE)")
    say(`  ${latency.lines} lines: p50 ${latency.latencyMs.p50} ms, p95 ${latency.latencyMs.p95} ms (target ≤ 250; ratio ` +
      `${Math.round((latency.latencyMs.p95 / 250) * 100) / 100}), max ${latency.latencyMs.max} ms; in order, once each: ` +
      `${latency.inOrderOnce ? "yes" : "NO"} (stamps: /proc/uptime, ±10 ms)`)
    say(`  cost of streaming, CPU ms per MB of output (${mb.toFixed(2)} MB followed, minus the same tasks printing nothing): ` +
      Object.entries(perMb).map(([k, v]) => `${k} ${v}`).join(", "))
    say(`  target: p95 ≤ 250 ms — ${latency.latencyMs.p95 <= 250 ? "met" : "NOT met"}`)
  } finally {
    await system.stop()
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    process.exit(1)
  }
)
