import { SqlClient, SqlSchema } from "@effect/sql"
import { Config, Context, Data, Effect, Layer, Option, Schema } from "effect"
import type { NodeView } from "../../schema/node.ts"
import { toTimestamp } from "../../schema/time.ts"
import { dispatchableCondition, DispatchableFlag, inferencePathCondition } from "./Dispatchable.ts"

/**
 * Operator control of nodes (docs/dispatch.md "Operator control"), shared SQL so the gateway's admin API and any other
 * program read and change nodes the same way. `drain`: no new jobs, running ones finish, then `drained` (at once
 * when nothing runs there; otherwise the control plane's liveness sweep moves it). `disable`: no new jobs, at once.
 * `enable`: dispatchable again. `remove`: forgets the node (only when nothing runs there); a node that still runs
 * comes back when it registers again.
 */

export class NodeBusy extends Data.TaggedError("NodeBusy")<{ readonly running: number }> {}

const Row = Schema.Struct({
  node_slug: Schema.String,
  status: Schema.String,
  admin_state: Schema.String,
  dispatchable: DispatchableFlag,
  last_seen_at: Schema.NullOr(Schema.DateFromSelf),
  lost_at: Schema.NullOr(Schema.DateFromSelf),
  running: Schema.Number,
  max_concurrency: Schema.NullOr(Schema.Number),
  inference: Schema.Boolean,
  /** The latest capability report (jsonb), or null before any. */
  snapshot: Schema.Unknown,
  worker_api_target_url: Schema.NullOr(Schema.String)
}).annotations({ identifier: "NodeAdminRow" })
type Row = typeof Row.Type

const RunningRow = Schema.Struct({ running: Schema.Number }).annotations({ identifier: "RunningRow" })

const get = (value: unknown, ...path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>((v, key) => (typeof v === "object" && v !== null ? (v as Record<string, unknown>)[key] : undefined), value)

const numberOrNull = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null)

export const toView = (row: Row, nodeMaxInflight: number): NodeView => {
  const limit = Math.min(row.max_concurrency ?? nodeMaxInflight, nodeMaxInflight)
  const labels = get(row.snapshot, "node", "labels")
  return {
    node_slug: row.node_slug,
    status: row.status,
    admin_state: row.admin_state,
    dispatchable: row.dispatchable,
    last_seen_at: row.last_seen_at === null ? null : toTimestamp(row.last_seen_at),
    lost_at: row.lost_at === null ? null : toTimestamp(row.lost_at),
    running_jobs: row.running,
    free_slots: row.dispatchable ? Math.max(0, limit - row.running) : 0,
    labels: Array.isArray(labels) ? labels.filter((l): l is string => typeof l === "string") : [],
    capabilities: {
      max_concurrency: row.max_concurrency,
      inference: row.inference,
      cpu_cores: numberOrNull(get(row.snapshot, "compute", "cpu_cores")),
      ram_mb: numberOrNull(get(row.snapshot, "compute", "ram_mb")),
      gpu: get(row.snapshot, "gpu", "present") === true
    },
    worker_api_target_url: row.worker_api_target_url
  }
}

export const makeNodeAdmin = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // The dispatcher's per-node ceiling, read under the same name, for `free_slots`.
  const nodeMaxInflight = yield* Config.integer("DISPATCH_NODE_MAX_INFLIGHT").pipe(Config.withDefault(4))

  const rows = SqlSchema.findAll({
    /** One node's slug, or null for every node. */
    Request: Schema.NullOr(Schema.String),
    Result: Row,
    execute: (slug) =>
      sql`
          SELECT n.node_slug, n.status, n.admin_state, (${dispatchableCondition(sql)}) AS dispatchable, n.last_seen_at,
            n.lost_at, COALESCE(r.running, 0) AS running, n.worker_api_target_url,
            CASE WHEN (c.capability_snapshot #>> '{sandbox,max_concurrency}') ~ '^[0-9]{1,6}$'
              THEN (c.capability_snapshot #>> '{sandbox,max_concurrency}')::int END AS max_concurrency,
            ${inferencePathCondition(sql)} AS inference, c.capability_snapshot AS snapshot
          FROM nodes n LEFT JOIN node_capabilities c ON c.node_id = n.id
          LEFT JOIN (
            SELECT node_id, count(*)::int AS running FROM jobs
            WHERE status IN ('running', 'canceled') AND ended_at IS NULL AND node_id IS NOT NULL GROUP BY node_id
          ) r ON r.node_id = n.id
          ${slug !== null ? sql`WHERE n.node_slug = ${slug}` : sql``}
          ORDER BY n.node_slug`
  })

  const select = (slug: Option.Option<string>) =>
    rows(Option.getOrNull(slug)).pipe(Effect.map((found) => found.map((row) => toView(row, nodeMaxInflight))))

  const list = select(Option.none()).pipe(Effect.orDie, Effect.withSpan("NodeAdmin.list"))

  const one = (slug: string) => select(Option.some(slug)).pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

  /** Sets the operator state; `none` when no such node. */
  const setState = (slug: string, action: "drain" | "disable" | "enable") =>
    Effect.gen(function*() {
      const changed = action === "drain"
        ? yield* sql`
          UPDATE nodes n SET admin_state = CASE
            WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.node_id = n.id AND j.status IN ('running', 'canceled')
              AND j.ended_at IS NULL) THEN 'draining' ELSE 'drained' END
          WHERE n.node_slug = ${slug} AND n.admin_state NOT IN ('draining', 'drained') RETURNING n.id`
        : yield* sql`
          UPDATE nodes SET admin_state = ${action === "disable" ? "disabled" : "enabled"}
          WHERE node_slug = ${slug} RETURNING id`
      const view = yield* one(slug)
      if (changed.length > 0) {
        yield* Effect.logInfo(`node ${action}`).pipe(Effect.annotateLogs({ node: slug }))
      }
      return view
    }).pipe(Effect.orDie, Effect.withSpan("NodeAdmin.setState"))

  const runningOn = SqlSchema.findOne({
    Request: Schema.String,
    Result: RunningRow,
    execute: (slug) =>
      sql`
        SELECT (SELECT count(*)::int FROM jobs j WHERE j.node_id = n.id AND j.status IN ('running', 'canceled')
          AND j.ended_at IS NULL) AS running
        FROM nodes n WHERE n.node_slug = ${slug} FOR UPDATE`
  })

  /** Deletes the node when nothing runs there; `false` when no such node. */
  const remove = (slug: string) =>
    Effect.gen(function*() {
      const row = yield* runningOn(slug)
      if (Option.isNone(row)) return false
      if (row.value.running > 0) return yield* new NodeBusy({ running: row.value.running })
      yield* sql`DELETE FROM nodes WHERE node_slug = ${slug}`
      yield* Effect.logInfo("node removed").pipe(Effect.annotateLogs({ node: slug }))
      return true
    }).pipe(sql.withTransaction, Effect.catchTags({ SqlError: Effect.die, ParseError: Effect.die }), Effect.withSpan("NodeAdmin.remove"))

  return { list, setState, remove }
})

export class NodeAdmin extends Context.Tag("cynode/NodeAdmin")<NodeAdmin, Effect.Effect.Success<typeof makeNodeAdmin>>() {
  static readonly Live = Layer.effect(NodeAdmin, makeNodeAdmin)
}
