import { SqlClient, SqlSchema } from "@effect/sql"
import { Config, Context, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { goDuration } from "../../layers/Config.ts"
import { DispatchWakeup } from "./DispatchWakeup.ts"
import { failure } from "../../schema/result.ts"
import { JobsRepo } from "./JobsRepo.ts"

/**
 * Node liveness (docs/dispatch.md "Liveness"). Nodes heartbeat every `NODE_HEARTBEAT_INTERVAL` (their own
 * `CYNODE_HEARTBEAT_INTERVAL_SECONDS`, the same 5 s by default); every control plane sweeps often: a node `active`
 * whose `last_seen_at` is older than `NODE_LIVENESS_TTL` (default 3 × the interval) becomes `lost` and gets no new
 * jobs; its next heartbeat makes it `active` again. Jobs still unfinished on a node lost for longer than
 * `NODE_LOST_GRACE` fail `node_lost`: a job that may have started is never sent again. A `draining` node with nothing
 * running becomes `drained`. The sweep is idempotent SQL, so any number of control planes may run it.
 */

export interface LivenessSettingsShape {
  readonly heartbeatIntervalMs: number
  readonly ttlMs: number
  readonly lostGraceMs: number
  /** How often the sweep runs: detection takes at most TTL + this. */
  readonly sweepMs: number
}

const livenessConfig = Effect.gen(function*() {
  const heartbeatIntervalMs = yield* goDuration("NODE_HEARTBEAT_INTERVAL").pipe(
    Config.validate({ message: "NODE_HEARTBEAT_INTERVAL must be at least 100ms", validation: (ms) => ms >= 100 }),
    Config.withDefault(5_000)
  )
  const ttlMs = yield* goDuration("NODE_LIVENESS_TTL").pipe(
    Config.validate({
      message: "NODE_LIVENESS_TTL must be longer than NODE_HEARTBEAT_INTERVAL",
      validation: (ms) => ms > heartbeatIntervalMs
    }),
    Config.withDefault(3 * heartbeatIntervalMs)
  )
  const lostGraceMs = yield* goDuration("NODE_LOST_GRACE").pipe(Config.withDefault(60_000))
  return { heartbeatIntervalMs, ttlMs, lostGraceMs, sweepMs: Math.min(1_000, Math.max(100, Math.floor(ttlMs / 4))) }
})

export class LivenessSettings extends Context.Tag("cynode/LivenessSettings")<LivenessSettings, LivenessSettingsShape>() {
  static readonly Live = Layer.effect(LivenessSettings, livenessConfig)
}

const secs = (ms: number) => ms / 1000

export const HeartbeatRow = Schema.Struct({
  /** The liveness status before this heartbeat. */
  was: Schema.String,
  issued_config_version: Schema.NullOr(Schema.String),
  worker_api_bearer_token: Schema.NullOr(Schema.String)
}).annotations({ identifier: "HeartbeatRow" })
export type HeartbeatRow = typeof HeartbeatRow.Type

export const makeLivenessRepo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  /** `active` nodes silent for longer than the TTL become `lost`. */
  const markLost = SqlSchema.findAll({
    Request: Schema.Number,
    Result: Schema.Struct({ node_slug: Schema.String, last_seen_at: Schema.NullOr(Schema.DateFromSelf) }),
    execute: (ttlMs) =>
      sql`
        UPDATE nodes SET status = 'lost', lost_at = now()
        WHERE status = 'active' AND (last_seen_at IS NULL OR last_seen_at < now() - make_interval(secs => ${secs(ttlMs)}))
        RETURNING node_slug, last_seen_at`
  })

  /**
   * A heartbeat: seen now; a lost node is active again. Returns the status it had, the config version issued to it
   * and its stored (encrypted) worker token, if the node exists: one statement, heartbeats stay light.
   */
  const heartbeat = SqlSchema.findOne({
    Request: Schema.String,
    Result: HeartbeatRow,
    execute: (nodeId) =>
      sql`
        WITH prev AS (SELECT id, status FROM nodes WHERE id = ${nodeId} FOR UPDATE)
        UPDATE nodes n SET last_seen_at = now(),
          status = CASE WHEN prev.status = 'lost' THEN 'active' ELSE n.status END,
          lost_at = CASE WHEN prev.status = 'lost' THEN NULL ELSE n.lost_at END
        FROM prev WHERE n.id = prev.id
        RETURNING prev.status AS was, n.issued_config_version, n.worker_api_bearer_token`
  })

  /** Unfinished jobs on nodes lost for longer than the grace, with their current lease (the finish is guarded by it). */
  const jobsOnLostNodes = SqlSchema.findAll({
    Request: Schema.Number,
    Result: Schema.Struct({ id: Schema.String, lease_id: Schema.NullOr(Schema.String), node_slug: Schema.String }),
    execute: (graceMs) =>
      sql`
        SELECT j.id::text AS id, j.lease_id::text AS lease_id, n.node_slug FROM jobs j JOIN nodes n ON n.id = j.node_id
        WHERE n.status = 'lost' AND n.lost_at < now() - make_interval(secs => ${secs(graceMs)})
          AND j.status IN ('running', 'canceled') AND j.ended_at IS NULL
        LIMIT 256`
  })

  /** `draining` nodes with nothing unfinished become `drained`. */
  const markDrained = SqlSchema.findAll({
    Request: Schema.Void,
    Result: Schema.Struct({ node_slug: Schema.String }),
    execute: () =>
      sql`
        UPDATE nodes n SET admin_state = 'drained'
        WHERE n.admin_state = 'draining' AND NOT EXISTS (
          SELECT 1 FROM jobs j WHERE j.node_id = n.id AND j.status IN ('running', 'canceled') AND j.ended_at IS NULL)
        RETURNING node_slug`
  })(undefined)

  return { markLost, heartbeat, jobsOnLostNodes, markDrained }
})

