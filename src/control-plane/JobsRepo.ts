import { SqlClient, SqlSchema } from "@effect/sql"
import { Context, Effect, Layer, Option, Schema } from "effect"
import type { CompletedPayload } from "../../schema/job.ts"
import { failure, storableJson } from "../../schema/result.ts"
import { dispatchableCondition, inferencePathCondition } from "./Dispatchable.ts"
import {
  freeSlots,
  hasNeeds,
  isCooling,
  labelsOf,
  neverPlaceable,
  type NodeCandidate,
  type NodeNeeds,
  type PlacementNode,
  placeJobs,
  resultSummary,
  storedPayload,
  storedTimeoutSeconds
} from "./DispatchRules.ts"
import { makeWorkerTargets, type NodeTarget } from "./WorkerTargets.ts"

/**
 * The dispatcher's SQL (control-plane.md §9); its decisions are DispatchRules.ts. A job's lease alone says who owns
 * it: every write after the claim is guarded by `lease_id`, so a dispatcher that lost its lease writes nothing, and by
 * status, so `canceled` sticks. Lock order everywhere (here and the gateway's cancel): job rows in id order, then
 * their tasks; never a task first.
 */

/** A job this dispatcher holds the lease of. */
export interface HeldJob {
  readonly id: string
  readonly taskId: string
  readonly leaseId: string
  /** The lease's number (database-wide sequence): the worker refuses a send under an older one. */
  readonly leaseSeq: number
  readonly startedAt: Date
  readonly attempts: number
  /** A sandbox job's own timeout, for its deadline. */
  readonly timeoutSeconds: number | undefined
  /** Absent when the node row is gone (reconciliation only). */
  readonly node: NodeTarget | undefined
  /** `running`, or `canceled` for a lapsed job whose run must still be stopped (reconciliation only). */
  readonly status: "running" | "canceled"
}

/** A job just claimed for a node: what to send, and where. */
export interface ClaimedJob extends HeldJob {
  readonly payload: CompletedPayload
  readonly node: NodeTarget
}

export type FinishOutcome = "stored" | "lost"
export type RequeueOutcome = "requeued" | "ended" | "lost"

export interface ClaimOptions {
  /** At most this many jobs (the dispatcher's free call slots). */
  readonly limit: number
  readonly nodeMaxInflight: number
  readonly leaseTtlMs: number
  readonly sandboxImage: string
  readonly inferenceModel: string
  /** Nodes cooling down after a refused connection or 503, with the time the cool-down started. */
  readonly cooling: ReadonlyMap<string, { readonly until: number; readonly since: number }>
}

export interface ClaimResult {
  readonly claimed: ReadonlyArray<ClaimedJob>
  /** Jobs failed at claim time for an invalid payload. */
  readonly invalid: number
  /** Dispatchable nodes seen (cooling ones included), for "why is nothing dispatched" logs. */
  readonly nodes: number
}

// Rows as the pg driver returns them: uuid cast to text, int4 and float8 as numbers, timestamptz as Date, jsonb parsed.

const ClaimNodeRow = Schema.Struct({
  id: Schema.String,
  node_slug: Schema.String,
  url: Schema.String,
  /** Encrypted (WorkerTokens.ts). */
  token: Schema.String,
  config_ack_at: Schema.NullOr(Schema.DateFromSelf),
  inference_path: Schema.Boolean,
  labels: Schema.Unknown,
  max_concurrency: Schema.NullOr(Schema.Number),
  inflight: Schema.Number
}).annotations({ identifier: "ClaimNodeRow" })

const ClaimJobRow = Schema.Struct({
  id: Schema.String,
  task_id: Schema.String,
  payload: Schema.Unknown,
  attempts: Schema.Number
}).annotations({ identifier: "ClaimJobRow" })
type ClaimJobRow = typeof ClaimJobRow.Type

const StartedRow = Schema.Struct({
  id: Schema.String,
  lease_id: Schema.String,
  lease_seq: Schema.Number,
  started_at: Schema.DateFromSelf
}).annotations({ identifier: "StartedRow" })

const LiveNodeRow = Schema.Struct({
  node_slug: Schema.String,
  inference_path: Schema.Boolean,
  labels: Schema.Unknown
}).annotations({ identifier: "LiveNodeRow" })

