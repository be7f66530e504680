import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Option, type Redacted, Schema } from "effect"
import { dispatchableCondition, DispatchableFlag, type DispatchableNode } from "./Dispatchable.ts"
import { Readiness } from "./Readiness.ts"
import type { NodeConfigAck } from "../../schema/node.ts"
import { decryptOrLog } from "./WorkerTargets.ts"
import { WorkerTokens } from "./WorkerTokens.ts"

/** SQL for nodes, their capability snapshots and config acks (control-plane.md §4-§8). */

/** A `nodes` row as the pg driver returns it (uuid cast to text, timestamptz as Date). */
export const NodeRow = Schema.Struct({
  id: Schema.String,
  node_slug: Schema.String,
  status: Schema.String,
  capability_hash: Schema.NullOr(Schema.String),
  config_version: Schema.NullOr(Schema.String),
  issued_config_version: Schema.NullOr(Schema.String),
  issued_config_hash: Schema.NullOr(Schema.String),
  issued_inference: Schema.NullOr(Schema.Boolean),
  worker_api_target_url: Schema.NullOr(Schema.String),
  worker_api_bearer_token: Schema.NullOr(Schema.String),
  config_ack_at: Schema.NullOr(Schema.DateFromSelf),
  config_ack_status: Schema.NullOr(Schema.String),
  config_ack_error: Schema.NullOr(Schema.String),
  node_jwt_id: Schema.NullOr(Schema.String),
  last_seen_at: Schema.NullOr(Schema.DateFromSelf),
  last_capability_at: Schema.NullOr(Schema.DateFromSelf),
  created_at: Schema.DateFromSelf
}).annotations({ identifier: "NodeRow" })
export type NodeRow = typeof NodeRow.Type

const ListedNodeRow = Schema.Struct({ ...NodeRow.fields, dispatchable: DispatchableFlag })
  .annotations({ identifier: "ListedNodeRow" })

const RegisteredRow = Schema.Struct({ id: Schema.String, created: Schema.Boolean }).annotations({ identifier: "RegisteredRow" })

const IssuedConfigRow = Schema.Struct({
  issued_config_version: Schema.NullOr(Schema.String),
  issued_config_hash: Schema.NullOr(Schema.String)
}).annotations({ identifier: "IssuedConfigRow" })

const SettingRow = Schema.Struct({ key: Schema.String, value: Schema.Unknown }).annotations({ identifier: "SettingRow" })

const StoredTokenRow = Schema.Struct({ id: Schema.String, worker_api_bearer_token: Schema.String })
  .annotations({ identifier: "StoredTokenRow" })

/** What the dispatcher needs to call a node: its URL and its own bearer token (decrypted, Redacted). */
export interface DispatchTarget extends DispatchableNode {
  readonly worker_api_bearer_token: Redacted.Redacted<string>
}

export interface CapabilityUpdate {
  /** The report exactly as received. */
  readonly snapshot: unknown
  readonly hash: string
  readonly reportedAt: Date
  /** `worker_api.base_url` when reported; otherwise the stored URL is kept. */
  readonly workerApiUrl: string | undefined
}

export type AckOutcome = "recorded" | "conflict"

/** The node's first row insert or its re-registration; `created` tells 201 from 200. */
export interface Registered {
  readonly id: string
  readonly created: boolean
}

/** The `nodes` columns of NodeRow, on the table aliased `n`. */
const NODE_COLUMNS = "n.id::text AS id, n.node_slug, n.status, n.capability_hash, n.config_version, " +
  "n.issued_config_version, n.issued_config_hash, n.issued_inference, n.worker_api_target_url, " +
  "n.worker_api_bearer_token, n.config_ack_at, n.config_ack_status, n.config_ack_error, n.node_jwt_id, " +
  "n.last_seen_at, n.last_capability_at, n.created_at"

