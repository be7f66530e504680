import { AfterAll } from "@cucumber/cucumber"
import { ControlPlaneHarness } from "../../test/support/controlPlane.ts"

/**
 * The @security suite's control plane: the real program with tight edge limits, so a scenario can watch a slow
 * body, a surplus connection or an oversized head being cut off. The worker API and the user gateway are the
 * suites' shared programs (features/support/worker_api.ts, gateway.ts).
 */
export const EDGE_LIMITS = { readTimeout: "2s", maxConnections: 8, maxHeaderBytes: 4096 }

let running: Promise<ControlPlaneHarness> | undefined

export const edgeControlPlane = (): Promise<ControlPlaneHarness> =>
  running ??= ControlPlaneHarness.start({
    env: {
      READ_TIMEOUT: EDGE_LIMITS.readTimeout,
      MAX_CONNECTIONS: String(EDGE_LIMITS.maxConnections),
      MAX_HEADER_BYTES: String(EDGE_LIMITS.maxHeaderBytes)
    }
  })

AfterAll({ timeout: 60_000 }, async function() {
  if (running === undefined) return
  const harness = await running.catch(() => undefined)
  running = undefined
  await harness?.stop()
})
