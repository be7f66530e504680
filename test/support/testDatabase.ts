import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Exit, Layer, Logger, LogLevel, Redacted, Scope } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Database from "../../layers/Database.ts"
import * as EmbeddedPostgres from "../../layers/EmbeddedPostgres.ts"

/**
 * Fresh, migrated databases for tests and BDD, each with a random name, dropped afterwards.
 * Server: `CYNODE_TEST_PG_URL` if set; else the PostgreSQL at 127.0.0.1:5432 when it answers; else (or with
 * `CYNODE_TEST_PG=embedded`) an embedded PostgreSQL started once per process in a temporary directory.
 */

export interface TestServer {
  readonly kind: "external" | "embedded"
  readonly urlFor: (database: string) => Redacted.Redacted<string>
}

export interface TestDatabase {
  readonly name: string
  readonly url: Redacted.Redacted<string>
  readonly server: TestServer["kind"]
}

export interface TestDatabaseOptions {
  /** Apply the migrations (default true); false gives an empty database. */
  readonly migrate?: boolean
}

/** The tables every migration together creates, sorted. */
export const APP_TABLES = [
  "artifact_blobs",
  "auth_audit_log",
  "jobs",
  "node_capabilities",
  "node_config_acks",
  "nodes",
  "password_credentials",
  "refresh_sessions",
  "system_settings",
  "task_artifacts",
  "task_output",
  "tasks",
  "users"
]

/** The application tables in the public schema, sorted (the migrator's bookkeeping table left out). */
export const publicTables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_name <> 'effect_sql_migrations' ORDER BY table_name`).pipe(
  Effect.map((rows) => rows.map((row) => row.table_name))
)

const DEFAULT_EXTERNAL_URL = "postgres://postgres@127.0.0.1:5432/postgres"

/** The helper's own chatter stays out of test output unless something goes wrong. */
const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)

const externalServer = (adminUrl: string): TestServer => ({
  kind: "external",
  urlFor: (database) => {
    const url = new URL(adminUrl)
    url.pathname = `/${encodeURIComponent(database)}`
    return Redacted.make(url.toString())
  }
})

const answers = (url: Redacted.Redacted<string>) =>
  Effect.flatMap(PgClient.PgClient, (sql) => sql`SELECT 1`).pipe(
    Effect.provide(PgClient.layer({ url, connectTimeout: "2 seconds" })),
    Effect.as(true),
    Effect.catchAll(() => Effect.succeed(false))
  )

export const freePort = Effect.async<number>((resume) => {
  const probe = net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const address = probe.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** A temporary directory the `postgres` system user can traverse (mkdtemp makes it 0700). */
export const makeTempDir = (prefix: string) =>
  Effect.sync(() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
    fs.chmodSync(dir, 0o711)
    return dir
  })

// --- The per-process embedded server ---

interface EmbeddedTestServer {
  readonly scope: Scope.CloseableScope
  readonly dir: string
  /** Process handlers that clean up if the process ends without `stopTestServer`. */
  readonly handlers: ReadonlyArray<readonly [event: "exit" | NodeJS.Signals, listener: () => void]>
}

let embedded: EmbeddedTestServer | undefined

/**
 * Synchronous, for the `exit` event: immediate shutdown of the postmaster still named in the lock file, a wait for
 * the lock file to go, and the directory removed.
 */
const removeEmbeddedAtExit = (dir: string, dataDir: string) => () => {
  const pid = EmbeddedPostgres.readPostmasterPid(dataDir)
  if (pid !== undefined && EmbeddedPostgres.processIsAlive(pid)) process.kill(pid, "SIGQUIT")
  const sleeper = new Int32Array(new SharedArrayBuffer(4))
  const deadline = Date.now() + 5_000
  while (fs.existsSync(path.join(dataDir, "postmaster.pid")) && Date.now() < deadline) Atomics.wait(sleeper, 0, 0, 20)
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 })
}

const startEmbeddedServer = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const dir = yield* makeTempDir("cynode-test-pg-")
  const dataDir = path.join(dir, "pgdata")
  const port = yield* freePort
  const server = yield* EmbeddedPostgres.start({ dataDir, port, ephemeral: true }).pipe(
    Scope.extend(scope),
    Effect.tapError(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))),
    Effect.orDie
  )
  // Test runners end workers with SIGTERM; turn signals into a normal exit so the `exit` cleanup runs.
  const handlers = [
    ["exit", removeEmbeddedAtExit(dir, dataDir)],
    ["SIGTERM", () => process.exit(143)],
    ["SIGINT", () => process.exit(130)]
  ] as const
  for (const [event, listener] of handlers) process.once(event, listener)
  embedded = { scope, dir, handlers }
  return { kind: "embedded", urlFor: server.urlFor } satisfies TestServer
})

const resolveServer = Effect.gen(function*() {
  const configured = process.env.CYNODE_TEST_PG_URL
  if (configured !== undefined && configured !== "") return externalServer(configured)
  if (process.env.CYNODE_TEST_PG !== "embedded" && (yield* answers(Redacted.make(DEFAULT_EXTERNAL_URL)))) {
    return externalServer(DEFAULT_EXTERNAL_URL)
  }
  return yield* startEmbeddedServer
})

let serverPromise: Promise<TestServer> | undefined

/** The server test databases live on, resolved (and for embedded, started) once per process. */
export const testServer: Effect.Effect<TestServer> = Effect.promise(() =>
  serverPromise ??= Effect.runPromise(resolveServer.pipe(quiet))
)

/** Databases created and not yet dropped; the embedded server is stopped only once none is left. */
let liveDatabases = 0
let stopRequested = false

const stopEmbeddedNow = async (): Promise<void> => {
  const server = embedded
  serverPromise = undefined
  embedded = undefined
  stopRequested = false
  if (server === undefined) return
  for (const [event, listener] of server.handlers) process.removeListener(event, listener)
  await Effect.runPromise(Scope.close(server.scope, Exit.void).pipe(quiet))
  fs.rmSync(server.dir, { recursive: true, force: true, maxRetries: 5 })
}

/**
 * Stops the per-process embedded server, if one was started, and removes its directory: now, or when the last
 * database still in use is dropped (AfterAll hooks run in an order no file controls; after 30 s it stops anyway).
 * Cucumber needs this: a running postgres child keeps the event loop, and so the process, alive.
 */
export const stopTestServer = async (): Promise<void> => {
  const server = embedded
  if (server === undefined) return
  if (liveDatabases === 0) return stopEmbeddedNow()
  stopRequested = true
  setTimeout(() => embedded === server && void stopEmbeddedNow(), 30_000).unref()
}

const databaseDropped = Effect.promise(() => {
  liveDatabases -= 1
  return liveDatabases === 0 && stopRequested ? stopEmbeddedNow() : Promise.resolve()
})

// --- Databases ---

const onAdminDatabase = <A>(server: TestServer, f: (sql: PgClient.PgClient) => Effect.Effect<A, unknown>) =>
  Effect.flatMap(PgClient.PgClient, f).pipe(Effect.provide(PgClient.layer({ url: server.urlFor("postgres") })))

const createDatabase = (server: TestServer, options: TestDatabaseOptions) =>
  Effect.gen(function*() {
    const name = `cynode_test_${randomBytes(8).toString("hex")}`
    yield* onAdminDatabase(server, (sql) => sql`CREATE DATABASE ${sql(name)}`)
    const url = server.urlFor(name)
    if (options.migrate !== false) {
      yield* Database.migrate.pipe(Effect.provide(PgClient.layer({ url })))
    }
    return { name, url, server: server.kind } satisfies TestDatabase
  })

const dropDatabase = (server: TestServer, name: string) =>
  onAdminDatabase(server, (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`)