export class NodesRepo extends Effect.Service<NodesRepo>()("cynode/NodesRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tokens = yield* WorkerTokens
    const readiness = yield* Readiness
    const columns = sql.literal(NODE_COLUMNS)

    const nodeById = SqlSchema.findOne({
      Request: Schema.String,
      Result: NodeRow,
      execute: (id) => sql`SELECT ${columns} FROM nodes n WHERE n.id = ${id}`
    })

    const findById = (id: string) =>
      nodeById(id).pipe(
        Effect.orDie,
        Effect.withSpan("NodesRepo.findById")
      )

    const storeCapability = (nodeId: string, update: CapabilityUpdate) =>
      Effect.gen(function*() {
        yield* sql`
          INSERT INTO node_capabilities (node_id, reported_at, capability_snapshot)
          VALUES (${nodeId}, ${update.reportedAt}, ${JSON.stringify(update.snapshot)}::jsonb)
          ON CONFLICT (node_id) DO UPDATE
            SET reported_at = EXCLUDED.reported_at, capability_snapshot = EXCLUDED.capability_snapshot`
        yield* sql`
          UPDATE nodes SET capability_hash = ${update.hash}, last_capability_at = now(), last_seen_at = now(),
            worker_api_target_url = COALESCE(${update.workerApiUrl ?? null}, worker_api_target_url)
          WHERE id = ${nodeId}`
      }).pipe(Effect.orDie, Effect.withSpan("NodesRepo.storeCapability"))

    const upsertNode = SqlSchema.findOne({
      Request: Schema.Struct({ slug: Schema.String, url: Schema.NullOr(Schema.String), token: Schema.String }),
      Result: RegisteredRow,
      execute: (n) =>
        sql`
          INSERT INTO nodes (node_slug, status, worker_api_target_url, worker_api_bearer_token, last_seen_at)
          VALUES (${n.slug}, 'active', ${n.url}, ${n.token}, now())
          ON CONFLICT (node_slug) DO UPDATE SET
            status = 'active',
            worker_api_target_url = COALESCE(EXCLUDED.worker_api_target_url, nodes.worker_api_target_url),
            worker_api_bearer_token = COALESCE(NULLIF(nodes.worker_api_bearer_token, ''), EXCLUDED.worker_api_bearer_token),
            last_seen_at = now()
          RETURNING id::text AS id, (xmax = 0) AS created`
    })

    /**
     * Registration (§4) in one transaction: insert or re-activate the node, keep (or create) its worker token,
     * store the snapshot, then record the new JWT's id that `issueJwt` returns, revoking older tokens.
     */
    const register = <T extends { readonly jti: string }, E>(
      slug: string,
      update: CapabilityUpdate,
      issueJwt: (node: Registered) => Effect.Effect<T, E>
    ) =>
      Effect.gen(function*() {
        const encrypted = tokens.encrypt(yield* tokens.generate)
        const upserted = yield* upsertNode({ slug, url: update.workerApiUrl ?? null, token: encrypted }).pipe(Effect.orDie)
        if (Option.isNone(upserted)) return yield* Effect.dieMessage("node upsert returned no row")
        const row = upserted.value
        yield* storeCapability(row.id, update)
        const issued = yield* issueJwt(row)
        yield* sql`UPDATE nodes SET node_jwt_id = ${issued.jti} WHERE id = ${row.id}`.pipe(Effect.orDie)
        return { node: { id: row.id, created: row.created } satisfies Registered, issued }
      }).pipe(sql.withTransaction, Effect.catchTag("SqlError", Effect.die), Effect.withSpan("NodesRepo.register"))

    const snapshotOf = SqlSchema.findOne({
      Request: Schema.String,
      Result: Schema.Struct({ capability_snapshot: Schema.Unknown }),
      execute: (nodeId) => sql`SELECT capability_snapshot FROM node_capabilities WHERE node_id = ${nodeId}`
    })

    const latestSnapshot = (nodeId: string) =>
      snapshotOf(nodeId).pipe(
        Effect.map(Option.flatMap((row) => Option.fromNullable(row.capability_snapshot))),
        Effect.orDie,
        Effect.withSpan("NodesRepo.latestSnapshot")
      )

    /** `system_settings` values by key (jsonb, decoded by pg). */
    const settingRows = SqlSchema.findAll({
      Request: Schema.Array(Schema.String),
      Result: SettingRow,
      execute: (keys) => sql`SELECT key, value FROM system_settings WHERE key IN ${sql.in(keys)}`
    })

    const settings = (keys: ReadonlyArray<string>) =>
      settingRows(keys).pipe(
        Effect.map((rows) => new Map(rows.map((r) => [r.key, r.value] as const))),
        Effect.orDie,
        Effect.withSpan("NodesRepo.settings")
      )

    /** The config issued to a node, its row locked until the transaction ends. */
    const issuedConfigOf = SqlSchema.findOne({
      Request: Schema.String,
      Result: IssuedConfigRow,
      execute: (nodeId) =>
        sql`SELECT issued_config_version, issued_config_hash FROM nodes WHERE id = ${nodeId} FOR UPDATE`
    })

    /**
     * Returns the config version for a payload hash: the issued one when the hash is unchanged, else a new one
     * from `mint(last issued)`, stored with the hash and whether it enables inference (§6).
     */
    const issueConfig = (nodeId: string, hash: string, inference: boolean, mint: (last: string | null) => string) =>
      Effect.gen(function*() {
        const found = yield* issuedConfigOf(nodeId)
        if (Option.isNone(found)) return Option.none<string>()
        const node = found.value
        if (node.issued_config_version !== null && node.issued_config_hash === hash) {
          return Option.some(node.issued_config_version)
        }
        const version = mint(node.issued_config_version)
        yield* sql`
          UPDATE nodes SET issued_config_version = ${version}, issued_config_hash = ${hash},
            issued_inference = ${inference}
          WHERE id = ${nodeId}`
        return Option.some(version)
      }).pipe(sql.withTransaction, Effect.orDie, Effect.withSpan("NodesRepo.issueConfig"))

    /**
     * A node asks for its config once per run of its node manager: whatever it acknowledged before describes an
     * earlier run (another worker, maybe another token), so it is not dispatchable again until it acks this one.
     */
    const forgetAck = (nodeId: string) =>
      sql`UPDATE nodes SET config_ack_status = NULL, config_ack_at = NULL, config_ack_error = NULL WHERE id = ${nodeId}`
        .pipe(Effect.asVoid, Effect.orDie, Effect.withSpan("NodesRepo.forgetAck"))

    const swapToken = SqlSchema.findOne({
      Request: Schema.Struct({ nodeId: Schema.String, undecryptable: Schema.String, replacement: Schema.String }),
      Result: Schema.Struct({ worker_api_bearer_token: Schema.NullOr(Schema.String) }),
      execute: ({ nodeId, replacement, undecryptable }) =>
        sql`
          WITH swapped AS (
            UPDATE nodes SET worker_api_bearer_token = ${replacement}
            WHERE id = ${nodeId} AND worker_api_bearer_token = ${undecryptable}
            RETURNING worker_api_bearer_token)
          SELECT worker_api_bearer_token FROM swapped
          UNION ALL
          SELECT worker_api_bearer_token FROM nodes WHERE id = ${nodeId} AND NOT EXISTS (SELECT 1 FROM swapped)`
    })

    /**
     * Replaces a worker token the current key cannot decrypt (a rotated `WORKER_TOKEN_KEY` or `JWT_SECRET`). Only
     * when the stored value is still the undecryptable one: a concurrent replacement wins, and its token is returned.
     */
    const replaceWorkerToken = (nodeId: string, undecryptable: string, replacement: string) =>
      swapToken({ nodeId, undecryptable, replacement }).pipe(
        Effect.map(Option.flatMap((row) => Option.fromNullable(row.worker_api_bearer_token))),
        Effect.orDie,
        Effect.withSpan("NodesRepo.replaceWorkerToken")
      )

    /**
     * Records an ack in the history; only an ack for the version issued now updates the node (§7, DECISIONS.md
     * "Config acks"). The node row is locked so a concurrent config issue cannot slip between check and update.
     */
    const recordAck = (nodeId: string, ack: NodeConfigAck) =>
      Effect.gen(function*() {
        const node = Option.getOrUndefined(yield* issuedConfigOf(nodeId))
        const ackAt = ack.ack_at === undefined ? new Date() : new Date(ack.ack_at)
        yield* sql`
          INSERT INTO node_config_acks (node_id, config_version, status, ack_at, error_type, error_message,
            error_details, effective_config_hash, managed_services_status)
          VALUES (${nodeId}, ${ack.config_version}, ${ack.status}, ${ackAt}, ${ack.error?.type ?? null},
            ${ack.error?.message ?? null}, ${jsonOrNull(ack.error?.details)}::jsonb,
            ${ack.effective_config_hash ?? null}, ${jsonOrNull(ack.managed_services_status)}::jsonb)`
        if (node?.issued_config_version !== ack.config_version) return "conflict" as AckOutcome
        const ackError = ack.status === "failed" && ack.error !== undefined
          ? `${ack.error.type}: ${ack.error.message}`
          : null
        yield* sql`
          UPDATE nodes SET config_ack_status = ${ack.status}, config_ack_at = ${ackAt}, config_ack_error = ${ackError},
            config_version = CASE WHEN ${ack.status} = 'applied' THEN ${ack.config_version} ELSE config_version END,
            last_seen_at = now()
          WHERE id = ${nodeId}`
        return "recorded" as AckOutcome
      }).pipe(sql.withTransaction, Effect.orDie, Effect.withSpan("NodesRepo.recordAck"))

    /** Every node, for the operator listing, with whether it is dispatchable now. */
    const listNodes = SqlSchema.findAll({
      Request: Schema.Void,
      Result: ListedNodeRow,
      execute: () =>
        sql`SELECT ${columns}, (${dispatchableCondition(sql)}) AS dispatchable FROM nodes n ORDER BY n.node_slug`
    })(undefined).pipe(
      Effect.orDie,
      Effect.withSpan("NodesRepo.listNodes")
    )

    const storedTokens = SqlSchema.findAll({
      Request: Schema.Array(Schema.String),
      Result: StoredTokenRow,
      execute: (ids) => sql`SELECT id::text AS id, worker_api_bearer_token FROM nodes WHERE id IN ${sql.in(ids)}`
    })

    /** Dispatchable nodes with their decrypted worker tokens (for the dispatcher). */
    const dispatchTargets = Effect.gen(function*() {
      const nodes = yield* readiness.dispatchableNodes
      if (nodes.length === 0) return []
      const stored = yield* storedTokens(nodes.map((n) => n.id)).pipe(Effect.orDie)
      const byId = new Map(stored.map((r) => [r.id, r.worker_api_bearer_token] as const))
      const targets: Array<DispatchTarget> = []
      for (const node of nodes) {
        const token = yield* decryptOrLog(tokens, node.node_slug, byId.get(node.id) ?? "")
        if (Option.isSome(token)) targets.push({ ...node, worker_api_bearer_token: token.value })
      }
      return targets
    }).pipe(Effect.withSpan("NodesRepo.dispatchTargets"))

    return {
      findById,
      register,
      storeCapability,
      latestSnapshot,
      settings,
      issueConfig,
      forgetAck,
      replaceWorkerToken,
      recordAck,
      listNodes,
      dispatchTargets
    }
  })
}) {}

const jsonOrNull = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value))
