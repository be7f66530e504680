import { type SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"

/**
 * The ONE definition of a dispatchable node (control-plane.md §8; DECISIONS.md "Schema and readiness"), used by the
 * dispatcher's claim, the node repository, readiness and the operator's node listing.
 *
 * Dispatchable: `status='active'` (alive: heartbeats within the TTL, see Liveness.ts) ∧ `admin_state='enabled'` (not
 * draining, drained or disabled) ∧ `config_ack_status='applied'` ∧ `config_version = issued_config_version` ∧
 * `worker_api_target_url <> ''` ∧ a worker token is set. An inference path is a dispatchable node whose issued
 * config enabled `inference_backend`, or whose latest report has `inference.existing_service` and `running`.
 */

/** SQL condition on the `nodes` table aliased `n`. */
export const dispatchableCondition = (sql: SqlClient.SqlClient) =>
  sql`n.status = 'active'
    AND n.admin_state = 'enabled'
    AND n.config_ack_status = 'applied'
    AND n.config_version IS NOT NULL
    AND n.config_version = n.issued_config_version
    AND COALESCE(n.worker_api_target_url, '') <> ''
    AND COALESCE(n.worker_api_bearer_token, '') <> ''`

/** SQL condition on `nodes` aliased `n` and `node_capabilities` aliased `c`. */
export const inferencePathCondition = (sql: SqlClient.SqlClient) =>
  sql`(COALESCE(n.issued_inference, false)
    OR COALESCE(c.capability_snapshot #> '{inference,existing_service}' = 'true'::jsonb
      AND c.capability_snapshot #> '{inference,running}' = 'true'::jsonb, false))`

/**
 * `(dispatchableCondition) AS dispatchable` read back: SQL's three-valued logic makes the condition NULL when a
 * column it compares is NULL (an ack forgotten, a config never issued), which means not dispatchable.
 */
export const DispatchableFlag = Schema.transform(Schema.NullOr(Schema.Boolean), Schema.Boolean, {
  strict: true,
  decode: (flag) => flag === true,
  encode: (flag) => flag
})

export const DispatchableNode = Schema.Struct({
  id: Schema.String,
  node_slug: Schema.String,
  worker_api_target_url: Schema.String,
  /** The issued config enabled inference, or the node reports a running existing inference service. */
  inference_path: Schema.Boolean,
  /** `sandbox.max_concurrency` from the latest report, when reported. */
  max_concurrency: Schema.NullOr(Schema.Number)
}).annotations({ identifier: "DispatchableNode" })
export type DispatchableNode = typeof DispatchableNode.Type

/** The dispatchable nodes, ordered by slug. */
export const dispatchableNodes = (sql: SqlClient.SqlClient) =>
  SqlSchema.findAll({
    Request: Schema.Void,
    Result: DispatchableNode,
    execute: () =>
      sql`
        SELECT n.id::text AS id, n.node_slug, n.worker_api_target_url,
          ${inferencePathCondition(sql)} AS inference_path,
          CASE WHEN jsonb_typeof(c.capability_snapshot #> '{sandbox,max_concurrency}') = 'number'
            THEN LEAST((c.capability_snapshot #>> '{sandbox,max_concurrency}')::numeric, 2147483647)::int
          END AS max_concurrency
        FROM nodes n LEFT JOIN node_capabilities c ON c.node_id = n.id
        WHERE ${dispatchableCondition(sql)}
        ORDER BY n.node_slug`
  })(undefined).pipe(Effect.orDie, Effect.withSpan("Readiness.dispatchableNodes"))
