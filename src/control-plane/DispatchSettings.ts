import { Config, Context, Effect, Layer } from "effect"
import { goDuration } from "../../layers/Config.ts"
import { ControlPlaneConfig } from "./ControlPlaneConfig.ts"

/**
 * The dispatcher's settings (control-plane.md §2, §9). The sandbox image, inference model and job timeout ceiling
 * are the control plane's own settings (ControlPlaneConfig), so the config delivered to nodes and the jobs sent to
 * them can never disagree.
 */
export interface DispatchSettingsShape {
  readonly enabled: boolean
  /** Fallback sweep for missed notifications. */
  readonly pollIntervalMs: number
  /** Worker calls in flight per control-plane process. */
  readonly concurrency: number
  /** Ceiling on running jobs per node (the node's reported `sandbox.max_concurrency` may lower it). */
  readonly nodeMaxInflight: number
  /** 401 answers (and "never started" reconciliations) tolerated before the job fails. */
  readonly maxAttempts: number
  /** Added to the job's own timeout: image pull and start are outside the worker's timeout. */
  readonly deadlineGraceMs: number
  readonly maxJobTimeoutSeconds: number
  readonly leaseTtlMs: number
  readonly leaseRenewMs: number
  readonly sandboxImage: string
  readonly inferenceModel: string
}

export class DispatchSettings extends Context.Tag("cynode/DispatchSettings")<DispatchSettings, DispatchSettingsShape>() {
  static readonly Live = Layer.effect(
    DispatchSettings,
    Effect.gen(function*() {
      const cp = yield* ControlPlaneConfig
      const own = yield* dispatchConfig
      return {
        ...own,
        sandboxImage: cp.sandboxImage,
        inferenceModel: cp.inferenceModel,
        maxJobTimeoutSeconds: cp.maxJobTimeoutSeconds
      }
    })
  )
}

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

const duration = (name: string, fallbackMs: number, minMs: number) =>
  goDuration(name).pipe(
    Config.validate({ message: `${name} must be at least ${minMs / 1000}s`, validation: (ms) => ms >= minMs }),
    Config.withDefault(fallbackMs)
  )

const dispatchConfig = Config.all({
  enabled: Config.boolean("DISPATCHER_ENABLED").pipe(Config.withDefault(true)),
  pollIntervalMs: duration("DISPATCH_POLL_INTERVAL", 5_000, 100),
  concurrency: positiveInt("DISPATCH_CONCURRENCY", 16),
  nodeMaxInflight: positiveInt("DISPATCH_NODE_MAX_INFLIGHT", 4),
  maxAttempts: positiveInt("DISPATCH_MAX_ATTEMPTS", 3),
  deadlineGraceMs: duration("DISPATCH_DEADLINE_GRACE", 300_000, 30_000),
  leaseTtlMs: duration("DISPATCH_LEASE_TTL", 15_000, 1_000),
  leaseRenewMs: duration("DISPATCH_LEASE_RENEW", 5_000, 100)
}).pipe(
  Config.validate({
    message: "DISPATCH_LEASE_RENEW must be shorter than DISPATCH_LEASE_TTL",
    validation: (c) => c.leaseRenewMs < c.leaseTtlMs
  })
)

/** The job's deadline in ms after its start: its own timeout (capped) plus the grace (control-plane.md §9 step 5). */
export const jobDeadlineMs = (settings: DispatchSettingsShape, timeoutSeconds: number | undefined): number =>
  Math.min(timeoutSeconds ?? settings.maxJobTimeoutSeconds, settings.maxJobTimeoutSeconds) * 1000 +
  settings.deadlineGraceMs
