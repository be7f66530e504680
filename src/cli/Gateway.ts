import type { HttpClient } from "@effect/platform"
import { Effect, Redacted } from "effect"
import type { TokenPair, UserView } from "../../schema/auth.ts"
import type { TaskArtifacts } from "../../schema/artifacts.ts"
import { isIdentifier, type Identifier } from "../../schema/ids.ts"
import type { CancelResponse, CreateTaskRequest, TaskList, TaskLogs, TaskResult, TaskStatus, TaskView } from "../../schema/task.ts"
import { UnexpectedResponse, UsageError } from "./CliError.ts"
import { gatewayCall, type HttpFailure, rawGet } from "./Http.ts"

/** The gateway routes the CLI uses (user-gateway.md §3-§4), each a call of the gateway's own contract. */

type Result<A> = Effect.Effect<A, HttpFailure, HttpClient.HttpClient>
type Token = Redacted.Redacted<string>

export const login = (baseUrl: string, handle: string, password: Token): Result<TokenPair> =>
  gatewayCall(baseUrl, {}, (c) => c.auth.login({ payload: { handle, password: Redacted.value(password) } }))

export const refresh = (baseUrl: string, refreshToken: Token): Result<TokenPair> =>
  gatewayCall(baseUrl, {}, (c) => c.auth.refresh({ payload: { refresh_token: Redacted.value(refreshToken) } }))

/** Ends the session on the server (the access token and refresh token stop working). */
export const logout = (baseUrl: string, accessToken: Token, refreshToken: Token): Result<void> =>
  gatewayCall(baseUrl, { token: accessToken }, (c) => c.account.logout({ payload: { refresh_token: Redacted.value(refreshToken) } }))

export const me = (baseUrl: string, token: Token): Result<UserView> =>
  gatewayCall(baseUrl, { token }, (c) => c.account.me())

export const createTask = (baseUrl: string, token: Token, body: CreateTaskRequest): Result<TaskView> =>
  gatewayCall(baseUrl, { token }, (c) => c.tasks.create({ payload: body }))

/** A task reference (UUID or name) checked against the identifier rule before it becomes part of a URL. */
export const taskRef = (ref: string): Effect.Effect<Identifier, UsageError> =>
  isIdentifier(ref)
    ? Effect.succeed(ref)
    : Effect.fail(new UsageError({ message: `${JSON.stringify(ref)} is not a task id or name` }))

export const getTask = (baseUrl: string, token: Token, ref: string): Effect.Effect<TaskView, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) => gatewayCall(baseUrl, { token }, (c) => c.tasks.get({ path: { id } })))

export interface ListParams {
  readonly limit?: number
  readonly cursor?: string
  readonly status?: TaskStatus
}

export const listTasks = (baseUrl: string, token: Token, params: ListParams): Result<TaskList> =>
  gatewayCall(baseUrl, { token }, (c) =>
    c.tasks.list({
      urlParams: {
        ...(params.limit === undefined ? {} : { limit: params.limit }),
        ...(params.cursor === undefined ? {} : { cursor: params.cursor }),
        ...(params.status === undefined ? {} : { status: params.status })
      }
    }))

/** The task's result; with `waitSeconds`, the gateway holds the answer until the task ends or that time passes. */
export const taskResult = (
  baseUrl: string,
  token: Token,
  ref: string,
  waitSeconds?: number
): Effect.Effect<TaskResult, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) =>
    gatewayCall(
      baseUrl,
      { token, timeout: `${(waitSeconds ?? 0) + 30} seconds` },
      (c) => c.tasks.result({ path: { id }, urlParams: waitSeconds === undefined ? {} : { wait: waitSeconds } })
    ))

export const cancelTask = (baseUrl: string, token: Token, ref: string): Effect.Effect<typeof CancelResponse.Type, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) => gatewayCall(baseUrl, { token }, (c) => c.tasks.cancel({ path: { id } })))

/** The task's output so far (the final text once it ended). */
export const taskLogs = (
  baseUrl: string,
  token: Token,
  ref: string,
  stream: "stdout" | "stderr" | "all"
): Effect.Effect<TaskLogs, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) => gatewayCall(baseUrl, { token }, (c) => c.tasks.logs({ path: { id }, urlParams: { stream } })))

export const taskArtifacts = (baseUrl: string, token: Token, ref: string): Effect.Effect<TaskArtifacts, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) => gatewayCall(baseUrl, { token }, (c) => c.tasks.artifacts({ path: { id } })))

/**
 * One artifact's bytes; its path keeps its '/' (each segment is encoded on its own). The contract's wildcard path
 * cannot be filled in by the typed client, so this one GET goes through the platform client directly.
 */
export const artifactBytes = (baseUrl: string, token: Token, ref: string, path: string): Effect.Effect<Uint8Array, HttpFailure | UsageError, HttpClient.HttpClient> =>
  Effect.flatMap(taskRef(ref), (id) => {
    const url = `${baseUrl}/v1/tasks/${encodeURIComponent(id)}/artifacts/${path.split("/").map(encodeURIComponent).join("/")}`
    return rawGet(url, { token }).pipe(
      Effect.flatMap((response) =>
        response.arrayBuffer.pipe(
          Effect.mapError(() => new UnexpectedResponse({ url, status: response.status, reason: "the body could not be read" }))
        )
      ),
      Effect.map((body) => new Uint8Array(body)),
      Effect.scoped
    )
  })
