import { SqlClient, SqlSchema } from "@effect/sql"
import { Config, Context, Effect, Layer, ParseResult, Schema } from "effect"
import { migrationsApplied } from "../../layers/Database.ts"
import {
  dispatchableCondition,
  DispatchableFlag,
  type DispatchableNode,
  dispatchableNodes,
  inferencePathCondition
} from "./Dispatchable.ts"

/**
 * Readiness (control-plane.md §3; DECISIONS.md "Schema and readiness"), shared by the control plane's and the
 * gateway's `/readyz`: the database answers, migrations are applied, and a node is dispatchable (Dispatchable.ts).
 */

export interface ReadinessResult {
  readonly ready: boolean
  /** `ready`, or one actionable line such as `no inference path: node-01 config ack failed: inference_start_failed`. */
  readonly reason: string
}

const NodeStateRow = Schema.Struct({
  node_slug: Schema.String,
  status: Schema.String,
  admin_state: Schema.String,
  last_seen_at: Schema.NullOr(Schema.DateFromSelf),
  config_ack_status: Schema.NullOr(Schema.String),
  config_ack_error: Schema.NullOr(Schema.String),
  config_version: Schema.NullOr(Schema.String),
  issued_config_version: Schema.NullOr(Schema.String),
  has_target_url: Schema.Boolean,
  has_token: Schema.Boolean,
  dispatchable: DispatchableFlag,
  inference_path: Schema.Boolean
}).annotations({ identifier: "NodeStateRow" })
type NodeStateRow = typeof NodeStateRow.Type

/** Why one node is not dispatchable (or not an inference path), in words an operator can act on. */
export const explainNode = (n: NodeStateRow): string => {
  if (n.status === "lost") {
    return `${n.node_slug} is lost (no heartbeat since ${n.last_seen_at?.toISOString() ?? "it registered"})`
  }
  if (n.status !== "active") return `${n.node_slug} is ${n.status}`
  if (n.admin_state !== "enabled") return `${n.node_slug} is ${n.admin_state} by an operator`
  if (n.issued_config_version === null) return `${n.node_slug} has not fetched its config`
  if (n.config_ack_status === "failed") return `${n.node_slug} config ack failed: ${n.config_ack_error ?? "no error given"}`
  if (n.config_ack_status !== "applied" || n.config_version !== n.issued_config_version) {
    return `${n.node_slug} has not acknowledged config ${n.issued_config_version}`
  }
  if (!n.has_target_url) return `${n.node_slug} reported no worker_api.base_url`
  if (!n.has_token) return `${n.node_slug} has no worker token`
  return `${n.node_slug} has no inference backend`
}

export class Readiness extends Context.Tag("cynode/Readiness")<Readiness, {
  /** Dispatchable nodes (§8), ordered by slug. */
  readonly dispatchableNodes: Effect.Effect<ReadonlyArray<DispatchableNode>>
  /**
   * Database answers, migrations applied, ≥1 live dispatchable node that is an inference path (any live dispatchable
   * node with `READINESS_REQUIRE_INFERENCE=false`, for sandbox-only fleets). Never fails.
   */
  readonly check: Effect.Effect<ReadinessResult>
}>() {
  static readonly Live = Layer.effect(
    Readiness,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const requireInference = yield* Config.boolean("READINESS_REQUIRE_INFERENCE").pipe(Config.withDefault(true))

      const nodeStates = SqlSchema.findAll({
        Request: Schema.Void,
        Result: NodeStateRow,
        execute: () =>
          sql`
            SELECT n.node_slug, n.status, n.admin_state, n.last_seen_at, n.config_ack_status, n.config_ack_error, n.config_version,
              n.issued_config_version,
              COALESCE(n.worker_api_target_url, '') <> '' AS has_target_url,
              COALESCE(n.worker_api_bearer_token, '') <> '' AS has_token,
              (${dispatchableCondition(sql)}) AS dispatchable,
              ${inferencePathCondition(sql)} AS inference_path
            FROM nodes n LEFT JOIN node_capabilities c ON c.node_id = n.id
            ORDER BY n.node_slug`
      })(undefined)

      const check = Effect.gen(function*() {
        const ping = yield* Effect.either(sql`SELECT 1`.pipe(Effect.timeout("3 seconds")))
        if (ping._tag === "Left") return { ready: false, reason: "database unreachable" }
        const schema = yield* Effect.either(migrationsApplied.pipe(Effect.provideService(SqlClient.SqlClient, sql)))
        if (schema._tag === "Left" || !schema.right) {
          return { ready: false, reason: "database migrations not applied" }
        }
        const states = yield* Effect.either(nodeStates)
        if (states._tag === "Left") {
          if (!ParseResult.isParseError(states.left)) return { ready: false, reason: "database query failed" }
          yield* Effect.logError("node rows do not match their schema", states.left)
          return { ready: false, reason: "node rows do not decode (see this service's log)" }
        }
        if (states.right.some((n) => n.dispatchable && (n.inference_path || !requireInference))) {
          return { ready: true, reason: "ready" }
        }
        const what = requireInference ? "no inference path" : "no live dispatchable node"
        if (states.right.length === 0) return { ready: false, reason: `${what}: no node registered` }
        return { ready: false, reason: `${what}: ${states.right.map(explainNode).join("; ")}` }
      }).pipe(Effect.withSpan("Readiness.check"))

      return { dispatchableNodes: dispatchableNodes(sql), check }
    })
  )
}
