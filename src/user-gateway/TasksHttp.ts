import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Chunk, Duration, Effect, Either, Schema, Stream } from "effect"
import type { JobPayload } from "../../schema/job.ts"
import { BadRequest, Conflict, NotFound } from "../../schema/problem.ts"
import { LOG_EVENT_CONTENT_TYPE, LogsFollowHeaders, type CreateTaskRequest, type JobResultView, type TaskLogs, type TaskView } from "../../schema/task.ts"
import { toResultText } from "../../schema/result.ts"
import { toTimestamp } from "../../schema/time.ts"
import { CurrentUser, isAdmin } from "./Authentication.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"
import { TaskCompletions } from "./TaskCompletions.ts"
import { TaskOutput, type OutputEvent } from "./TaskOutput.ts"
import { ArtifactStore } from "../../layers/ArtifactStore.ts"
import { toTimestamp as artifactTime } from "../../schema/time.ts"
import { normalizeTaskName } from "./TaskNames.ts"
import { TasksRepo, toApiStatus, type JobRow, type TaskRow } from "./TasksRepo.ts"

/** Handlers for the tasks API (user-gateway.md §4–§5). */

const DEFAULT_PAGE = 50

export const taskView = (row: TaskRow): TaskView => {
  const attachments = row.metadata?.attachments ?? []
  return {
    id: row.id,
    task_id: row.id,
    status: toApiStatus(row.status),
    task_name: row.summary,
    prompt: row.prompt,
    summary: row.summary,
    created_at: toTimestamp(row.created_at),
    updated_at: toTimestamp(row.updated_at),
    ...(attachments.length > 0 ? { attachments } : {})
  }
}

/** `result` is the worker's response as JSON text inside a string; empty fields are omitted. */
export const jobResultView = (job: JobRow): JobResultView => ({
  id: job.id,
  status: job.status,
  ...(job.result !== null && job.result !== undefined ? { result: toResultText(job.result) } : {}),
  ...(job.started_at !== null ? { started_at: toTimestamp(job.started_at) } : {}),
  ...(job.ended_at !== null ? { ended_at: toTimestamp(job.ended_at) } : {})
})

const textField = (result: unknown, key: string): string => {
  if (typeof result !== "object" || result === null || !(key in result)) return ""
  const value: unknown = (result as Record<string, unknown>)[key]
  return typeof value === "string" ? value : ""
}

/** Logs are the jobs' captured output; a dispatch failure's `error` stands in for stderr. */
export const taskLogs = (taskId: string, jobs: ReadonlyArray<JobRow>, stream: "stdout" | "stderr" | "all"): TaskLogs => ({
  task_id: taskId,
  stdout: stream === "stderr" ? "" : jobs.map((j) => textField(j.result, "stdout")).join(""),
  stderr: stream === "stdout"
    ? ""
    : jobs.map((j) => textField(j.result, "stderr") || textField(j.result, "error")).join("")
})

const invalid = (path: string, message: string) =>
  Either.left(new BadRequest({ detail: `invalid request: ${path}: ${message}`, errors: [{ path, message }] }))

/** The checks across fields, then the job: prompt ⇒ inference job; script/commands ⇒ `sh -c` sandbox job. */
export const jobFor = (body: CreateTaskRequest): Either.Either<JobPayload, BadRequest> => {
  const mode = body.input_mode ?? "prompt"
  const placement = {
    ...(body.node_selector !== undefined && body.node_selector.length > 0 ? { node_selector: body.node_selector } : {}),
    ...(body.require_inference === true ? { inference: true } : {})
  }
  const placed = Object.keys(placement).length > 0 ? { placement } : {}
  if (mode === "prompt") {
    if (body.timeout_seconds !== undefined) {
      return invalid("timeout_seconds", "only script and commands tasks take a timeout")
    }
    if (body.files !== undefined && body.files.length > 0) {
      return invalid("files", "only script and commands tasks take files (they are written under /workspace)")
    }
    return Either.right({ inference: { prompt: body.prompt }, ...placed })
  }
  if (body.use_inference === true) {
    return invalid("use_inference", "inference inside a sandbox (script/commands) is Phase 1.5; use input_mode prompt")
  }
  return Either.right({
    command: ["sh", "-c", body.prompt],
    ...(body.timeout_seconds !== undefined ? { timeout_seconds: body.timeout_seconds } : {}),
    ...placed,
    ...(body.files !== undefined && body.files.length > 0 ? { files: body.files } : {})
  })
}

