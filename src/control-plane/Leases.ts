import { type Context, Deferred, Effect, Option } from "effect"
import type { JobsRepo } from "./JobsRepo.ts"

/**
 * The leases this dispatcher holds (control-plane.md §9 step 3): renewed together in one statement every
 * `DISPATCH_LEASE_RENEW`. A lease missing from the renewal's answer was lost (another dispatcher reconciled the job):
 * its holder stops and writes nothing. A held job that turned `canceled` (seen by the renewal or a NOTIFY) tells its
 * holder to stop the run on the worker.
 */

export interface Lease {
  readonly jobId: string
  readonly leaseId: string
  /** Completed when the lease is gone. */
  readonly lost: Deferred.Deferred<void>
  /** Completed once when the job is seen `canceled`. */
  readonly canceled: Deferred.Deferred<void>
}

export interface Leases {
  readonly hold: (job: { readonly id: string; readonly leaseId: string; readonly status: string }) => Effect.Effect<Lease>
  readonly release: (jobId: string) => Effect.Effect<void>
  /** One renewal round for every held lease. */
  readonly renewAll: Effect.Effect<void, unknown>
  /** A NOTIFY named this job: if we hold it, look whether it was canceled. */
  readonly notified: (jobId: string) => Effect.Effect<void, unknown>
  readonly count: Effect.Effect<number>
}

export const makeLeases = (
  repo: Pick<Context.Tag.Service<typeof JobsRepo>, "renewLeases" | "statusOf">,
  leaseTtlMs: number
): Effect.Effect<Leases> =>
  Effect.sync(() => {
    const held = new Map<string, Lease>()

    const markCanceled = (lease: Lease) => Deferred.succeed(lease.canceled, undefined).pipe(Effect.asVoid)

    const hold: Leases["hold"] = (job) =>
      Effect.gen(function*() {
        const lease: Lease = {
          jobId: job.id,
          leaseId: job.leaseId,
          lost: yield* Deferred.make<void>(),
          canceled: yield* Deferred.make<void>()
        }
        held.set(job.id, lease)
        if (job.status === "canceled") yield* markCanceled(lease)
        return lease
      })

    const release: Leases["release"] = (jobId) => Effect.sync(() => void held.delete(jobId))

    const renewAll: Leases["renewAll"] = Effect.gen(function*() {
      if (held.size === 0) return
      const snapshot = [...held.values()]
      const statuses = yield* repo.renewLeases(snapshot.map((l) => ({ id: l.jobId, leaseId: l.leaseId })), leaseTtlMs)
      for (const lease of snapshot) {
        // Released while the renewal ran: nothing to say.
        if (held.get(lease.jobId) !== lease) continue
        const status = statuses.get(lease.jobId)
        if (status === undefined) {
          held.delete(lease.jobId)
          yield* Effect.logWarning("lease lost; the job belongs to another dispatcher now").pipe(
            Effect.annotateLogs("job_id", lease.jobId)
          )
          yield* Deferred.succeed(lease.lost, undefined)
        } else if (status === "canceled") {
          yield* markCanceled(lease)
        }
      }
    })

    const notified: Leases["notified"] = (jobId) =>
      Effect.gen(function*() {
        const lease = held.get(jobId)
        if (lease === undefined || (yield* Deferred.isDone(lease.canceled))) return
        const status = yield* repo.statusOf(jobId)
        if (Option.contains(status, "canceled")) yield* markCanceled(lease)
      })

    return { hold, release, renewAll, notified, count: Effect.sync(() => held.size) }
  })
