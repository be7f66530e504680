import { Duration, Effect, Option, Ref, Schedule } from "effect"
import type { ContainerRuntimeShape } from "../../layers/ContainerRuntime.ts"
import type { InferenceObservation } from "./Capabilities.ts"
import { monitorInference, type InferenceHandle } from "./Inference.ts"

/**
 * Capability reports on `node_report_url` (worker-node.md §4): one right after the `applied` ack, then every
 * `CYNODE_CAPABILITY_REPORT_INTERVAL_SECONDS`. Each tick first re-probes the inference service (§5 "Monitoring"),
 * so `inference.running` is what the node sees now. A failed report is logged; the next tick tries again.
 */

export interface ReporterOptions {
  readonly intervalSeconds: number
  readonly runtime: ContainerRuntimeShape
  readonly inference: Option.Option<InferenceHandle>
  readonly observation: Ref.Ref<InferenceObservation>
  readonly orchestratorReachable: Ref.Ref<boolean>
  readonly measure: Effect.Effect<unknown>
  readonly send: (report: unknown) => Effect.Effect<void, { readonly _tag: string }>
}

export const reportOnce = (options: ReporterOptions) =>
  Effect.gen(function*() {
    if (Option.isSome(options.inference)) {
      const handle = options.inference.value
      const seen = yield* monitorInference(options.runtime, handle)
      yield* Ref.set(options.observation, {
        existingService: handle.existingService,
        running: seen.running,
        availableModels: seen.models
      })
    }
    const report = yield* options.measure
    const sent = yield* options.send(report).pipe(Effect.either)
    yield* Ref.set(options.orchestratorReachable, sent._tag === "Right")
    if (sent._tag === "Left") {
      yield* Effect.logWarning("capability report failed; the next tick retries", sent.left)
    } else {
      yield* Effect.logDebug("capability report sent")
    }
  })

/** The loop after the first report (forked into the caller's scope, so shutdown interrupts it). */
export const reportLoop = (options: ReporterOptions) =>
  reportOnce(options).pipe(
    Effect.delay(Duration.seconds(options.intervalSeconds)),
    Effect.repeat(Schedule.forever),
    Effect.forkScoped,
    Effect.asVoid
  )

/**
 * Liveness heartbeats (docs/dispatch.md "Liveness"), forked into the caller's scope. A failure is logged once per
 * change (not every tick while the control plane is away), and the next tick tries again. The config version a
 * beat's answer names goes to `onIssued`, which must not block the beats.
 */
export const heartbeatLoop = (
  intervalSeconds: number,
  beat: Effect.Effect<Option.Option<string>, { readonly reason: string }>,
  onIssued: (configVersion: string) => Effect.Effect<unknown> = () => Effect.void
) =>
  Effect.gen(function*() {
    let failing = false
    yield* beat.pipe(
      Effect.matchEffect({
        onFailure: (e) =>
          failing ? Effect.void : Effect.sync(() => (failing = true)).pipe(
            Effect.zipRight(Effect.logWarning("heartbeat failed; retrying every interval").pipe(Effect.annotateLogs("reason", e.reason)))
          ),
        onSuccess: (issued) =>
          Effect.zipRight(
            failing ? Effect.sync(() => (failing = false)).pipe(Effect.zipRight(Effect.logInfo("heartbeat accepted again"))) : Effect.void,
            Option.match(issued, { onNone: () => Effect.void, onSome: onIssued })
          )
      }),
      Effect.repeat(Schedule.spaced(Duration.millis(Math.round(intervalSeconds * 1000)))),
      Effect.forkScoped
    )
  })