const notFound = (id: string) => new NotFound({ detail: `no task ${id}` })

/** `{id}` as a visible task: a UUID the caller owns (or any, for an admin), else the caller's own task name. */
const visibleTask = (id: string) =>
  Effect.gen(function*() {
    const user = yield* CurrentUser
    const tasks = yield* TasksRepo
    const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)
      ? yield* tasks.findById(id.toLowerCase())
      : undefined
    if (byId !== undefined && (byId.created_by === user.id || isAdmin(user))) return byId
    const byName = yield* tasks.findOwnByName(user.id, id)
    return byName ?? (yield* Effect.fail(notFound(id)))
  })

export const TasksHttpLive = HttpApiBuilder.group(GatewayApi, "tasks", (handlers) =>
  handlers
    .handle("create", ({ payload }) =>
      Effect.gen(function*() {
        const user = yield* CurrentUser
        const job = yield* jobFor(payload)
        const row = yield* (yield* TasksRepo).create({
          userId: user.id,
          prompt: payload.prompt,
          name: payload.task_name === undefined ? undefined : normalizeTaskName(payload.task_name),
          projectId: payload.project_id,
          metadata: {
            input_mode: payload.input_mode ?? "prompt",
            ...(payload.attachments !== undefined && payload.attachments.length > 0 ? { attachments: payload.attachments } : {})
          },
          payload: job
        })
        yield* Effect.logInfo("task created").pipe(Effect.annotateLogs({ task_id: row.id, user_id: user.id }))
        return taskView(row)
      }))
    .handle("list", ({ urlParams }) =>
      Effect.gen(function*() {
        const user = yield* CurrentUser
        const limit = urlParams.limit ?? DEFAULT_PAGE
        const offset = urlParams.cursor !== undefined && urlParams.cursor !== ""
          ? Number(urlParams.cursor)
          : urlParams.offset ?? 0
        const page = yield* (yield* TasksRepo).listOwn(user.id, urlParams.status, limit, offset)
        const next = offset + limit
        return {
          tasks: page.tasks.map(taskView),
          ...(page.more ? { next_offset: next } : {}),
          next_cursor: page.more ? String(next) : ""
        }
      }))
    .handle("get", ({ path }) => Effect.map(visibleTask(path.id), taskView))
    .handle("result", ({ path, urlParams }) =>
      Effect.gen(function*() {
        const tasks = yield* TasksRepo
        let task = yield* visibleTask(path.id)
        if (urlParams.wait !== undefined && urlParams.wait > 0 && !task.closed) {
          const isDone = Effect.map(tasks.findById(task.id), (row) => row?.closed ?? true)
          yield* (yield* TaskCompletions).await(task.id, isDone, Duration.seconds(urlParams.wait))
          task = (yield* tasks.findById(task.id)) ?? task
        }
        const jobs = yield* tasks.jobsOf(task.id)
        return { task_id: task.id, status: toApiStatus(task.status), jobs: jobs.map(jobResultView) }
      }))
    .handle("cancel", ({ path }) =>
      Effect.gen(function*() {
        const task = yield* visibleTask(path.id)
        yield* (yield* TasksRepo).cancel(task.id).pipe(
          Effect.catchTag("TaskAlreadyClosed", (closed) =>
            Effect.fail(new Conflict({ detail: `task ${task.id} is already ${closed.status}` })))
        )
        yield* Effect.logInfo("task canceled").pipe(Effect.annotateLogs("task_id", task.id))
        return { task_id: task.id, canceled: true as const }
      }))
    .handle("logs", ({ path, request, urlParams }) =>
      Effect.gen(function*() {
        const task = yield* visibleTask(path.id)
        if (urlParams.follow === true) {
          const headers = yield* decodeFollowHeaders(request.headers).pipe(
            Effect.mapError(() =>
              new BadRequest({
                detail: "invalid request: Last-Event-ID must be a non-negative integer (the id of the last event seen)",
                errors: [{ path: "last-event-id", message: "must be a non-negative integer" }]
              })
            )
          )
          const events = (yield* TaskOutput).follow(task.id, headers["last-event-id"] ?? 0)
          return followResponse(events, urlParams.stream ?? "all")
        }
        const jobs = yield* (yield* TasksRepo).jobsOf(task.id)
        return taskLogs(task.id, jobs, urlParams.stream ?? "all")
      }))
    .handle("artifacts", ({ path }) =>
      Effect.gen(function*() {
        const task = yield* visibleTask(path.id)
        const tasks = yield* TasksRepo
        const rows = yield* tasks.artifactsOf(task.id)
        const jobs = yield* tasks.jobsOf(task.id)
        return {
          task_id: task.id,
          artifacts: rows.map((r) => ({
            path: r.path,
            size_bytes: Number(r.size_bytes),
            content_type: r.content_type,
            sha256: r.sha256,
            created_at: artifactTime(r.created_at)
          })),
          refused: jobs.flatMap((j) => refusedOf(j.result))
        }
      }))
    .handle("artifact", ({ path }) =>
      Effect.gen(function*() {
        const task = yield* visibleTask(path.id)
        const missing = new NotFound({ detail: `task ${path.id} has no artifact ${path["*"]}` })
        const row = yield* (yield* TasksRepo).artifactOf(task.id, path["*"])
        if (row === undefined) return yield* Effect.fail(missing)
        const bytes = yield* (yield* ArtifactStore).get(row.storage_key).pipe(Effect.orDie)
        if (bytes._tag === "None") return yield* Effect.fail(missing)
        // Always a download: an HTML or SVG artifact must never run on the gateway's origin.
        return HttpServerResponse.uint8Array(bytes.value, {
          contentType: row.content_type,
          headers: {
            "content-disposition": `attachment; filename="${(path["*"].split("/").pop() ?? "artifact").replace(/"/g, "")}"`,
            "x-content-type-options": "nosniff",
            "cache-control": "private, no-store"
          }
        })
      })))

