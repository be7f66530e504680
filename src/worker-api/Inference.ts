import { Data, Duration, Effect, Option } from "effect"
import type { InferenceJob } from "../../schema/job.ts"

/**
 * The inference-job client (worker-node.md §6, DECISIONS.md "Prompt tasks go through dispatch"): one
 * `POST <base>/api/generate` with `{model, prompt, stream:false}` to the node-local inference server, within the
 * inference timeout. Interrupting the effect aborts the HTTP call (cancel).
 */

export class InferenceFailed extends Data.TaggedError("InferenceFailed")<{ readonly reason: string }> {}

/** Replies larger than this are refused rather than buffered without bound (the text is capped later anyway). */
const MAX_REPLY_BYTES = 32 * 1024 * 1024

const readLimited = async (res: Response): Promise<string> => {
  const reader = res.body?.getReader()
  if (reader === undefined) return ""
  const chunks: Array<Uint8Array> = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > MAX_REPLY_BYTES) {
      await reader.cancel()
      throw new Error(`reply exceeds ${MAX_REPLY_BYTES} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString("utf8")
}

const errorField = (body: unknown): string | undefined =>
  typeof body === "object" && body !== null && "error" in body
    ? typeof body.error === "string" ? body.error : JSON.stringify(body.error)
    : undefined

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : ""
    return `${cause.message}${inner}`
  }
  return String(cause)
}

/** The model's `response` text, or why there is none. */
export const generate = (
  baseUrl: Option.Option<string>,
  job: InferenceJob,
  timeout: Duration.DurationInput
): Effect.Effect<string, InferenceFailed> =>
  Option.match(baseUrl, {
    onNone: () => Effect.fail(new InferenceFailed({ reason: "no inference server on this node" })),
    onSome: (base) =>
      Effect.tryPromise({
        try: async (signal) => {
          const res = await fetch(`${base}/api/generate`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: job.model, prompt: job.prompt, stream: false }),
            signal
          })
          const text = await readLimited(res)
          let body: unknown
          try {
            body = JSON.parse(text)
          } catch {
            throw new Error(`HTTP ${res.status} with a body that is not JSON`)
          }
          const error = errorField(body)
          if (res.status !== 200) throw new Error(`HTTP ${res.status}${error === undefined ? "" : `: ${error}`}`)
          if (error !== undefined) throw new Error(error)
          if (typeof body !== "object" || body === null || !("response" in body) || typeof body.response !== "string") {
            throw new Error("the reply carries no response text")
          }
          return body.response
        },
        catch: (cause) => new InferenceFailed({ reason: describe(cause) })
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new InferenceFailed({ reason: `no answer within ${Duration.format(timeout)}` })
        })
      )
  })
