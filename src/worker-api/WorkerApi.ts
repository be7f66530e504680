import { HttpApiBuilder } from "@effect/platform"
import { Effect, Layer } from "effect"
import { serveApi } from "../../layers/Http.ts"
import type { WorkerToken } from "./Auth.ts"
import { Jobs, JobsLive } from "./Jobs.ts"
import { WorkerApi } from "../../api/worker.ts"
import { workerRoutes } from "./WorkerRoutes.ts"
import { HealthLive, JobsHttpLive, WorkerAuthLive } from "./JobsHttp.ts"
import { WorkerSettingsTag, type WorkerSettings } from "./Settings.ts"
import * as WorkerStateModule from "./WorkerState.ts"
import { ensureMountRoot } from "./Workspace.ts"

/**
 * The Worker API as one Layer (worker-node.md §1, §6): the node manager builds it in-process with the token from the
 * delivered config (held as `Redacted`, never in env, argv or logs) and calls `WorkerState.markReady` after its
 * `applied` ack. Needs a ContainerRuntime. Startup ensures the mount root, reaps this node's leftover containers
 * and closes stale job records before it listens.
 */

export interface WorkerApiOptions {
  readonly token: WorkerToken
  readonly settings: WorkerSettings
}

export { WorkerState } from "./WorkerState.ts"

export const layer = (options: WorkerApiOptions) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const mountRoot = yield* ensureMountRoot(options.settings.mountRoot)
      const settings: WorkerSettings = { ...options.settings, mountRoot }
      const core = JobsLive.pipe(
        Layer.provideMerge(WorkerStateModule.layer(options.token)),
        Layer.provideMerge(Layer.succeed(WorkerSettingsTag, settings))
      )
      const http = serveApi(
        WorkerApi,
        HttpApiBuilder.api(WorkerApi).pipe(Layer.provide([HealthLive, JobsHttpLive]), Layer.provide(WorkerAuthLive)),
        settings.listen,
        { routes: workerRoutes(settings.maxRequestBytes) }
      )
      // Built last, so released first: running jobs end (and their requests are answered) before the server closes.
      const drainOnShutdown = Layer.scopedDiscard(
        Effect.flatMap(Jobs, (jobs) => Effect.addFinalizer(() => jobs.shutdown))
      )
      return drainOnShutdown.pipe(Layer.provideMerge(http), Layer.provideMerge(core))
    })
  )