/** The node's refusals (symlinks, caps) from a job's stored result. */
const refusedOf = (result: unknown): ReadonlyArray<{ readonly path: string; readonly reason: string }> => {
  const artifacts = typeof result === "object" && result !== null && "artifacts" in result ? (result as { artifacts: unknown }).artifacts : undefined
  const refused = typeof artifacts === "object" && artifacts !== null && "refused" in artifacts ? (artifacts as { refused: unknown }).refused : undefined
  return Array.isArray(refused)
    ? refused.filter((r): r is { path: string; reason: string } => typeof r?.path === "string" && typeof r?.reason === "string")
    : []
}

const decodeFollowHeaders = Schema.decodeUnknown(LogsFollowHeaders)

const encoder = new TextEncoder()

/** One Server-Sent Event; the data is one line of JSON, so no text can break the framing. */
export const sseEvent = (event: OutputEvent, stream: "stdout" | "stderr" | "all"): string => {
  switch (event._tag) {
    case "Output":
      // A filtered-out event still moves the resume point: its id is sent as an event without data (ignored by readers).
      return stream === "all" || stream === event.stream
        ? `id: ${event.id}\nevent: ${event.stream}\ndata: ${JSON.stringify({ text: event.text })}\n\n`
        : `id: ${event.id}\n\n`
    case "End":
      return `event: end\ndata: ${JSON.stringify(event.end)}\n\n`
    case "KeepAlive":
      return ": keep-alive\n\n"
  }
}

const followResponse = (events: Stream.Stream<OutputEvent, unknown>, stream: "stdout" | "stderr" | "all") =>
  HttpServerResponse.stream(
    Stream.concat(
      Stream.make(": following\nretry: 1000\n\n"),
      // Rows read together are written together: one write per batch, not per event.
      events.pipe(Stream.mapChunks((chunk) => Chunk.of(Chunk.toReadonlyArray(chunk).map((e) => sseEvent(e, stream)).join(""))))
    ).pipe(
      Stream.filter((text) => text !== ""),
      Stream.map((text) => encoder.encode(text)),
      Stream.tapErrorCause((cause) => Effect.logWarning("following a task's output failed", cause)),
      // The client sees the stream end without `end`, and reconnects with Last-Event-ID.
      Stream.catchAllCause(() => Stream.empty)
    ),
    { contentType: LOG_EVENT_CONTENT_TYPE, headers: { "cache-control": "no-store", "x-accel-buffering": "no" } }
  )
