import { Chunk, Effect, Option, Stream } from "effect"
import type { OutputLine } from "../../schema/worker.ts"
import type { OutputLog } from "./OutputLog.ts"

/**
 * A job's live output as NDJSON lines, from `after` on: what is there now, then each change as it comes, and
 * `{"end":true}` once the output is complete. An empty line every `keepAliveMs` of silence keeps the connection
 * (and any idle timeout on the way) from closing while a job is quiet.
 */

const encoder = new TextEncoder()
const line = (value: OutputLine) => encoder.encode(`${JSON.stringify(value)}\n`)
const KEEP_ALIVE = encoder.encode("\n")

/** True on the log's next change, false after `ms` without one. */
const changeOrTimeout = (log: OutputLog, ms: number) =>
  Effect.async<boolean>((resume) => {
    const timer = setTimeout(() => resume(Effect.succeed(false)), ms)
    const off = log.onChange(() => {
      clearTimeout(timer)
      resume(Effect.succeed(true))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      off()
    })
  })

export const followOutput = (log: OutputLog, after: number, keepAliveMs = 15_000): Stream.Stream<Uint8Array> =>
  Stream.unfoldChunkEffect({ after, done: false }, (state) =>
    Effect.gen(function*() {
      if (state.done) return Option.none()
      const chunks = log.since(state.after)
      if (chunks.length > 0) {
        const text = chunks.map((c) => JSON.stringify(c)).join("\n") + "\n"
        return Option.some([Chunk.of(encoder.encode(text)), { after: chunks[chunks.length - 1]!.seq, done: false }] as const)
      }
      if (log.ended) return Option.some([Chunk.of(line({ end: true })), { after: state.after, done: true }] as const)
      const changed = yield* changeOrTimeout(log, keepAliveMs)
      return Option.some([changed ? Chunk.empty<Uint8Array>() : Chunk.of(KEEP_ALIVE), state] as const)
    }))
