import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * Cluster operation (docs/dispatch.md "Liveness", "Operator control", "Stale sends"):
 * - `nodes.status` gains `lost` (no heartbeat within the TTL); `lost_at` says since when.
 * - `nodes.admin_state` is the operator's word, apart from liveness: `enabled`, `draining` (no new jobs; becomes
 *   `drained` once nothing runs there), `disabled`.
 * - `jobs.lease_seq`: every lease (claim or takeover) gets the next number of one sequence, so a worker can tell an
 *   older lease from a newer one and refuse a stale send.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE nodes DROP CONSTRAINT nodes_status_check`
  yield* sql`
    ALTER TABLE nodes ADD CONSTRAINT nodes_status_check
      CHECK (status IN ('registered', 'active', 'lost', 'inactive', 'drained'))`
  yield* sql`ALTER TABLE nodes ADD COLUMN lost_at timestamptz`
  yield* sql`
    ALTER TABLE nodes ADD COLUMN admin_state text NOT NULL DEFAULT 'enabled'
      CONSTRAINT nodes_admin_state_check CHECK (admin_state IN ('enabled', 'draining', 'drained', 'disabled'))`
  yield* sql`CREATE SEQUENCE jobs_lease_seq`
  yield* sql`ALTER TABLE jobs ADD COLUMN lease_seq bigint`
})
