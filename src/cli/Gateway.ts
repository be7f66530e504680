import type { HttpClient } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { TokenPair, UserView } from "../../schema/auth.ts"
import { isIdentifier } from "../../schema/ids.ts"
import { TaskArtifacts } from "../../schema/artifacts.ts"
import { CancelResponse, type CreateTaskRequest, TaskList, TaskLogs, TaskResult, TaskView } from "../../schema/task.ts"
import { UsageError } from "./CliError.ts"
import { call, callBytes, callNoContent, type HttpFailure } from "./Http.ts"

/** The gateway routes the CLI uses (user-gateway.md §3-§4), with the gateway's own wire schemas. */

type Result<A> = Effect.Effect<A, HttpFailure, HttpClient.HttpClient>
type Token = Redacted.Redacted<string>

export const login = (baseUrl: string, handle: string, password: Token): Result<TokenPair> =>
  call({
    method: "POST",
    url: `${baseUrl}/v1/auth/login`,
    body: { handle, password: Redacted.value(password) },
    success: TokenPair
  })

export const refresh = (baseUrl: string, refreshToken: Token): Result<TokenPair> =>
  call({
    method: "POST",
    url: `${baseUrl}/v1/auth/refresh`,
    body: { refresh_token: Redacted.value(refreshToken) },
    success: TokenPair
  })

/** Ends the session on the server (the access token and refresh token stop working). */
export const logout = (baseUrl: string, accessToken: Token, refreshToken: Token): Result<void> =>
  callNoContent({
    method: "POST",
    url: `${baseUrl}/v1/auth/logout`,
    token: accessToken,
    body: { refresh_token: Redacted.value(refreshToken) }
  })

export const me = (baseUrl: string, token: Token): Result<UserView> =>
  call({ method: "GET", url: `${baseUrl}/v1/users/me`, token, success: UserView })

export const createTask = (baseUrl: string, token: Token, body: CreateTaskRequest): Result<TaskView> =>
  call({ method: "POST", url: `${baseUrl}/v1/tasks`, token, body, success: TaskView })

/** A task reference (UUID or name) checked against the identifier rule before it becomes part of a URL. */
export const taskRef = (ref: string): Effect.Effect<string, UsageError> =>
  isIdentifier(ref)
    ? Effect.succeed(encodeURIComponent(ref))
    : Effect.fail(new UsageError({ message: `${JSON.stringify(ref)} is not a task id or name` }))

export const getTask = (baseUrl: string, token: Token, ref: string): Effect.Effect<TaskView, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) => call({ method: "GET", url: `${baseUrl}/v1/tasks/${id}`, token, success: TaskView }))

export interface ListParams {
  readonly limit?: number
  readonly cursor?: string
  readonly status?: string
}

export const listTasks = (baseUrl: string, token: Token, params: ListParams): Result<TaskList> =>
  call({
    method: "GET",
    url: `${baseUrl}/v1/tasks`,
    token,
    urlParams: {
      ...(params.limit === undefined ? {} : { limit: String(params.limit) }),
      ...(params.cursor === undefined ? {} : { cursor: params.cursor }),
      ...(params.status === undefined ? {} : { status: params.status })
    },
    success: TaskList
  })

/** The task's result; with `waitSeconds`, the gateway holds the answer until the task ends or that time passes. */
export const taskResult = (
  baseUrl: string,
  token: Token,
  ref: string,
  waitSeconds?: number
): Effect.Effect<TaskResult, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) =>
    call({
      method: "GET",
      url: `${baseUrl}/v1/tasks/${id}/result`,
      token,
      ...(waitSeconds === undefined ? {} : { urlParams: { wait: String(waitSeconds) } }),
      timeout: `${(waitSeconds ?? 0) + 30} seconds`,
      success: TaskResult
    }))

export const cancelTask = (baseUrl: string, token: Token, ref: string): Effect.Effect<typeof CancelResponse.Type, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) =>
    call({ method: "POST", url: `${baseUrl}/v1/tasks/${id}/cancel`, token, success: CancelResponse }))

/** The task's output so far (the final text once it ended). */
export const taskLogs = (
  baseUrl: string,
  token: Token,
  ref: string,
  stream: "stdout" | "stderr" | "all"
): Effect.Effect<TaskLogs, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) =>
    call({ method: "GET", url: `${baseUrl}/v1/tasks/${id}/logs`, token, urlParams: { stream }, success: TaskLogs }))

export const taskArtifacts = (baseUrl: string, token: Token, ref: string): Effect.Effect<TaskArtifacts, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) => call({ method: "GET", url: `${baseUrl}/v1/tasks/${id}/artifacts`, token, success: TaskArtifacts }))

/** One artifact's bytes; its path keeps its '/' (each segment is encoded on its own). */
export const artifactBytes = (baseUrl: string, token: Token, ref: string, path: string): Effect.Effect<Uint8Array, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) =>
    callBytes({ method: "GET", url: `${baseUrl}/v1/tasks/${id}/artifacts/${path.split("/").map(encodeURIComponent).join("/")}`, token }))