const LapsedRow = Schema.Struct({
  id: Schema.String,
  task_id: Schema.String,
  status: Schema.Literal("running", "canceled"),
  payload: Schema.Unknown,
  attempts: Schema.Number,
  lease_id: Schema.String,
  lease_seq: Schema.Number,
  started_at: Schema.NullOr(Schema.DateFromSelf),
  node_id: Schema.NullOr(Schema.String),
  node_slug: Schema.NullOr(Schema.String),
  url: Schema.NullOr(Schema.String),
  token: Schema.NullOr(Schema.String)
}).annotations({ identifier: "LapsedRow" })

const IdRow = Schema.Struct({ id: Schema.String }).annotations({ identifier: "IdRow" })
const JobStatusRow = Schema.Struct({ id: Schema.String, status: Schema.String }).annotations({ identifier: "JobStatusRow" })
const WaitingRow = Schema.Struct({ waiting: Schema.Boolean }).annotations({ identifier: "WaitingRow" })
const OkRow = Schema.Struct({ ok: Schema.Boolean }).annotations({ identifier: "OkRow" })

/** A job and the lease it must still hold. */
const LeasedJob = Schema.Struct({ id: Schema.String, leaseId: Schema.String })

const seconds = (ms: number) => ms / 1000

/** The first key of the claim's advisory lock (the second is 0): one claim at a time per database. */
const CLAIM_LOCK_SPACE = 0x7a5d

/** Queued jobs looked at beyond the free slots in one claim. */
const PLACEMENT_LOOKAHEAD = 64

