import type * as SqlClient from "@effect/sql/SqlClient"
import type { Effect } from "effect"
import phase1Schema from "./0001_phase1_schema.ts"
import cluster from "./0004_cluster.ts"
import liveOutput from "./0005_live_output.ts"

/**
 * Every migration, forward-only, keyed `<number>_<name>` (the @effect/sql migrator's record loader).
 * Add new ones at the end with the next number; never edit one that has shipped.
 */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_phase1_schema": phase1Schema,
  "0004_cluster": cluster,
  "0005_live_output": liveOutput
}
