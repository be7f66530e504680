import { Schema } from "effect"

/** RFC 3339 timestamp in UTC with a `Z` suffix, optionally with fractional seconds. */
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/

export const Timestamp = Schema.String.pipe(
  Schema.filter((s) =>
    RFC3339_UTC.test(s) && !Number.isNaN(Date.parse(s)) ? true : "must be an RFC 3339 UTC timestamp like 2026-02-19T12:00:00Z"
  ),
  Schema.annotations({
    identifier: "Timestamp",
    arbitrary: () => (fc) =>
      fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true })
        .map((d) => d.toISOString())
  })
)
export type Timestamp = typeof Timestamp.Type

/** Whole-second RFC 3339 UTC rendering, the format the gateway and control plane emit. */
export const toTimestamp = (d: Date): Timestamp => d.toISOString().replace(/\.\d{3}Z$/, "Z")

/** Millisecond RFC 3339 UTC rendering, used for job start/end where sub-second matters. */
export const toPreciseTimestamp = (d: Date): Timestamp => d.toISOString()

/** Go-style durations (`90m`, `30s`, `24h`, `1h30m`), as the upstream environment uses them. */
export const parseGoDuration = (s: string): number | undefined => {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g
  if (!/^(\d+(?:\.\d+)?(ms|h|m|s))+$/.test(s)) return undefined
  let ms = 0
  for (const m of s.matchAll(re)) {
    const n = Number(m[1])
    ms += m[2] === "h" ? n * 3_600_000 : m[2] === "m" ? n * 60_000 : m[2] === "s" ? n * 1000 : n
  }
  return ms
}
