import { Context, Duration, Effect, Either, Layer, Ref } from "effect"
import { ContainerRuntime } from "../../layers/ContainerRuntime.ts"
import { makeBearerCheck, type AuthOutcome, type WorkerToken } from "./Auth.ts"
import { WorkerSettingsTag } from "./Settings.ts"
import { mountRootWritable } from "./Workspace.ts"

/**
 * The worker's lifecycle state: the bearer token (replaceable when the node refetches its config), whether the node
 * manager marked it ready (after the `applied` ack), and whether it is shutting down. `/readyz` adds the runtime
 * ping (cached for up to 5 s) and the mount root check (worker-node.md §6).
 */

/** Right: accepting (or ready); Left: the reason not. */
export type Acceptance = Either.Either<void, string>

export interface WorkerStateShape {
  readonly authorize: (authorization: string | undefined) => Effect.Effect<AuthOutcome>
  readonly setToken: (token: WorkerToken) => Effect.Effect<void>
  readonly markReady: Effect.Effect<void>
  readonly markNotReady: Effect.Effect<void>
  /**
   * A finished job's record could not be written (a full disk): no new job is accepted and `/readyz` says why, until
   * `markHealthy` (every record that was kept in memory has been written since).
   */
  readonly markUnhealthy: (reason: string) => Effect.Effect<void>
  readonly markHealthy: Effect.Effect<void>
  /** Shutting down: readiness goes to 503 and no job is accepted any more. */
  readonly close: Effect.Effect<void>
  /** Marked ready and not closing (the request path; no probes). */
  readonly acceptingJobs: Effect.Effect<Acceptance>
  /** The full readiness answer for `/readyz`. */
  readonly readiness: Effect.Effect<Acceptance>
}

export class WorkerState extends Context.Tag("cynode/worker-api/WorkerState")<WorkerState, WorkerStateShape>() {}

const PING_CACHE = Duration.seconds(5)

export const make = (initialToken: WorkerToken) =>
  Effect.gen(function*() {
    const settings = yield* WorkerSettingsTag
    const runtime = yield* ContainerRuntime
    const check = yield* Ref.make(makeBearerCheck(initialToken))
    const ready = yield* Ref.make(false)
    const closing = yield* Ref.make(false)
    const unhealthy = yield* Ref.make<string | undefined>(undefined)
    // The ping result is cached, so probes hammering /readyz never hammer the engine.
    const runtimeUp = yield* runtime.ping.pipe(Effect.isSuccess, Effect.cachedWithTTL(PING_CACHE))

    const acceptingJobs: Effect.Effect<Acceptance> = Effect.gen(function*() {
      if (yield* Ref.get(closing)) return Either.left("shutting down")
      if (!(yield* Ref.get(ready))) return Either.left("not ready: the node configuration is not applied yet")
      const broken = yield* Ref.get(unhealthy)
      if (broken !== undefined) return Either.left(`unhealthy: ${broken}`)
      return Either.void
    })

    const readiness: Effect.Effect<Acceptance> = Effect.gen(function*() {
      const accepting = yield* acceptingJobs
      if (Either.isLeft(accepting)) return accepting
      if (!(yield* runtimeUp)) return Either.left("container runtime unavailable")
      const writable = yield* Effect.isSuccess(mountRootWritable(settings.mountRoot))
      if (!writable) return Either.left("sandbox mount root is not writable")
      return Either.void
    })

    return {
      authorize: (authorization) => Effect.map(Ref.get(check), (f) => f(authorization, new Date())),
      setToken: (token) => Ref.set(check, makeBearerCheck(token)),
      markReady: Ref.set(ready, true),
      markNotReady: Ref.set(ready, false),
      markUnhealthy: (reason) => Ref.set(unhealthy, reason),
      markHealthy: Ref.set(unhealthy, undefined),
      close: Ref.set(closing, true),
      acceptingJobs,
      readiness
    } satisfies WorkerStateShape
  })

export const layer = (token: WorkerToken) => Layer.effect(WorkerState, make(token))
