import { ConfigProvider, Effect } from "effect"
import { fromEnv, type WorkerSettings } from "../../src/worker-api/Settings.ts"

/** The worker's settings as a node with only `CYNODE_NODE_SLUG=node-01` set reads them (the documented defaults,
 * asserted in Settings.test.ts), with `patch` over them. */
export const workerSettings = (patch: Partial<WorkerSettings> = {}): WorkerSettings => ({
  ...Effect.runSync(Effect.withConfigProvider(fromEnv, ConfigProvider.fromMap(new Map([["CYNODE_NODE_SLUG", "node-01"]])))),
  ...patch
})
