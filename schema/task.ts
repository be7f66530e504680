import { Schema } from "effect"
import { Identifier, SafeString, Uuid, utf8Length } from "./ids.ts"
import { JobStatus, MAX_PROMPT_BYTES, NodeLabel } from "./job.ts"
import { Timestamp } from "./time.ts"
import { strictBody } from "./auth.ts"
import { InputFiles } from "./files.ts"

/** Wire shapes of the tasks API (user-gateway.md §4). */

/** API statuses; the database stores `pending` for `queued`. The last four are terminal. */
export const TaskStatus = Schema.Literal("queued", "running", "completed", "failed", "canceled", "superseded")
export type TaskStatus = typeof TaskStatus.Type

export const InputMode = Schema.Literal("prompt", "script", "commands").annotations({
  message: () => ({ message: "expected prompt|script|commands", override: true })
})
export type InputMode = typeof InputMode.Type

export const MAX_TASK_TIMEOUT_SECONDS = 10_800

/** Optional request fields are absent or valid, never `undefined` (so a bad value gets one clear error). */
const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })

const Prompt = SafeString.pipe(
  Schema.filter((s) => (s.trim() === "" ? "must not be empty" : true)),
  Schema.filter((s) => (utf8Length(s) > MAX_PROMPT_BYTES ? `must be at most ${MAX_PROMPT_BYTES} bytes` : true))
)

/** `use_sba` and `image` are unknown fields on purpose (Phase 1.7; the tasks API never names an image). */
export const CreateTaskRequest = Schema.Struct({
  prompt: Prompt,
  input_mode: optional(InputMode),
  use_inference: optional(Schema.Boolean),
  timeout_seconds: optional(Schema.Int.pipe(Schema.between(1, MAX_TASK_TIMEOUT_SECONDS))),
  task_name: optional(SafeString.pipe(Schema.maxLength(1024))),
  project_id: optional(Uuid),
  attachments: optional(
    Schema.Array(SafeString.pipe(Schema.minLength(1), Schema.maxLength(2048))).pipe(Schema.maxItems(16))
  ),
  /** Run only on a node carrying every one of these labels (docs/dispatch.md "Placement"). */
  node_selector: optional(Schema.Array(NodeLabel).pipe(Schema.maxItems(16))),
  /** Run only on a node with inference capability (implied for prompt tasks). */
  require_inference: optional(Schema.Boolean),
  /** Files written under /workspace before the command starts (script and commands tasks). */
  files: optional(InputFiles)
}).annotations({ ...strictBody, identifier: "CreateTaskRequest" })
export type CreateTaskRequest = typeof CreateTaskRequest.Type

export const TaskView = Schema.Struct({
  id: Uuid,
  task_id: Uuid,
  status: TaskStatus,
  task_name: Schema.String,
  prompt: Schema.String,
  summary: Schema.String,
  created_at: Timestamp,
  updated_at: Timestamp,
  attachments: Schema.optional(Schema.Array(Schema.String))
}).annotations({ identifier: "Task" })
export type TaskView = typeof TaskView.Type

export const TaskList = Schema.Struct({
  tasks: Schema.Array(TaskView),
  next_offset: Schema.optional(Schema.Int),
  /** Always a string; `""` when there is nothing more. */
  next_cursor: Schema.String
}).annotations({ identifier: "TaskList" })
export type TaskList = typeof TaskList.Type

const NonNegativeIntFromString = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())

export const ListTasksParams = Schema.Struct({
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 200))),
  offset: Schema.optional(NonNegativeIntFromString),
  /** The offset as a string; wins over `offset`. */
  cursor: Schema.optional(Schema.Union(Schema.Literal(""), Schema.String.pipe(Schema.pattern(/^\d{1,9}$/)))),
  status: Schema.optional(TaskStatus)
})

/** `{id}`: a task UUID or the caller's own task name; both meet the identifier rule. */
export const TaskIdPath = Schema.Struct({ id: Identifier })

export const MAX_RESULT_WAIT_SECONDS = 60

export const ResultParams = Schema.Struct({
  /** Optional long poll: wait up to this many seconds for the task to finish before answering. */
  wait: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, MAX_RESULT_WAIT_SECONDS)))
})

export const JobResultView = Schema.Struct({
  id: Uuid,
  status: JobStatus,
  /** The worker's response as JSON text (parse twice); omitted while there is none. */
  result: Schema.optional(Schema.String),
  started_at: Schema.optional(Timestamp),
  ended_at: Schema.optional(Timestamp)
}).annotations({ identifier: "JobResult" })
export type JobResultView = typeof JobResultView.Type

export const TaskResult = Schema.Struct({
  task_id: Uuid,
  status: TaskStatus,
  jobs: Schema.Array(JobResultView)
}).annotations({ identifier: "TaskResult" })
export type TaskResult = typeof TaskResult.Type

export const CancelResponse = Schema.Struct({
  task_id: Uuid,
  canceled: Schema.Literal(true)
}).annotations({ identifier: "CancelResponse" })

export const LogStream = Schema.Literal("stdout", "stderr", "all")
export const LogsParams = Schema.Struct({ stream: Schema.optional(LogStream) })

export const TaskLogs = Schema.Struct({
  task_id: Uuid,
  stdout: Schema.String,
  stderr: Schema.String
}).annotations({ identifier: "TaskLogs" })
export type TaskLogs = typeof TaskLogs.Type

/**
 * `GET /v1/tasks/{id}/logs?follow=true` answers `text/event-stream`. Events: `stdout` and `stderr` (id = the resume
 * point, data = `LogChunkData` JSON), then one `end` (data = `LogEndData` JSON) when the task is over; comment lines
 * keep the connection alive. `Last-Event-ID: <id>` resumes after that event.
 */
export const LogsFollowParams = Schema.Struct({
  stream: Schema.optional(LogStream),
  follow: Schema.optional(Schema.BooleanFromString)
})
export const LogsFollowHeaders = Schema.Struct({
  "last-event-id": Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()))
})
export const LOG_EVENT_CONTENT_TYPE = "text/event-stream"
export const LogChunkData = Schema.Struct({ text: Schema.String }).annotations({ identifier: "LogChunkData" })
export const LogEndData = Schema.Struct({
  status: TaskStatus,
  /** The last job's exit code; null when no process ran (a dispatch failure, a cancel before start). */
  exit_code: Schema.NullOr(Schema.Int)
}).annotations({ identifier: "LogEndData" })
export type LogEndData = typeof LogEndData.Type
