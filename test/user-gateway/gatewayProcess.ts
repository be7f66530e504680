import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { httpCall, type HttpCallOptions, type HttpResult } from "../support/http.ts"
import { startServer, type RunningProgram } from "../support/programs.ts"
import { createTestDatabase } from "../support/testDatabase.ts"

/**
 * The real user-gateway program on a fresh database, for integration tests and BDD steps: started with
 * `startProgram`, talked to over HTTP, its database reachable for what the dispatcher would write.
 */

export interface RunningGateway {
  readonly baseUrl: string
  readonly program: RunningProgram
  readonly adminPassword: string
  readonly jwtSecret: string
  readonly databaseUrl: string
  readonly call: (method: string, path: string, options?: HttpCallOptions) => Promise<HttpResult>
  /** Runs SQL against the gateway's database (as the dispatcher would). */
  readonly sql: <A extends object>(run: (sql: PgClient.PgClient) => Effect.Effect<ReadonlyArray<A>, unknown>) => Promise<ReadonlyArray<A>>
  readonly stop: () => Promise<void>
}

export const startGateway = async (env: Record<string, string> = {}): Promise<RunningGateway> => {
  const db = await createTestDatabase()
  const adminPassword = `admin-${randomBytes(12).toString("base64url")}`
  const jwtSecret = randomBytes(32).toString("base64url")
  const { program, baseUrl } = await startServer(
    "user-gateway",
    "USER_GATEWAY_LISTEN_ADDR",
    () => ({ DATABASE_URL: db.url, JWT_SECRET: jwtSecret, BOOTSTRAP_ADMIN_PASSWORD: adminPassword, ...env }),
    { timeoutMs: 60_000 }
  ).catch(async (error: unknown) => {
    await db.drop()
    throw error
  })
  const call: RunningGateway["call"] = (method, path, options) => httpCall(baseUrl, method, path, options)

  const sql: RunningGateway["sql"] = (run) =>
    Effect.runPromise(
      Effect.flatMap(PgClient.PgClient, run).pipe(
        Effect.provide(PgClient.layer({ url: Redacted.make(db.url) })),
        Effect.orDie
      )
    )

  const stop = async () => {
    await program.stop()
    await db.drop()
  }
  return { baseUrl, program, adminPassword, jwtSecret, databaseUrl: db.url, call, sql, stop }
}

/** Logs in and returns the token pair, failing loudly otherwise. */
export const loginTokens = async (gateway: RunningGateway, handle: string, password: string) => {
  const res = await gateway.call("POST", "/v1/auth/login", { body: { handle, password } })
  if (res.status !== 200) throw new Error(`login of ${handle} answered ${res.status}: ${res.text}`)
  return res.json as { readonly access_token: string; readonly refresh_token: string }
}

/** Creates a user through the admin API (the admin logs in with the bootstrap password). */
export const createUser = async (gateway: RunningGateway, handle: string, password: string) => {
  const admin = await loginTokens(gateway, "admin", gateway.adminPassword)
  const res = await gateway.call("POST", "/v1/admin/users", { token: admin.access_token, body: { handle, password } })
  if (res.status !== 201) throw new Error(`creating ${handle} answered ${res.status}: ${res.text}`)
  return res.json as { readonly id: string; readonly handle: string }
}

/** What the dispatcher writes when a job finishes (control-plane.md §9 step 6): job result, then task status. */
export const completeTaskAsDispatcher = (
  gateway: RunningGateway,
  taskId: string,
  result: Record<string, unknown>,
  status: "completed" | "failed" = "completed"
) =>
  gateway.sql((sql) =>
    Effect.gen(function*() {
      yield* sql`
        UPDATE jobs SET status = ${status}, result = ${JSON.stringify(result)}::jsonb,
          started_at = now() - interval '1 second', ended_at = now()
        WHERE task_id = ${taskId}`
      return yield* sql`UPDATE tasks SET status = ${status}, closed = true WHERE id = ${taskId} RETURNING id`
    })
  )
