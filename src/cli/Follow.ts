import type { HttpClient } from "@effect/platform"
import { Duration, Effect, Option, type Redacted, Schema, Stream } from "effect"
import { LogChunkData, LogEndData } from "../../schema/task.ts"
import { TaskExited, UnexpectedResponse, Unreachable, type UsageError } from "./CliError.ts"
import { taskRef } from "./Gateway.ts"
import { type HttpFailure, rawGet } from "./Http.ts"

/**
 * `cynode task logs -f`: reads the gateway's Server-Sent Events and writes each piece of output to this process's
 * stdout or stderr as it arrives. A connection that ends before `end` is resumed with `Last-Event-ID`, so nothing is
 * printed twice or lost. Ends with the task: exit code 0 when it completed with 0, else `TaskExited`.
 */

export interface SseEvent {
  readonly id: string | undefined
  readonly event: string
  readonly data: string
}

/** An incremental text/event-stream parser: feed it lines, get the events they complete. */
export const sseParser = () => {
  let id: string | undefined
  let event = ""
  let data: Array<string> = []
  return (line: string): Option.Option<SseEvent> => {
    if (line === "") {
      const done = data.length > 0 || id !== undefined ? Option.some({ id, event: event || "message", data: data.join("\n") }) : Option.none()
      id = undefined
      event = ""
      data = []
      return done
    }
    if (line.startsWith(":")) return Option.none()
    const colon = line.indexOf(":")
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "")
    if (field === "data") data.push(value)
    else if (field === "event") event = value
    else if (field === "id") id = value
    return Option.none()
  }
}

const decodeChunk = Schema.decodeUnknownOption(Schema.parseJson(LogChunkData))
const decodeEnd = Schema.decodeUnknownOption(Schema.parseJson(LogEndData))

/** Where a follow stands: kept by the caller, so that a retry after a token refresh resumes instead of repeating. */
export interface FollowState {
  lastId: string | undefined
}

export interface FollowOptions {
  readonly write: (stream: "stdout" | "stderr", text: string) => Effect.Effect<void>
  readonly state?: FollowState
  /** Only this stream (default both). */
  readonly stream?: "stdout" | "stderr" | "all"
  /** How many times a dropped connection is resumed before giving up. */
  readonly reconnects?: number
}

const RECONNECT_DELAY = Duration.seconds(1)

/** One connection: prints until `end` (returned) or the stream stops (none: reconnect). */
const connect = (baseUrl: string, token: Redacted.Redacted<string>, id: string, state: { lastId: string | undefined }, options: FollowOptions) =>
  Effect.gen(function*() {
    const url = `${baseUrl}/v1/tasks/${encodeURIComponent(id)}/logs`
    // An event stream: the typed client reads whole bodies, so this GET uses the platform client directly.
    const response = yield* rawGet(url, {
      token,
      urlParams: { follow: "true", stream: options.stream ?? "all" },
      headers: { accept: "text/event-stream", ...(state.lastId === undefined ? {} : { "last-event-id": state.lastId }) }
    })
    if (response.status !== 200) {
      return yield* new UnexpectedResponse({ url, status: response.status, reason: "expected an event stream" })
    }
    const parse = sseParser()
    let end: Option.Option<LogEndData> = Option.none()
    yield* response.stream.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEachWhile((line) =>
        Effect.gen(function*() {
          const event = parse(line)
          if (Option.isNone(event)) return true
          const e = event.value
          if (e.id !== undefined) state.lastId = e.id
          if (e.event === "stdout" || e.event === "stderr") {
            const chunk = decodeChunk(e.data)
            if (Option.isSome(chunk)) yield* options.write(e.event, chunk.value.text)
            return true
          }
          if (e.event === "end") {
            end = decodeEnd(e.data)
            return false
          }
          return true
        })
      ),
      // A connection that breaks mid-stream is resumed like one the server ended.
      Effect.catchAll(() => Effect.void)
    )
    return end
  }).pipe(Effect.scoped)

export const followTask = (
  baseUrl: string,
  token: Redacted.Redacted<string>,
  ref: string,
  options: FollowOptions
): Effect.Effect<LogEndData, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const id = yield* taskRef(ref)
    const state: FollowState = options.state ?? { lastId: undefined }
    const reconnects = options.reconnects ?? 30
    for (let attempt = 0; ; attempt++) {
      const end = yield* connect(baseUrl, token, id, state, options)
      if (Option.isSome(end)) return end.value
      if (attempt >= reconnects) {
        return yield* new Unreachable({ url: baseUrl, reason: "the output stream kept breaking before the task ended" })
      }
      yield* Effect.sleep(RECONNECT_DELAY)
    }
  })

/** The command's outcome: nothing for a task that completed with 0, else the task's own exit code. */
export const endOutcome = (task: string, end: LogEndData): Effect.Effect<void, TaskExited> =>
  end.status === "completed" && (end.exit_code === 0 || end.exit_code === null)
    ? Effect.void
    : Effect.fail(new TaskExited({ task, status: end.status, taskExitCode: end.exit_code }))
