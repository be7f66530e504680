import { makeParser } from "@effect/experimental/Sse"
import { HttpClientRequest } from "@effect/platform"
import { Effect, Option, Schedule, Schema, Stream } from "effect"
import type { Identifier } from "../../schema/ids.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"
import { authedClient, baseUrl } from "./api.ts"

/**
 * Live output: `GET /v1/tasks/{id}/logs?follow=true` read as Server-Sent Events through the signed-in HTTP client
 * (same bearer, same refresh), with the path taken from the gateway's contract and each event's data decoded with
 * the contract's schemas. A dropped connection resumes after the last event seen (`Last-Event-ID`). A gateway that
 * answers the plain JSON logs instead (no streaming) is reported as `unsupported`, and the page polls.
 */

export type OutputStream = "stdout" | "stderr"

export interface FollowHandlers {
  readonly onChunk: (stream: OutputStream, text: string) => void
  readonly onEnd: (end: { readonly status: string; readonly exit_code: number | null }) => void
  readonly onUnsupported: () => void
}

const ChunkData = Schema.parseJson(Schema.Struct({ text: Schema.String }))
const EndData = Schema.parseJson(Schema.Struct({ status: Schema.String, exit_code: Schema.NullOr(Schema.Number) }))
const decodeChunk = Schema.decodeUnknownOption(ChunkData)
const decodeEnd = Schema.decodeUnknownOption(EndData)

const logsPath = (id: Identifier) =>
  GatewayApi.groups.tasks.endpoints.logs.path.replace(":id", encodeURIComponent(id))

class StreamDropped extends Error {}

export const followOutput = (id: Identifier, handlers: FollowHandlers): Effect.Effect<void, unknown> => {
  let lastId: string | undefined
  let ended = false
  let unsupported = false
  const parser = makeParser((event) => {
    if (event._tag !== "Event") return
    if (event.id !== undefined && event.id !== "") lastId = event.id
    if (event.event === "stdout" || event.event === "stderr") {
      Option.map(decodeChunk(event.data), (chunk) => handlers.onChunk(event.event === "stderr" ? "stderr" : "stdout", chunk.text))
    } else if (event.event === "end") {
      ended = true
      Option.map(decodeEnd(event.data), handlers.onEnd)
    }
  })

  const once = Effect.gen(function*() {
    parser.reset()
    let request = HttpClientRequest.get(`${baseUrl}${logsPath(id)}`).pipe(
      HttpClientRequest.setUrlParam("follow", "true"),
      HttpClientRequest.setHeader("accept", "text/event-stream")
    )
    if (lastId !== undefined) request = HttpClientRequest.setHeader(request, "last-event-id", lastId)
    const response = yield* authedClient.execute(request)
    if (!(response.headers["content-type"] ?? "").startsWith("text/event-stream")) {
      unsupported = true
      return handlers.onUnsupported()
    }
    yield* response.stream.pipe(
      Stream.decodeText(),
      Stream.runForEach((text) => Effect.sync(() => void parser.feed(text)))
    )
    if (!ended) return yield* Effect.fail(new StreamDropped("the output stream closed before the task ended"))
  })

  return once.pipe(
    Effect.retry({
      while: (error) => !unsupported && !ended && (error instanceof StreamDropped || isNetworkError(error)),
      schedule: Schedule.spaced("1 second")
    }),
    Effect.scoped
  )
}

const isNetworkError = (error: unknown) =>
  typeof error === "object" && error !== null && "_tag" in error && (error._tag === "RequestError" || error._tag === "ResponseError")
