import { Effect, Either, Option, Ref } from "effect"
import { toTimestamp } from "../../schema/time.ts"
import type { WorkerStateShape } from "../worker-api/WorkerState.ts"
import { validateConfig, type AckErrorType, type NodeConfig } from "./NodeConfig.ts"
import type { OrchestratorClient } from "./OrchestratorClient.ts"

/**
 * A running node follows the config version the control plane issues to it (each heartbeat answers it). When it
 * differs from the one applied, the node fetches its config again and hands the Worker API the delivered bearer
 * token; the Worker API swaps its token check atomically, so requests of jobs already running are not disturbed.
 * This is how a worker token re-issued after a secret rotation on the control plane reaches a node that kept
 * running. Nothing else of a config can change under a running node: a version that changes more (the sandbox
 * allowlist, inference, constraints) is acked `failed` with `restart_required`, and a restart applies it.
 */

/** The `node_config_ack_v1` body. */
export const ackBody = (
  nodeSlug: string,
  configVersion: string,
  failure?: { readonly type: AckErrorType; readonly message: string }
) => ({
  version: 1,
  node_slug: nodeSlug,
  config_version: configVersion,
  ack_at: toTimestamp(new Date()),
  status: failure === undefined ? "applied" : "failed",
  ...(failure !== undefined ? { error: { type: failure.type, message: failure.message.slice(0, 1000) } } : {})
})

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** What a fresh config changes beyond its version and worker token (which a running node can take). */
export const changesBeyondToken = (running: NodeConfig, fresh: NodeConfig): ReadonlyArray<string> => [
  ...(sameJson(Option.getOrNull(running.allowedImages), Option.getOrNull(fresh.allowedImages)) ? [] : ["policy.sandbox.allowed_images"]),
  ...(sameJson(Option.getOrNull(running.inference), Option.getOrNull(fresh.inference)) ? [] : ["inference_backend"]),
  ...(sameJson(running.constraints, fresh.constraints) ? [] : ["constraints"])
]

export interface RefresherOptions {
  readonly client: Pick<OrchestratorClient, "fetchConfig" | "ack">
  readonly nodeSlug: string
  /** The config the startup applied. */
  readonly applied: NodeConfig
  readonly worker: Pick<WorkerStateShape, "setToken">
}

const describeError = (e: { readonly _tag: string; readonly operation?: string; readonly reason?: string; readonly detail?: string }) =>
  `${e._tag}${e.operation !== undefined ? ` (${e.operation})` : ""}: ${e.reason ?? e.detail ?? ""}`

export const makeConfigRefresher = (options: RefresherOptions) =>
  Effect.gen(function*() {
    const applied = yield* Ref.make(options.applied)
    // The last version fetched and answered (applied or refused): a refused one is not fetched again every beat.
    const settled = yield* Ref.make(options.applied.configVersion)
    const single = yield* Effect.makeSemaphore(1)

    const ack = (configVersion: string, failure?: { readonly type: AckErrorType; readonly message: string }) =>
      options.client.ack(ackBody(options.nodeSlug, configVersion, failure))

    const refresh = Effect.gen(function*() {
      const running = yield* Ref.get(applied)
      const raw = yield* options.client.fetchConfig
      const validated = validateConfig(raw, options.nodeSlug)
      if (Either.isLeft(validated)) {
        const rejected = validated.left
        if (Option.isSome(rejected.configVersion)) {
          yield* ack(rejected.configVersion.value, { type: rejected.type, message: rejected.reason })
          yield* Ref.set(settled, rejected.configVersion.value)
        }
        return yield* Effect.logWarning("refreshed config refused; the node keeps its running config").pipe(
          Effect.annotateLogs({ error_type: rejected.type, reason: rejected.reason })
        )
      }
      const fresh = validated.right
      if (fresh.configVersion === running.configVersion) return yield* Ref.set(settled, fresh.configVersion)
      // The delivered token is the one the control plane holds now; the previous one is of no use to it any more.
      yield* options.worker.setToken({
        token: fresh.token,
        ...(Option.isSome(fresh.tokenExpiresAt) ? { expiresAt: fresh.tokenExpiresAt.value } : {})
      })
      const changes = changesBeyondToken(running, fresh)
      if (changes.length > 0) {
        const message = `the config changes ${changes.join(", ")}, which a running node cannot apply; ` +
          "restart the node manager to apply it"
        yield* ack(fresh.configVersion, { type: "restart_required", message })
        yield* Ref.set(settled, fresh.configVersion)
        return yield* Effect.logWarning("config refreshed: new worker token in use, the rest needs a restart").pipe(
          Effect.annotateLogs({ config_version: fresh.configVersion, previous_config_version: running.configVersion, changes: changes.join(", ") })
        )
      }
      yield* ack(fresh.configVersion)
      yield* Ref.set(applied, fresh)
      yield* Ref.set(settled, fresh.configVersion)
      yield* Effect.logInfo("config refreshed: new worker token in use; ack sent").pipe(
        Effect.annotateLogs({ status: "applied", config_version: fresh.configVersion, previous_config_version: running.configVersion })
      )
    }).pipe(
      // The next heartbeat that names the version tries again.
      Effect.catchAll((e) => Effect.logWarning("config refresh failed; the next heartbeat retries", describeError(e)))
    )

    /**
     * A heartbeat answered `issued`: refresh in the background when it is new (the heartbeats go on meanwhile; a
     * refresh already running is not doubled). Returns the refresh fiber, if one was started.
     */
    const onIssued = (issued: string) =>
      Effect.gen(function*() {
        if (issued === (yield* Ref.get(settled))) return Option.none()
        const announced = Effect.logInfo("the control plane issued another config version; fetching it").pipe(
          Effect.annotateLogs({ config_version: issued, applied_config_version: (yield* Ref.get(applied)).configVersion })
        )
        return Option.some(yield* Effect.fork(single.withPermitsIfAvailable(1)(Effect.zipRight(announced, refresh))))
      })

    return {
      onIssued,
      /** The config applied now. */
      applied: Ref.get(applied)
    }
  })
