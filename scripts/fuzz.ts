/**
 * `just fuzz`: every POST endpoint of the control plane, the user gateway and the worker API gets FUZZ_COUNT
 * (default 10,000) generated requests from FUZZ_SEED (default: random, printed): random and mutated bodies, content
 * types, encodings, spellings of the route, with and without the credential. Fails on any 5xx, hang, answer other
 * than 401 to a protected route without its credential, unhealthy service afterwards, or forbidden log line.
 */
import { fuzzService, startFuzzTargets } from "../test/support/fuzzTargets.ts"

const count = Number(process.env.FUZZ_COUNT ?? "10000")
const seed = Number(process.env.FUZZ_SEED ?? String(Math.floor(Math.random() * 2 ** 31)))
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
  console.error("FUZZ_COUNT must be a positive integer and FUZZ_SEED an integer")
  process.exit(2)
}

console.log(`fuzz: ${count} requests per POST endpoint, seed ${seed} (FUZZ_SEED=${seed} repeats this run)`)
const targets = await startFuzzTargets()
let failed = false
try {
  for (const service of targets.services) {
    const started = Date.now()
    const outcome = await fuzzService(service, count, seed)
    for (const report of outcome.reports) {
      const statuses = Object.entries(report.statuses).sort().map(([s, n]) => `${s === "-1" ? "closed" : s}:${n}`).join(" ")
      console.log(`fuzz: ${service.name} ${report.name}: ${report.count} requests, seed ${report.seed}, ${report.failures.length} failures (${statuses})`)
      for (const failure of report.failures.slice(0, 5)) console.log(`  FAIL ${failure}`)
      if (report.failures.length > 0) failed = true
    }
    console.log(`fuzz: ${service.name}: healthy afterwards: ${outcome.healthy}; forbidden log lines: ${outcome.badLogLines.length}; ${((Date.now() - started) / 1000).toFixed(0)} s`)
    for (const line of outcome.badLogLines.slice(0, 5)) console.log(`  LOG ${line.slice(0, 400)}`)
    if (!outcome.healthy || outcome.badLogLines.length > 0) failed = true
  }
} finally {
  await targets.stop()
}
console.log(failed ? "fuzz: FAILED" : `fuzz: passed (seed ${seed})`)
process.exit(failed ? 1 : 0)
