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

export interface ParallelLevel {
  readonly concurrency: number
  readonly tasks: number
  readonly endToEnd: { readonly tasksPerSecond: number; readonly latency: Stats }
  readonly direct: { readonly tasksPerSecond: number; readonly latency: Stats }
  readonly ratio: number
}

const round2 = (n: number) => Math.round(n * 100) / 100

const batch = <E>(n: number, one: Effect.Effect<number, E>) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const latencies = yield* Effect.all(Array.from({ length: n }, () => one), { concurrency: "unbounded" })
    return { wallMs: performance.now() - t0, latencies }
  })

export const measureParallel = (session: Session, levels: ReadonlyArray<number>, tasksPerLevel: number) =>
  Effect.gen(function*() {
    const rt = yield* ContainerRuntime
    const direct = apiRunOnce(rt)
    const endToEnd = Effect.promise(() => runEcho(session)).pipe(Effect.map((t) => t.totalMs))
    yield* direct
    yield* endToEnd
    const results: Array<ParallelLevel> = []
    for (const n of levels) {
      const rounds = Math.max(2, Math.ceil(tasksPerLevel / n))
      const d = { wallMs: 0, latencies: [] as Array<number> }
      const e = { wallMs: 0, latencies: [] as Array<number> }
      for (let r = 0; r < rounds; r++) {
        const db = yield* batch(n, direct)
        d.wallMs += db.wallMs
        d.latencies.push(...db.latencies)
        const eb = yield* batch(n, endToEnd)
        e.wallMs += eb.wallMs
        e.latencies.push(...eb.latencies)
      }
      const tps = (x: { wallMs: number; latencies: ReadonlyArray<number> }) => round2(x.latencies.length / (x.wallMs / 1000))
      results.push({
        concurrency: n,
        tasks: rounds * n,
        endToEnd: { tasksPerSecond: tps(e), latency: stats(e.latencies) },
        direct: { tasksPerSecond: tps(d), latency: stats(d.latencies) },
        ratio: round2(tps(e) / tps(d))
      })
    }
    return { levels: results, target: { ratioAtLeast: 0.9 } }
  })

export type Parallel = Effect.Effect.Success<ReturnType<typeof measureParallel>>
