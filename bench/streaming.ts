/**
 * Live output (bench figure 7): how long a line printed in the sandbox takes to reach a client following the task
 * (`GET /v1/tasks/{id}/logs?follow=true`, Server-Sent Events), and what streaming costs in CPU per MB of output on
 * each program.
 *
 * Latency: one task prints `LINES` lines 50 ms apart, each stamped with the kernel's uptime (`/proc/uptime`, which a
 * container shares with the host; busybox `date` has no sub-second format). The client, following from before the
 * first line, stamps each line's arrival with the same clock: latency = arrival − print. Both stamps have 10 ms
 * resolution, so each sample is ±10 ms; p50/p95 over ≥ 100 lines.
 *
 * Cost: `TASKS` tasks each printing `BYTES` (the default per-stream output cap) while a client follows each, against
 * the same number of tasks printing nothing, also followed; (CPU with output − CPU without) ÷ MB streamed, per program.
 */
import * as fs from "node:fs"
import type { Session } from "./client.ts"
import { sseEvents } from "../test/support/sse.ts"

export const LINES = 120
const GAP = "0.05"
export const TASKS = 8
export const BYTES = 262_144

export interface Streaming {
  readonly lines: number
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly max: number }
  readonly inOrderOnce: boolean
  readonly streamedMb: number
  /** CPU ms per MB of output streamed, per program (with-output phase minus the baseline phase). */
  readonly cpuMsPerMb: Record<string, number>
}

const uptimeMs = () => Number(fs.readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000

const auth = (session: Session) => ({ authorization: `Bearer ${session.accessToken}` })

const create = async (session: Session, command: string): Promise<string> => {
  const response = await fetch(`${session.gatewayUrl}/v1/tasks`, {
    method: "POST",
    headers: { ...auth(session), "content-type": "application/json" },
    body: JSON.stringify({ prompt: command, input_mode: "commands", timeout_seconds: 120 })
  })
  const body = (await response.json()) as { id?: string }
  if (response.status !== 201 || body.id === undefined) throw new Error(`create: HTTP ${response.status} ${JSON.stringify(body)}`)
  return body.id
}

/** Follows a task to its `end` event; calls `onText` with each stdout piece as it arrives. Returns the end data. */
const follow = async (session: Session, taskId: string, onText: (text: string) => void): Promise<{ status: string; exit_code: number | null }> => {
  const response = await fetch(`${session.gatewayUrl}/v1/tasks/${taskId}/logs?follow=true`, {
    headers: auth(session),
    signal: AbortSignal.timeout(180_000)
  })
  if (response.status !== 200 || response.body === null) throw new Error(`follow: HTTP ${response.status}`)
  for await (const { event, data } of sseEvents(response.body as AsyncIterable<Uint8Array>)) {
    if (event === "stdout") onText((JSON.parse(data) as { text: string }).text)
    if (event === "end") return JSON.parse(data) as { status: string; exit_code: number | null }
  }
  throw new Error("the output stream ended without an end event")
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN

export const measureStreamingLatency = async (session: Session) => {
  const command = `for i in $(seq 1 ${LINES}); do read up idle < /proc/uptime; echo "$i $up"; sleep ${GAP}; done`
  const taskId = await create(session, command)
  const latencies: Array<number> = []
  const seen: Array<number> = []
  let partial = ""
  const end = await follow(session, taskId, (text) => {
    const now = uptimeMs()
    partial += text
    const lines = partial.split("\n")
    partial = lines.pop() ?? ""
    for (const line of lines) {
      const [n, up] = line.split(" ")
      seen.push(Number(n))
      latencies.push(now - Number(up) * 1000)
    }
  })
  if (end.status !== "completed") throw new Error(`the latency task ended ${end.status}`)
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    lines: latencies.length,
    latencyMs: { p50: Math.round(percentile(sorted, 50)), p95: Math.round(percentile(sorted, 95)), max: Math.round(sorted.at(-1) ?? Number.NaN) },
    inOrderOnce: seen.length === LINES && seen.every((n, i) => n === i + 1)
  }
}

/** `TASKS` tasks running `command` at once, each followed to its end; returns the stdout bytes received. */
export const streamTasks = async (session: Session, command: string): Promise<number> => {
  const ids = await Promise.all(Array.from({ length: TASKS }, () => create(session, command)))
  const sizes = await Promise.all(ids.map(async (id) => {
    let bytes = 0
    await follow(session, id, (text) => (bytes += Buffer.byteLength(text)))
    return bytes
  }))
  return sizes.reduce((a, b) => a + b, 0)
}

export const VOLUME_COMMAND = `yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde | head -c ${BYTES}`
export const BASELINE_COMMAND = "true"

/** CPU ms per MB for each program: the phase with output minus the baseline phase. */
export const cpuPerMb = (withOutput: Record<string, number>, baseline: Record<string, number>, mb: number) =>
  Object.fromEntries(
    Object.keys(withOutput).filter((k) => k !== "machine" && k !== "other").map((k) => [k, Math.round(((withOutput[k] ?? 0) - (baseline[k] ?? 0)) / mb)])
  )