export class LivenessRepo extends Context.Tag("cynode/LivenessRepo")<LivenessRepo, Effect.Effect.Success<typeof makeLivenessRepo>>() {
  static readonly Live = Layer.effect(LivenessRepo, makeLivenessRepo)
}

/** One sweep: lost nodes, jobs past the grace, drained nodes. */
export const sweepOnce: Effect.Effect<{ readonly freed: number }, unknown, LivenessSettings | LivenessRepo | JobsRepo> = Effect.gen(function*() {
  const settings = yield* LivenessSettings
  const repo = yield* LivenessRepo
  const jobs = yield* JobsRepo
  const lost = yield* repo.markLost(settings.ttlMs)
  for (const node of lost) {
    yield* Effect.logWarning("node lost: no heartbeat within the TTL; it gets no new jobs").pipe(
      Effect.annotateLogs({
        node: node.node_slug,
        last_seen_at: node.last_seen_at?.toISOString() ?? "never",
        ttl_ms: settings.ttlMs
      })
    )
  }
  const stranded = yield* repo.jobsOnLostNodes(settings.lostGraceMs)
  let freed = 0
  for (const job of stranded) {
    const outcome = yield* jobs.finish(
      { id: job.id, leaseId: job.lease_id },
      failure(
        "node_lost",
        `node ${job.node_slug} was lost (no heartbeat) for longer than ${secs(settings.lostGraceMs)} s while running the job; ` +
          "it may have started there, so it is not run again"
      ),
      "failed"
    )
    if (outcome === "stored") {
      freed++
      yield* Effect.logWarning("job failed: its node was lost").pipe(Effect.annotateLogs({ job_id: job.id, node: job.node_slug }))
    }
  }
  const drained = yield* repo.markDrained
  for (const node of drained) yield* Effect.logInfo("node drained").pipe(Effect.annotateLogs("node", node.node_slug))
  return { freed }
}).pipe(Effect.withSpan("Liveness.sweep"))

/** The sweep as a background fiber of the control plane; a failed sweep is logged and the next one runs. */
export const LivenessSweeper = Layer.scopedDiscard(
  Effect.gen(function*() {
    const settings = yield* LivenessSettings
    const wakeup = yield* DispatchWakeup
    yield* sweepOnce.pipe(
      // Failed jobs free their node's slots.
      Effect.flatMap(({ freed }) => (freed > 0 ? wakeup.wake : Effect.void)),
      Effect.catchAllCause((cause) => Effect.logWarning("liveness sweep failed", cause)),
      Effect.repeat(Schedule.spaced(Duration.millis(settings.sweepMs))),
      Effect.forkScoped
    )
  })
)
