import type { SqlClient } from "@effect/sql"
import { Effect } from "effect"

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

export interface DispatchableNode {
  readonly id: string
  readonly node_slug: string
  readonly worker_api_target_url: string
  /** The issued config enabled inference, or the node reports a running existing inference service. */
  readonly inference_path: boolean
  /** `sandbox.max_concurrency` from the latest report, when reported. */
  readonly max_concurrency: number | null
}

/** The dispatchable nodes, ordered by slug. */
export const dispatchableNodes = (sql: SqlClient.SqlClient) =>
  sql<DispatchableNode>`
    SELECT n.id::text AS id, n.node_slug, n.worker_api_target_url,
      ${inferencePathCondition(sql)} AS inference_path,
      CASE WHEN jsonb_typeof(c.capability_snapshot #> '{sandbox,max_concurrency}') = 'number'
        THEN LEAST((c.capability_snapshot #>> '{sandbox,max_concurrency}')::numeric, 2147483647)::int
      END AS max_concurrency
    FROM nodes n LEFT JOIN node_capabilities c ON c.node_id = n.id
    WHERE ${dispatchableCondition(sql)}
    ORDER BY n.node_slug`.pipe(Effect.orDie, Effect.withSpan("Readiness.dispatchableNodes"))
