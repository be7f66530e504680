import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { fuzzService, startFuzzTargets, type FuzzTargets } from "../support/fuzzTargets.ts"

/**
 * The CI-sized run of `just fuzz` (scripts/fuzz.ts): every POST endpoint of the three real programs, a few hundred
 * generated requests each. No 5xx, no hang, 401 for a protected route without its credential, healthy afterwards,
 * and no `[object Object]` or request ERROR in the logs.
 */

const COUNT = Number(process.env.FUZZ_CI_COUNT ?? "150")
const SEED = Number(process.env.FUZZ_SEED ?? "20261202")

let targets: FuzzTargets

beforeAll(async () => {
  targets = await startFuzzTargets()
}, 180_000)

afterAll(async () => {
  await targets?.stop()
}, 60_000)

describe(`fuzz (${COUNT} requests per POST endpoint, seed ${SEED})`, () => {
  for (const name of ["control-plane", "user-gateway", "worker-api"]) {
    it(`${name}: no input gets a 5xx or a hang, and the service stays healthy`, async () => {
      const service = targets.services.find((s) => s.name === name)
      expect(service).toBeDefined()
      const outcome = await fuzzService(service!, COUNT, SEED)
      for (const report of outcome.reports) expect(report.failures, report.name).toEqual([])
      expect(outcome.reports.length).toBe(service!.endpoints.length)
      expect(outcome.healthy).toBe(true)
      expect(outcome.badLogLines).toEqual([])
    }, 300_000)
  }
})
