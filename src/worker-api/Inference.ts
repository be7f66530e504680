import { HttpClient, HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Data, Duration, Effect, Option, Schema, Stream } from "effect"
import type { InferenceJob } from "../../schema/job.ts"

/**
 * The inference-job client (worker-node.md §6, DECISIONS.md "Prompt tasks go through dispatch"): one
 * `POST <base>/api/generate` with `{model, prompt, stream:false}` to the node-local inference server, within the
 * inference timeout, through the process's HTTP client (layers/HttpClient.ts). Interrupting the effect aborts the
 * HTTP call (cancel).
 */

export class InferenceFailed extends Data.TaggedError("InferenceFailed")<{ readonly reason: string }> {}

/** Replies larger than this are refused rather than buffered without bound (the text is capped later anyway). */
const MAX_REPLY_BYTES = 32 * 1024 * 1024

/** What we read of Ollama's `/api/generate` reply (its other fields are ignored). */
const GenerateReply = Schema.parseJson(
  Schema.Struct({ response: Schema.optional(Schema.Unknown), error: Schema.optional(Schema.Unknown) })
)
const decodeReply = Schema.decodeUnknownOption(GenerateReply)

const readLimited = (response: HttpClientResponse.HttpClientResponse) =>
  response.stream.pipe(
    Stream.runFoldEffect({ chunks: [] as Array<Uint8Array>, size: 0 }, (acc, chunk) => {
      const size = acc.size + chunk.length
      if (size > MAX_REPLY_BYTES) return Effect.fail(new InferenceFailed({ reason: `reply exceeds ${MAX_REPLY_BYTES} bytes` }))
      acc.chunks.push(chunk)
      return Effect.succeed({ chunks: acc.chunks, size })
    }),
    Effect.map(({ chunks }) => Buffer.concat(chunks).toString("utf8"))
  )

const errorText = (error: unknown): string | undefined =>
  error === undefined ? undefined : typeof error === "string" ? error : JSON.stringify(error)

const describe = (error: HttpClientError.HttpClientError): string => {
  const cause = error.cause
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : ""
    return `${cause.message}${inner}`
  }
  return error.message
}

/** The model's `response` text, or why there is none. */
export const generate = (
  baseUrl: Option.Option<string>,
  job: InferenceJob,
  timeout: Duration.DurationInput
): Effect.Effect<string, InferenceFailed, HttpClient.HttpClient> =>
  Option.match(baseUrl, {
    onNone: () => Effect.fail(new InferenceFailed({ reason: "no inference server on this node" })),
    onSome: (base) =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const request = HttpClientRequest.post(`${base}/api/generate`).pipe(
          HttpClientRequest.bodyText(JSON.stringify({ model: job.model, prompt: job.prompt, stream: false }), "application/json")
        )
        const response = yield* client.execute(request)
        const text = yield* readLimited(response)
        const reply = decodeReply(text)
        if (Option.isNone(reply)) return yield* new InferenceFailed({ reason: `HTTP ${response.status} with a body that is not JSON` })
        const error = errorText(reply.value.error)
        if (response.status !== 200) {
          return yield* new InferenceFailed({ reason: `HTTP ${response.status}${error === undefined ? "" : `: ${error}`}` })
        }
        if (error !== undefined) return yield* new InferenceFailed({ reason: error })
        const answer = reply.value.response
        if (typeof answer !== "string") return yield* new InferenceFailed({ reason: "the reply carries no response text" })
        return answer
      }).pipe(
        Effect.catchIf(HttpClientError.isHttpClientError, (e) => Effect.fail(new InferenceFailed({ reason: describe(e) }))),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new InferenceFailed({ reason: `no answer within ${Duration.format(timeout)}` })
        })
      )
  })