export const makeJobsRepo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const workerTargets = yield* makeWorkerTargets

  /**
   * Ends a job with `result` (step 6 rules) and gives its task the same terminal status unless already terminal, with
   * its summary: one statement, so one atomic write. A canceled job keeps `canceled`.
   */
  const finishStatement = SqlSchema.findAll({
    Request: Schema.Struct({
      jobId: Schema.String,
      leaseId: Schema.NullOr(Schema.String),
      result: Schema.Unknown,
      outcome: Schema.Literal("completed", "failed"),
      summary: Schema.String,
      canceledSummary: Schema.String
    }),
    Result: IdRow,
    execute: (r) =>
      sql`
        WITH job AS (
          UPDATE jobs SET result = ${storableJson(r.result)}::jsonb, ended_at = now(), lease_expires_at = NULL,
            status = CASE WHEN status = 'running' THEN ${r.outcome} ELSE status END
          WHERE id = ${r.jobId} AND lease_id IS NOT DISTINCT FROM ${r.leaseId}::uuid AND ended_at IS NULL
            AND status IN ('running', 'canceled')
          RETURNING task_id, status)
        UPDATE tasks t SET status = CASE WHEN t.closed THEN t.status ELSE job.status END, closed = true,
          metadata = COALESCE(t.metadata, '{}'::jsonb) || jsonb_build_object('result_summary',
            CASE WHEN job.status = 'canceled' THEN ${r.canceledSummary} ELSE ${r.summary} END)
        FROM job WHERE t.id = job.task_id
        RETURNING t.id::text AS id`
  })

  const finishInTx = (jobId: string, leaseId: string | null, result: unknown, outcome: "completed" | "failed") =>
    finishStatement({
      jobId,
      leaseId,
      result,
      outcome,
      summary: resultSummary(result, outcome),
      canceledSummary: resultSummary(result, "canceled")
    }).pipe(Effect.map((rows): FinishOutcome => (rows.length > 0 ? "stored" : "lost")))

  /** A job refused at the claim: it starts and fails at once, so it ends like any failed job. */
  const failAtClaim = (jobId: string, result: unknown) =>
    sql`UPDATE jobs SET status = 'running', started_at = now() WHERE id = ${jobId}`.pipe(
      Effect.zipRight(finishInTx(jobId, null, result, "failed"))
    )

  const claimableNodes = SqlSchema.findAll({
    Request: Schema.Void,
    Result: ClaimNodeRow,
    execute: () =>
      sql`
        SELECT n.id::text AS id, n.node_slug, n.worker_api_target_url AS url, n.worker_api_bearer_token AS token,
          n.config_ack_at, ${inferencePathCondition(sql)} AS inference_path, c.capability_snapshot #> '{node,labels}' AS labels,
          CASE WHEN (c.capability_snapshot #>> '{sandbox,max_concurrency}') ~ '^[0-9]{1,6}$'
            THEN (c.capability_snapshot #>> '{sandbox,max_concurrency}')::int END AS max_concurrency,
          COALESCE(k.n, 0) AS inflight
        FROM nodes n LEFT JOIN node_capabilities c ON c.node_id = n.id
          LEFT JOIN (
            SELECT node_id, count(*)::int AS n FROM jobs
            WHERE status IN ('running', 'canceled') AND ended_at IS NULL AND node_id IS NOT NULL
            GROUP BY node_id) k ON k.node_id = n.id
        WHERE ${dispatchableCondition(sql)}
        ORDER BY n.node_slug`
  })

  /**
   * The oldest claimable jobs, locked (SKIP LOCKED); inference jobs only when some node is an inference path. Ordered
   * by the table's own columns (not the text aliases) so that jobs_claim_idx serves it.
   */
  const claimableJobs = SqlSchema.findAll({
    Request: Schema.Struct({ inferenceOk: Schema.Boolean, limit: Schema.Number }),
    Result: ClaimJobRow,
    execute: ({ inferenceOk, limit }) =>
      sql`
        SELECT j.id::text AS id, j.task_id::text AS task_id, j.payload, j.attempts FROM jobs j
        WHERE j.status = 'queued' AND (j.not_before IS NULL OR j.not_before <= now())
          ${inferenceOk ? sql`` : sql`AND j.payload -> 'inference' IS NULL`}
        ORDER BY j.created_at, j.id
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED`
  })

  /** The placed jobs start (node, payload, a new lease) and their tasks become `running`, in one statement. */
  const startJobs = SqlSchema.findAll({
    /** JSON of `{ id, node_id, payload }` per job. */
    Request: Schema.Struct({ rows: Schema.String, leaseTtlMs: Schema.Number }),
    Result: StartedRow,
    execute: ({ leaseTtlMs, rows }) =>
      sql`
        WITH started AS (
          UPDATE jobs j SET status = 'running', node_id = c.node_id, payload = c.payload, started_at = now(),
            lease_id = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => ${seconds(leaseTtlMs)}),
            lease_seq = nextval('jobs_lease_seq'), not_before = NULL
          FROM jsonb_to_recordset(${rows}::jsonb) AS c(id uuid, node_id uuid, payload jsonb)
          WHERE j.id = c.id
          RETURNING j.id, j.task_id, j.lease_id, j.lease_seq, j.started_at),
        running AS (
          UPDATE tasks SET status = 'running' WHERE id IN (SELECT task_id FROM started) AND status = 'pending')
        SELECT id::text AS id, lease_id::text AS lease_id, lease_seq::float8 AS lease_seq, started_at FROM started`
  })

  /**
   * Step 2 in one transaction: take the claim lock, read the dispatchable nodes with what they run, take the oldest
   * claimable jobs with SKIP LOCKED, give each the least busy eligible node, and start its lease. Invalid payloads
   * fail here. Claims take turns on a transaction-scoped advisory lock rather than locking node rows, so heartbeats
   * (a row update each) never wait for a claim, and a claim reads a thousand nodes without writing to them.
   */
  const claim = (options: ClaimOptions) =>
    Effect.gen(function*() {
      const none: ClaimResult = { claimed: [], invalid: 0, nodes: 0 }
      if (options.limit <= 0) return none
      yield* sql`SELECT pg_advisory_xact_lock(${CLAIM_LOCK_SPACE}, 0)`
      // A statement of its own after the lock: it sees every claim committed before.
      const nodeRows = yield* claimableNodes(undefined)
      if (nodeRows.length === 0) return none
      const now = Date.now()
      const targets = new Map<string, NodeTarget>()
      const candidates: Array<NodeCandidate> = []
      for (const row of nodeRows) {
        if (isCooling(options.cooling.get(row.id), row.config_ack_at, now)) continue
        const free = freeSlots(row, options.nodeMaxInflight)
        if (free <= 0) continue
        const target = yield* workerTargets.resolve(row)
        if (Option.isNone(target)) continue
        targets.set(row.id, target.value)
        candidates.push({
          id: row.id,
          slug: row.node_slug,
          inferencePath: row.inference_path,
          labels: labelsOf(row.labels),
          free,
          inflight: row.inflight
        })
      }
      const capacity = candidates.reduce((sum, n) => sum + n.free, 0)
      if (capacity === 0) return { ...none, nodes: nodeRows.length }
      const inferenceOk = candidates.some((n) => n.inferencePath)
      // More than the free slots: jobs that wait for a particular node must not hold back those behind them.
      const jobs = yield* claimableJobs({ inferenceOk, limit: Math.min(options.limit, capacity) + PLACEMENT_LOOKAHEAD })
      let live: ReadonlyArray<PlacementNode> | undefined
      // No free node fits: a job with needs fails at once if no live node could ever take it; any other waits.
      const unsatisfiable = (needs: NodeNeeds) =>
        Effect.gen(function*() {
          if (!hasNeeds(needs)) return undefined
          live ??= yield* liveNodes
          const reason = neverPlaceable(needs, live)
          return reason === undefined ? undefined : failure("unsatisfiable", reason)
        })
      const assigned: Array<{ readonly job: ClaimJobRow; readonly payload: CompletedPayload; readonly node: NodeCandidate }> = []
      let invalid = 0
      for (const placement of placeJobs(jobs, candidates, Math.min(options.limit, capacity), options)) {
        if (placement._tag === "Placed") {
          assigned.push(placement)
          continue
        }
        const refusal = placement._tag === "Invalid"
          ? failure("invalid_payload", placement.reason)
          : yield* unsatisfiable(placement.needs)
        if (refusal === undefined) continue
        yield* failAtClaim(placement.job.id, refusal)
        invalid++
      }
      if (assigned.length === 0) return { claimed: [], invalid, nodes: nodeRows.length }
      const rows = JSON.stringify(assigned.map((a) => ({ id: a.job.id, node_id: a.node.id, payload: storedPayload(a.payload) })))
      const started = yield* startJobs({ rows, leaseTtlMs: options.leaseTtlMs })
      const byId = new Map(started.map((s) => [s.id, s] as const))
      const claimed = assigned.flatMap(({ job, node, payload }): Array<ClaimedJob> => {
        const s = byId.get(job.id)
        const target = targets.get(node.id)
        return s === undefined || target === undefined ? [] : [{
          id: job.id,
          taskId: job.task_id,
          leaseId: s.lease_id,
          leaseSeq: s.lease_seq,
          startedAt: s.started_at,
          attempts: job.attempts,
          timeoutSeconds: payload._tag === "sandbox" ? payload.sandbox.timeout_seconds : undefined,
          payload,
          node: target,
          status: "running"
        }]
      })
      return { claimed, invalid, nodes: nodeRows.length }
    }).pipe(sql.withTransaction, Effect.withSpan("JobsRepo.claim"))

  /** Every live node (heartbeats within the TTL), whatever its operator state: what a placement could ever use. */
  const liveNodes = SqlSchema.findAll({
    Request: Schema.Void,
    Result: LiveNodeRow,
    execute: () =>
      sql`
        SELECT n.node_slug, ${inferencePathCondition(sql)} AS inference_path, c.capability_snapshot #> '{node,labels}' AS labels
        FROM nodes n LEFT JOIN node_capabilities c ON c.node_id = n.id
        WHERE n.status = 'active' AND n.admin_state <> 'disabled'
        ORDER BY n.node_slug`
  })(undefined).pipe(
    Effect.map((rows) => rows.map((r): PlacementNode => ({ slug: r.node_slug, inferencePath: r.inference_path, labels: labelsOf(r.labels) })))
  )

  /** Whether any queued job could be claimed now if a node were free (for the "waiting" log line). */
  const hasClaimable = SqlSchema.single({
    Request: Schema.Void,
    Result: WaitingRow,
    execute: () =>
      sql`SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'queued' AND (not_before IS NULL OR not_before <= now())) AS waiting`
  })(undefined).pipe(Effect.map((row) => row.waiting))

  /** Step 6: store the result and settle the task in one transaction. */
  const finish = (job: { readonly id: string; readonly leaseId: string | null }, result: unknown, outcome: "completed" | "failed") =>
    finishInTx(job.id, job.leaseId, result, outcome).pipe(Effect.withSpan("JobsRepo.finish"))

  /**
   * Back to the queue (nothing ran): node and lease cleared, the task `pending` again. A job canceled meanwhile just
   * ends instead (nothing to stop).
   */
  const requeueStatement = SqlSchema.findOne({
    Request: Schema.Struct({
      job: LeasedJob,
      counted: Schema.Boolean,
      notBefore: Schema.NullOr(Schema.DateFromSelf)
    }),
    Result: Schema.Struct({ task_id: Schema.String }),
    execute: ({ counted, job, notBefore }) =>
      sql`
        UPDATE jobs SET status = 'queued', node_id = NULL, lease_id = NULL, lease_expires_at = NULL, started_at = NULL,
          attempts = attempts + ${counted ? 1 : 0}, not_before = ${notBefore}
        WHERE id = ${job.id} AND lease_id = ${job.leaseId} AND status = 'running' AND ended_at IS NULL
        RETURNING task_id::text AS task_id`
  })

  const requeue = (
    job: { readonly id: string; readonly leaseId: string },
    options: { readonly counted: boolean; readonly notBefore: Date | null }
  ) =>
    Effect.gen(function*() {
      const requeued = yield* requeueStatement({
        job: { id: job.id, leaseId: job.leaseId },
        counted: options.counted,
        notBefore: options.notBefore
      })
      if (Option.isSome(requeued)) {
        yield* sql`UPDATE tasks SET status = 'pending' WHERE id = ${requeued.value.task_id} AND status = 'running'`
        return "requeued" as RequeueOutcome
      }
      const ended = yield* endCanceledInTx(job)
      return ended ? "ended" as RequeueOutcome : "lost" as RequeueOutcome
    }).pipe(sql.withTransaction, Effect.withSpan("JobsRepo.requeue"))

  const endCanceledInTx = (job: { readonly id: string; readonly leaseId: string }) =>
    sql`
      UPDATE jobs SET ended_at = now(), lease_expires_at = NULL
      WHERE id = ${job.id} AND lease_id = ${job.leaseId} AND status = 'canceled' AND ended_at IS NULL
      RETURNING id`.pipe(Effect.map((rows) => rows.length > 0))

  /** A canceled job the node never ran (or already forgot): it simply ends. */
  const endCanceled = (job: { readonly id: string; readonly leaseId: string }) =>
    endCanceledInTx(job).pipe(Effect.withSpan("JobsRepo.endCanceled"))

  /**
   * Step 3: extends the leases still held, in one statement. Returns the status of each job whose lease is still
   * ours (`running` or `canceled`); a job missing from the answer has lost its lease.
   */
  const renewStatement = SqlSchema.findAll({
    Request: Schema.Struct({ held: Schema.Array(LeasedJob), leaseTtlMs: Schema.Number }),
    Result: JobStatusRow,
    execute: ({ held, leaseTtlMs }) =>
      sql`
        WITH mine AS (
          SELECT j.id FROM jobs j
          JOIN jsonb_to_recordset(${JSON.stringify(held.map((h) => ({ id: h.id, lease_id: h.leaseId })))}::jsonb)
            AS h(id uuid, lease_id uuid) ON j.id = h.id AND j.lease_id = h.lease_id
          WHERE j.status IN ('running', 'canceled') AND j.ended_at IS NULL
          ORDER BY j.id
          FOR UPDATE OF j)
        UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => ${seconds(leaseTtlMs)})
        FROM mine WHERE j.id = mine.id
        RETURNING j.id::text AS id, j.status`
  })

  const renewLeases = (held: ReadonlyArray<{ readonly id: string; readonly leaseId: string }>, leaseTtlMs: number) =>
    held.length === 0
      ? Effect.succeed(new Map<string, string>())
      : renewStatement({ held: held.map((h) => ({ id: h.id, leaseId: h.leaseId })), leaseTtlMs }).pipe(
        Effect.map((rows) => new Map(rows.map((r) => [r.id, r.status] as const))),
        Effect.withSpan("JobsRepo.renewLeases")
      )

  /** Just before a send: the lease is still ours, unexpired, and the job still `running`. */
  const leaseCurrentStatement = SqlSchema.single({
    Request: LeasedJob,
    Result: OkRow,
    execute: (job) =>
      sql`
        SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ${job.id} AND lease_id = ${job.leaseId} AND status = 'running'
          AND ended_at IS NULL AND lease_expires_at > now()) AS ok`
  })

  const leaseCurrent = (job: { readonly id: string; readonly leaseId: string }) =>
    leaseCurrentStatement({ id: job.id, leaseId: job.leaseId }).pipe(
      Effect.map((row) => row.ok),
      Effect.withSpan("JobsRepo.leaseCurrent")
    )

  const statusStatement = SqlSchema.findOne({
    Request: Schema.String,
    Result: Schema.Struct({ status: Schema.String }),
    execute: (id) => sql`SELECT status FROM jobs WHERE id = ${id}`
  })

  const statusOf = (jobId: string) => statusStatement(jobId).pipe(Effect.map(Option.map((row) => row.status)))

  const lapsedStatement = SqlSchema.findAll({
    Request: Schema.Struct({ limit: Schema.Number, leaseTtlMs: Schema.Number }),
    Result: LapsedRow,
    execute: ({ leaseTtlMs, limit }) =>
      sql`
        WITH lapsed AS (
          SELECT id FROM jobs
          WHERE status IN ('running', 'canceled') AND ended_at IS NULL AND lease_id IS NOT NULL
            AND lease_expires_at < now()
          ORDER BY lease_expires_at
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
        ), taken AS (
          UPDATE jobs j SET lease_id = gen_random_uuid(), lease_seq = nextval('jobs_lease_seq'),
            lease_expires_at = now() + make_interval(secs => ${seconds(leaseTtlMs)})
          FROM lapsed WHERE j.id = lapsed.id
          RETURNING j.id, j.task_id, j.status, j.payload, j.attempts, j.lease_id, j.lease_seq, j.started_at, j.node_id
        )
        SELECT t.id::text AS id, t.task_id::text AS task_id, t.status, t.payload, t.attempts, t.lease_id::text AS lease_id,
          t.lease_seq::float8 AS lease_seq, t.started_at, t.node_id::text AS node_id, n.node_slug, n.worker_api_target_url AS url,
          n.worker_api_bearer_token AS token
        FROM taken t LEFT JOIN nodes n ON n.id = t.node_id`
  })

  /**
   * Reconciliation's claim: jobs whose lease lapsed (their dispatcher died), `running` ones and `canceled` ones not
   * yet ended, taken over with a new lease (SKIP LOCKED: one dispatcher each). The node is read whatever its state.
   */
  const claimLapsed = (limit: number, leaseTtlMs: number) =>
    Effect.gen(function*() {
      const rows = yield* lapsedStatement({ limit, leaseTtlMs })
      const held: Array<HeldJob> = []
      for (const row of rows) {
        const node = row.node_id !== null && row.node_slug !== null && row.url !== null && row.token !== null
          ? Option.getOrUndefined(
            yield* workerTargets.resolve({ id: row.node_id, node_slug: row.node_slug, url: row.url, token: row.token })
          )
          : undefined
        held.push({
          id: row.id,
          taskId: row.task_id,
          leaseId: row.lease_id,
          leaseSeq: row.lease_seq,
          startedAt: row.started_at ?? new Date(),
          attempts: row.attempts,
          timeoutSeconds: storedTimeoutSeconds(row.payload),
          node,
          status: row.status
        })
      }
      return held
    }).pipe(Effect.withSpan("JobsRepo.claimLapsed"))

  return { claim, hasClaimable, finish, requeue, endCanceled, renewLeases, leaseCurrent, statusOf, claimLapsed }
})

export class JobsRepo extends Context.Tag("cynode/JobsRepo")<JobsRepo, Effect.Effect.Success<typeof makeJobsRepo>>() {
  static readonly Live = Layer.effect(JobsRepo, makeJobsRepo)
}
