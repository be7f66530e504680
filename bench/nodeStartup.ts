/**
 * Figure 6, node startup: node-manager start → `applied` config ack, split by pipeline step. The node manager logs
 * one JSON line "node startup complete" with `timings_ms` (per step) and `total_ms` (from its first step); the
 * bench adds `boot` (process spawn → first step: Node, tsx, imports), measured as the wall time from spawn to that
 * line minus `total_ms`.
 *   - system node: the node `scripts/up.ts` started beside the control plane (its register step includes waiting
 *     for the control plane to come up; its inference step starts the inference container). Read from up.ts's
 *     output, so it has no boot figure.
 *   - fresh nodes: node managers started one at a time against the running system (inference disabled, so no
 *     second inference container on the same port), each stopped again before the next.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freePort, startProgram } from "../test/support/programs.ts"
import { stats } from "./container-floor.ts"
import type { BenchSystem } from "./system.ts"

export const STEPS = [
  "decode_env",
  "checks",
  "register",
  "fetch_config",
  "validate_config",
  "start_worker_api",
  "start_inference",
  "ack_applied"
] as const

export interface StartupSample {
  /** Spawn → the `applied` ack sent (ms); absent for the system node. */
  readonly toAckMs?: number
  readonly steps: Record<string, number>
  readonly totalMs: number
}

const COMPLETE = "node startup complete"

/** From up.ts's prefixed output: `… node startup complete  … total_ms=3786 timings_ms={…} …`. */
export const systemNodeStartup = (output: string): StartupSample | undefined => {
  const line = output.split("\n").find((l) => l.includes(COMPLETE))
  if (line === undefined) return undefined
  const total = /total_ms=(\d+)/.exec(line)
  const timings = /timings_ms=(\{[^}]*\})/.exec(line)
  if (total === null || timings === null) return undefined
  return { steps: JSON.parse(timings[1]!) as Record<string, number>, totalMs: Number(total[1]) }
}

interface LogLine {
  readonly message?: unknown
  readonly annotations?: Record<string, unknown>
}

const parseLine = (line: string): LogLine | undefined => {
  if (!line.startsWith("{")) return undefined
  try {
    return JSON.parse(line) as LogLine
  } catch {
    return undefined
  }
}

const messageOf = (entry: LogLine) => (Array.isArray(entry.message) ? entry.message.join(" ") : String(entry.message ?? ""))

/** Starts one node manager against the running system, waits for its startup line, stops it. */
const freshNode = async (system: BenchSystem): Promise<StartupSample> => {
  const slug = `bench-start-${randomBytes(3).toString("hex")}`
  const port = await freePort()
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-bench-node-"))
  const passThrough = ["CYNODE_CONTAINER_SOCKET", "DOCKER_HOST", "XDG_RUNTIME_DIR"].flatMap((name) =>
    process.env[name] === undefined ? [] : [[name, process.env[name]!] as const]
  )
  const t0 = performance.now()
  const program = startProgram("node-manager", {
    ...Object.fromEntries(passThrough),
    CYNODE_LOG_LEVEL: "info",
    CYNODE_ORCHESTRATOR_URL: system.controlPlaneUrl,
    CYNODE_NODE_REGISTRATION_PSK: system.psk,
    CYNODE_NODE_SLUG: slug,
    CYNODE_WORKER_LISTEN_ADDR: `127.0.0.1:${port}`,
    CYNODE_WORKER_PUBLIC_URL: `http://127.0.0.1:${port}`,
    CYNODE_STATE_DIR: stateDir,
    CYNODE_OLLAMA_CONTAINER_NAME: `cynode-ollama-${slug}`,
    CYNODE_INFERENCE_MODE: "disabled"
  })
  try {
    let ackAt: number | undefined
    const sample = await new Promise<StartupSample>((resolve, reject) => {
      let buffered = ""
      const timer = setTimeout(() => reject(new Error(`node manager ${slug} did not start within 60 s:\n${program.output().slice(-3000)}`)), 60_000)
      void program.exited.then((code) => reject(new Error(`node manager ${slug} exited (${code}):\n${program.output().slice(-3000)}`)))
      program.child.stdout?.on("data", (chunk: Buffer) => {
        const now = performance.now()
        buffered += chunk.toString("utf8")
        const lines = buffered.split("\n")
        buffered = lines.pop() ?? ""
        for (const line of lines) {
          const entry = parseLine(line)
          if (entry === undefined) continue
          const message = messageOf(entry)
          if (message === "config ack sent" && entry.annotations?.status === "applied") ackAt = now
          if (message === COMPLETE) {
            clearTimeout(timer)
            const totalMs = Number(entry.annotations?.total_ms)
            const steps = { ...(entry.annotations?.timings_ms as Record<string, number>) }
            resolve({
              ...(ackAt !== undefined ? { toAckMs: Math.round(ackAt - t0) } : {}),
              steps: { boot: Math.round(now - t0 - totalMs), ...steps },
              totalMs
            })
          }
        }
      })
    })
    return sample
  } finally {
    await program.stop(30_000)
    fs.rmSync(stateDir, { recursive: true, force: true })
  }
}

export const measureNodeStartup = async (system: BenchSystem, freshRuns: number) => {
  const fresh: Array<StartupSample> = []
  for (let i = 0; i < freshRuns; i++) fresh.push(await freshNode(system))
  const stepNames = ["boot", ...STEPS, "first_report"]
  const medianSteps = Object.fromEntries(
    stepNames.map((step) => [step, stats(fresh.map((s) => s.steps[step] ?? 0)).medianMs])
  )
  return {
    systemNode: systemNodeStartup(system.output()),
    fresh: {
      runs: fresh.length,
      toAckMs: stats(fresh.flatMap((s) => (s.toAckMs !== undefined ? [s.toAckMs] : []))),
      stepsMedianMs: medianSteps,
      samples: fresh
    }
  }
}

export type NodeStartup = Awaited<ReturnType<typeof measureNodeStartup>>