/** A fresh database (migrated unless `migrate: false`), dropped when the scope closes. */
export const testDatabase = (options: TestDatabaseOptions = {}): Effect.Effect<TestDatabase, never, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* testServer
    return yield* Effect.acquireRelease(
      createDatabase(server, options).pipe(Effect.orDie, Effect.tap(() => Effect.sync(() => void (liveDatabases += 1)))),
      (db) => dropDatabase(server, db.name).pipe(Effect.orDie, Effect.ensuring(databaseDropped))
    )
  }).pipe(quiet)

/** Runs `f` with a fresh migrated database that is dropped afterwards. */
export const withTestDatabase = <A, E, R>(f: (db: TestDatabase) => Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.flatMap(testDatabase(), f))

/** Database.layer on a fresh migrated database (for `it.layer`); dropped after the client closes. */
export const layer: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | Database.DatabaseUrl> = Layer.unwrapScoped(
  Effect.map(testDatabase(), (db) => Database.layerFromUrl(db.url).pipe(Layer.orDie))
)

/** The same for plain async code (BDD steps, spawned programs): a URL string and a drop function. */
export const createTestDatabase = async (
  options: TestDatabaseOptions = {}
): Promise<{ readonly url: string; readonly name: string; readonly server: TestServer["kind"]; drop(): Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const db = await Effect.runPromise(Scope.extend(testDatabase(options), scope))
  return {
    url: Redacted.value(db.url),
    name: db.name,
    server: db.server,
    drop: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
