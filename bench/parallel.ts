/**
 * Figure 3, parallel sandbox throughput: N concurrent `echo hello` tasks end to end (gateway → dispatcher → worker →
 * result) versus N concurrent direct ContainerRuntime.run calls on the same runtime, for several N. Batches of the
 * two kinds alternate (direct, end to end, direct, …) so that noise hits both alike. Throughput = tasks / the summed
 * wall time of the batches; latency percentiles are over every task of the level (they feed the plot).
 */
import { Effect } from "effect"
import { ContainerRuntime } from "../layers/ContainerRuntime.ts"
import { runEcho, type Session } from "./client.ts"
import { apiRunOnce, stats, type Stats } from "./container-floor.ts"
import { makeSandboxRun } from "./sandboxRun.ts"

export interface ParallelLevel {
  readonly concurrency: number
  readonly tasks: number
  readonly endToEnd: { readonly tasksPerSecond: number; readonly latency: Stats }
  readonly direct: { readonly tasksPerSecond: number; readonly latency: Stats }
  readonly directSandbox: { readonly tasksPerSecond: number; readonly latency: Stats }
  /** End to end / direct (the target). */
  readonly ratio: number
  /** End to end / direct sandbox-spec runs: orchestration alone. */
  readonly ratioToSandbox: number
}

const round2 = (n: number) => Math.round(n * 100) / 100

const batch = <E>(n: number, one: Effect.Effect<number, E>) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const latencies = yield* Effect.all(Array.from({ length: n }, () => one), { concurrency: "unbounded" })
    return { wallMs: performance.now() - t0, latencies }
  })

export const PARALLEL_KINDS = ["direct", "sandbox", "end to end"] as const
export type ParallelKind = typeof PARALLEL_KINDS[number]

/** `onKind` is told before each batch, so CPU can be accounted per kind of run. */
export const measureParallel = (
  session: Session,
  levels: ReadonlyArray<number>,
  tasksPerLevel: number,
  onKind: (kind: ParallelKind) => void = () => undefined
) =>
  Effect.scoped(Effect.gen(function*() {
    const rt = yield* ContainerRuntime
    const direct = apiRunOnce(rt)
    const sandbox = (yield* Effect.acquireRelease(makeSandboxRun, (s) => s.cleanup)).once
    const endToEnd = Effect.promise(() => runEcho(session)).pipe(Effect.map((t) => t.totalMs))
    yield* direct
    yield* sandbox
    yield* endToEnd
    const results: Array<ParallelLevel> = []
    for (const n of levels) {
      const rounds = Math.max(2, Math.ceil(tasksPerLevel / n))
      const kinds = [direct, sandbox, endToEnd] as const
      const [d, s, e] = kinds.map(() => ({ wallMs: 0, latencies: [] as Array<number> }))
      for (let r = 0; r < rounds; r++) {
        for (const [k, kind] of kinds.entries()) {
          onKind(PARALLEL_KINDS[k]!)
          const b = yield* batch(n, kind)
          const into = [d, s, e][k]!
          into.wallMs += b.wallMs
          into.latencies.push(...b.latencies)
        }
      }
      const tps = (x: { wallMs: number; latencies: ReadonlyArray<number> }) => round2(x.latencies.length / (x.wallMs / 1000))
      results.push({
        concurrency: n,
        tasks: rounds * n,
        endToEnd: { tasksPerSecond: tps(e), latency: stats(e.latencies) },
        direct: { tasksPerSecond: tps(d), latency: stats(d.latencies) },
        directSandbox: { tasksPerSecond: tps(s), latency: stats(s.latencies) },
        ratio: round2(tps(e) / tps(d)),
        ratioToSandbox: round2(tps(e) / tps(s))
      })
    }
    return { levels: results, target: { ratioAtLeast: 0.9 } }
  }))

export type Parallel = Effect.Effect.Success<ReturnType<typeof measureParallel>>
