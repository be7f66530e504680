/**
 * The targets, checked against a run's figures. Each check names the figure, what is compared, the value,
 * the bound, and whether it was met; a figure that failed to run is "not measured".
 */
import type { Footprint } from "./footprint.ts"
import type { Gateway } from "./gateway.ts"
import type { Parallel } from "./parallel.ts"
import type { Streaming } from "./streaming.ts"
import type { TaskLatency } from "./taskLatency.ts"

export interface DispatcherLevel {
  readonly inflightPerNode: number
  readonly burst: { readonly jobs: number; readonly seconds: number; readonly jobsPerSecond: number; readonly latencyMs: Percentiles }
  readonly paced: { readonly jobs: number; readonly latencyMs: Percentiles }
  readonly duplicates: number
}
export interface Percentiles {
  readonly p50: number
  readonly p95: number
  readonly p99: number
}
export interface Dispatcher {
  readonly jobs: number
  readonly paced: number
  readonly results: ReadonlyArray<DispatcherLevel>
  readonly model: { readonly burst: { readonly seconds: number; readonly jobsPerSecond: number; readonly latencyMs: Percentiles } }
}

export interface Figures {
  readonly taskLatency?: TaskLatency | undefined
  readonly dispatcher?: Dispatcher | undefined
  readonly parallel?: Parallel | undefined
  readonly gateway?: Gateway | undefined
  readonly footprint?: Footprint | undefined
  readonly streaming?: Streaming | undefined
}

export interface Check {
  readonly figure: string
  readonly what: string
  readonly value: number | undefined
  readonly bound: string
  readonly met: boolean
}

/**
 * The programs the footprint target applies to. Not `database`: that is `just up`'s supervisor of the embedded
 * PostgreSQL (scripts/up/database.ts), reported beside them.
 */
export const FOOTPRINT_PROGRAMS = ["control-plane", "user-gateway", "node-manager"] as const

/** The node's default sandbox concurrency: the level the parallel target is judged at. */
export const NODE_SANDBOX_LIMIT = 4

const check = (figure: string, what: string, value: number | undefined, bound: string, ok: (v: number) => boolean): Check => ({
  figure,
  what,
  value,
  bound,
  met: value !== undefined && ok(value)
})

export const checkTargets = (f: Figures): ReadonlyArray<Check> => {
  const best = f.dispatcher === undefined ? undefined : Math.max(...f.dispatcher.results.map((r) => r.burst.jobsPerSecond))
  const atLimit = f.parallel?.levels.find((l) => l.concurrency === NODE_SANDBOX_LIMIT) ?? f.parallel?.levels.at(-1)
  // Sampled peaks while idle and under load; the kernel's high-water mark also holds start-up (reported apart).
  const peak = (program: string) =>
    f.footprint === undefined ? undefined : Math.max(...Object.values(f.footprint.phases).map((p) => p[program] ?? 0))
  return [
    check("1 task latency", "gateway p50 / CLI p50", f.taskLatency?.ratios.gatewayToCliP50, "<= 1.25", (v) => v <= 1.25),
    check("2 dispatcher", "burst jobs/s (best level)", best, ">= 500", (v) => v >= 500),
    check("3 parallel", `end to end / direct at ${atLimit?.concurrency ?? NODE_SANDBOX_LIMIT} concurrent`, atLimit?.ratio, ">= 0.9", (v) => v >= 0.9),
    check("4 gateway", "GET /v1/tasks/{id} req/s", f.gateway?.task.requestsPerSecond, ">= 3000", (v) => v >= 3000),
    check("4 gateway", "GET /v1/tasks/{id} p99 ms", f.gateway?.task.latencyMs.p99, "< 20", (v) => v < 20),
    check("4 gateway", "GET /v1/tasks/{id}/result req/s", f.gateway?.result.requestsPerSecond, ">= 3000", (v) => v >= 3000),
    check("4 gateway", "GET /v1/tasks/{id}/result p99 ms", f.gateway?.result.latencyMs.p99, "< 20", (v) => v < 20),
    ...FOOTPRINT_PROGRAMS.map((program) => check("5 footprint", `${program} peak RSS MB`, peak(program), "< 150", (v) => v < 150)),
    check("7 live output", "sandbox line → following client p95 ms", f.streaming?.latencyMs.p95, "<= 250", (v) => v <= 250)
  ]
}
