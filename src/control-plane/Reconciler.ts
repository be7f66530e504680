import { type Context, Deferred, Duration, Effect } from "effect"
import { jobDeadlineMs, type DispatchSettingsShape } from "./DispatchSettings.ts"
import { failure, type FailureResult } from "../../schema/result.ts"
import type { HeldJob, JobsRepo } from "./JobsRepo.ts"
import type { Lease } from "./Leases.ts"
import type { WorkerClientShape } from "./WorkerClient.ts"

/**
 * Reconciliation (control-plane.md §9, DECISIONS.md "Dispatch across restarts"): a job that may have started on its
 * node is never sent again; the node is asked what became of it. Finished ⇒ store the result; still running ⇒ keep
 * the lease and ask again every 2 s; unknown to the node ⇒ it never started, requeue; node unreachable ⇒ retry with
 * backoff until the job's own deadline, then `outcome_unknown`. The same path serves a dispatcher's own call that
 * ended in 409, 500 or a connection lost after sending, and jobs whose dispatcher died (lapsed leases).
 */

export interface ReconcileDeps {
  readonly repo: Context.Tag.Service<typeof JobsRepo>
  readonly client: WorkerClientShape
  readonly settings: DispatchSettingsShape
  /** Called after a requeue, with when the job becomes claimable again. */
  readonly onRequeued: (notBefore: Date | null) => Effect.Effect<void>
}

const POLL_RUNNING = Duration.seconds(2)
const MAX_BACKOFF_MS = 30_000

/**
 * Back to the queue, counted (`attempts+1`, `not_before` = now + 2^attempts s); at `DISPATCH_MAX_ATTEMPTS` the job
 * fails with `exhausted` instead.
 */
export const requeueCounted = (deps: ReconcileDeps, job: HeldJob, exhausted: (attempts: number) => FailureResult) =>
  Effect.gen(function*() {
    const attempts = job.attempts + 1
    if (attempts >= deps.settings.maxAttempts) {
      yield* deps.repo.finish(job, exhausted(attempts), "failed")
      return
    }
    const notBefore = new Date(Date.now() + 2 ** attempts * 1000)
    const outcome = yield* deps.repo.requeue(job, { counted: true, notBefore })
    if (outcome === "requeued") yield* deps.onRequeued(notBefore)
  })

/** Waits `delay`, or returns false at once when the lease is lost. */
const pause = (lease: Lease, delay: Duration.DurationInput) =>
  Effect.raceFirst(Effect.as(Effect.sleep(delay), true), Effect.as(Deferred.await(lease.lost), false))

export const reconcile = (deps: ReconcileDeps, job: HeldJob, lease: Lease) =>
  Effect.gen(function*() {
    const deadline = job.startedAt.getTime() + jobDeadlineMs(deps.settings, job.timeoutSeconds)
    const node = job.node
    if (node === undefined) {
      // The node row is gone: nobody can be asked.
      yield* deps.repo.finish(job, failure("outcome_unknown", "the job's node no longer exists; its outcome is unknown"), "failed")
      return
    }
    let backoffMs = 1_000
    while (true) {
      if (yield* Deferred.isDone(lease.lost)) return
      if (Date.now() > deadline) {
        yield* deps.repo.finish(
          job,
          failure("outcome_unknown", `node ${node.nodeSlug} could not tell what became of the job before its deadline`),
          "failed"
        )
        return
      }
      const answer = yield* deps.client.status(node, job.id, job.leaseSeq)
      switch (answer._tag) {
        case "Finished": {
          yield* deps.repo.finish(job, answer.raw, answer.response.status === "completed" ? "completed" : "failed")
          return
        }
        case "NotFound": {
          if (job.status === "canceled" || (yield* Deferred.isDone(lease.canceled))) {
            yield* deps.repo.endCanceled(job)
            return
          }
          yield* Effect.logInfo("the node does not know the job: it never started; requeueing").pipe(
            Effect.annotateLogs({ node: node.nodeSlug })
          )
          yield* requeueCounted(deps, job, (n) =>
            failure("not_started", `node ${node.nodeSlug} never started the job after ${n} attempts`))
          return
        }
        case "Running": {
          backoffMs = 1_000
          if (!(yield* pause(lease, POLL_RUNNING))) return
          break
        }
        case "Unreachable": {
          yield* Effect.logWarning("cannot ask the node about a job; retrying").pipe(
            Effect.annotateLogs({ job_id: job.id, node: node.nodeSlug, reason: answer.reason })
          )
          const wait = Math.max(0, Math.min(backoffMs, MAX_BACKOFF_MS, deadline - Date.now() + 1))
          backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS)
          if (!(yield* pause(lease, Duration.millis(wait)))) return
          break
        }
      }
    }
  }).pipe(Effect.annotateLogs({ job_id: job.id }), Effect.withSpan("Reconciler.reconcile"))
