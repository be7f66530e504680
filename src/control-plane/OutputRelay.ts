import { Chunk, Duration, Effect, Stream } from "effect"
import type { OutputChunkLine } from "../../schema/worker.ts"
import type { OutputJob, OutputRepo } from "./OutputRepo.ts"
import type { WorkerClientShape, WorkerTarget } from "./WorkerClient.ts"

/**
 * Carries a running job's live output from its node into `task_output` (docs/decisions.md "Live output"). The
 * control plane reads the node's output stream, the same direction as every other call it makes to a node, so a
 * node needs no new credential or route back. Each batch the node sends becomes one INSERT + NOTIFY. A broken
 * connection is resumed from the last stored sequence number; the relay ends at the node's end line or when the
 * dispatcher stops it once the job answered (the job's result fills in anything missed).
 */

const RETRY_AFTER = Duration.millis(500)
/** A ceiling per stream whatever a node sends: the node's own cap is the real bound. */
export const RELAY_CEILING_BYTES = 16 * 1024 * 1024

export const relayOutput = (client: WorkerClientShape, repo: OutputRepo, target: WorkerTarget, job: OutputJob) =>
  Effect.gen(function*() {
    const seen = { stdout: 0, stderr: 0 }
    /** Keeps chunks within the ceiling; counts UTF-16 length times 3 as a cheap upper bound of UTF-8 bytes. */
    const withinCeiling = (c: OutputChunkLine) => {
      seen[c.stream] += c.text.length * 3
      return seen[c.stream] <= RELAY_CEILING_BYTES * 3
    }
    // A fresh claim has stored nothing yet; a resume starts after what was stored.
    let resumed = false
    while (true) {
      const after = resumed ? yield* repo.lastSeq(job.id) : 0
      resumed = true
      const attempt = yield* client.output(target, job.id, after).pipe(
        Stream.filter((line): line is OutputChunkLine => "seq" in line),
        Stream.filter(withinCeiling),
        // Uninterruptible: when the dispatcher stops the relay, a batch in flight is committed before the job's result
        // completes the rows, never after it (which would store that text twice).
        Stream.runForEachChunk((chunk) => Effect.uninterruptible(repo.append(job, Chunk.toReadonlyArray(chunk)))),
        Effect.either
      )
      if (attempt._tag === "Right") return
      // 404 too is retried: the output request can arrive before the run request it races with.
      const failure = attempt.left
      yield* Effect.logDebug("live output stream interrupted; resuming").pipe(
        Effect.annotateLogs("reason", failure._tag === "OutputUnavailable" ? failure.reason : String(failure))
      )
      yield* Effect.sleep(RETRY_AFTER)
    }
  }).pipe(Effect.annotateLogs({ job_id: job.id, task_id: job.taskId }), Effect.withSpan("OutputRelay"))
