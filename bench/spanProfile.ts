import { Layer, Tracer } from "effect"

/**
 * Where the dispatcher's time goes, from the spans it already opens (`JobsRepo.claim`, `sql.execute`, …): a tracer
 * that keeps, per span name, how many ended and their total and worst wall time. Concurrent spans overlap, so the
 * totals say how long each kind of step keeps a job waiting, not CPU.
 */

interface Tally {
  count: number
  totalNs: bigint
  maxNs: bigint
}

export const makeSpanProfile = () => {
  const tallies = new Map<string, Tally>()
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const attributes = new Map<string, unknown>()
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: Math.random().toString(16).slice(2),
        traceId: "profile",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes,
        links: [...links],
        sampled: true,
        kind,
        end: (endTime) => {
          const ns = endTime - startTime
          const t = tallies.get(name) ?? { count: 0, totalNs: 0n, maxNs: 0n }
          t.count++
          t.totalNs += ns
          if (ns > t.maxNs) t.maxNs = ns
          tallies.set(name, t)
        },
        attribute: (key, value) => void attributes.set(key, value),
        event: () => undefined,
        addLinks: () => undefined
      }
      return span
    },
    context: (f) => f()
  })
  const layer = Layer.setTracer(tracer)
  const reset = () => tallies.clear()
  /** Lines `name  count  mean ms  max ms  total s`, the largest total first. */
  const report = (top = 15): ReadonlyArray<string> =>
    [...tallies.entries()]
      .sort((a, b) => Number(b[1].totalNs - a[1].totalNs))
      .slice(0, top)
      .map(([name, t]) =>
        `${name.padEnd(32)} ${String(t.count).padStart(7)} × ${(Number(t.totalNs) / t.count / 1e6).toFixed(2).padStart(8)} ms mean` +
          ` ${(Number(t.maxNs) / 1e6).toFixed(1).padStart(8)} ms max ${(Number(t.totalNs) / 1e9).toFixed(2).padStart(8)} s total`
      )
  return { layer, reset, report }
}
