import type { CompletedPayload } from "../../schema/job.ts"

/** The worker request for a claimed job (worker-node.md §6): the job's ids and lease, and its one payload variant. */
export const runBody = (job: {
  readonly id: string
  readonly taskId: string
  readonly leaseId: string
  readonly leaseSeq: number
  readonly payload: CompletedPayload
}) => {
  const head = { version: 1, task_id: job.taskId, job_id: job.id, lease_id: job.leaseId, lease_seq: job.leaseSeq }
  return job.payload._tag === "inference"
    ? { ...head, inference: job.payload.inference }
    : { ...head, sandbox: job.payload.sandbox }
}
