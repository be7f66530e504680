import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { TaskArtifacts } from "../../schema/artifacts.ts"
import { RelativePath } from "../../schema/files.ts"
import { Identifier } from "../../schema/ids.ts"
import { BadRequest, Conflict, NotFound } from "../../schema/problem.ts"
import {
  CancelResponse,
  CreateTaskRequest,
  ListTasksParams,
  LogsFollowParams,
  ResultParams,
  TaskIdPath,
  TaskList,
  TaskLogs,
  TaskResult,
  TaskView
} from "../../schema/task.ts"
import { Authentication } from "./AuthMiddleware.ts"

/** The tasks API (user-gateway.md §4): owner or admin; everyone else gets 404. */
export class TasksApi extends HttpApiGroup.make("tasks")
  .add(
    HttpApiEndpoint.post("create", "/v1/tasks")
      .setPayload(CreateTaskRequest)
      .addSuccess(TaskView, { status: 201 })
      .addError(BadRequest)
  )
  .add(HttpApiEndpoint.get("list", "/v1/tasks").setUrlParams(ListTasksParams).addSuccess(TaskList))
  .add(HttpApiEndpoint.get("get", "/v1/tasks/:id").setPath(TaskIdPath).addSuccess(TaskView).addError(NotFound))
  .add(
    HttpApiEndpoint.get("result", "/v1/tasks/:id/result")
      .setPath(TaskIdPath)
      .setUrlParams(ResultParams)
      .addSuccess(TaskResult)
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.post("cancel", "/v1/tasks/:id/cancel")
      .setPath(TaskIdPath)
      .addSuccess(CancelResponse)
      .addError(NotFound)
      .addError(Conflict)
  )
  .add(
    // With `follow=true` the answer is `text/event-stream` instead (schema/task.ts: LogChunkData, LogEndData).
    HttpApiEndpoint.get("logs", "/v1/tasks/:id/logs")
      .setPath(TaskIdPath)
      .setUrlParams(LogsFollowParams)
      .addSuccess(TaskLogs)
      .addError(BadRequest)
      .addError(NotFound)
      .annotate(OpenApi.Description, "The task's output. With follow=true: Server-Sent Events (text/event-stream) — " +
        "`stdout`/`stderr` events (id, data {\"text\"}) as the task runs, then `end` (data {\"status\",\"exit_code\"}); " +
        "send Last-Event-ID (a non-negative integer; read by the handler, so a client needs no header to call) to resume " +
        "after an event.")
  )
  .add(
    HttpApiEndpoint.get("artifacts", "/v1/tasks/:id/artifacts")
      .setPath(TaskIdPath)
      .addSuccess(TaskArtifacts)
      .addError(NotFound)
  )
  .add(
    // `*` is the artifact's path (it may hold '/'); the answer is its bytes with their content type and length.
    HttpApiEndpoint.get("artifact", "/v1/tasks/:id/artifacts/*")
      .setPath(Schema.Struct({ id: Identifier, "*": RelativePath }))
      .addSuccess(HttpApiSchema.Uint8Array())
      .addError(NotFound)
  )
  .middleware(Authentication)
{}
