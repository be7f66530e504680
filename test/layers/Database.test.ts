import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Logger, LogLevel, Option, Queue, Redacted, Schedule, Scope, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Database from "../../layers/Database.ts"
import * as EmbeddedPostgres from "../../layers/EmbeddedPostgres.ts"
import { migrations } from "../../migrations/index.ts"
import {
  freePort,
  layer as freshDatabase,
  makeTempDir,
  APP_TABLES,
  publicTables,
  testDatabase
} from "../support/testDatabase.ts"

/** Every migration this build knows, as the migrator reports them: [id, name]. */
const ALL_MIGRATIONS = Object.keys(migrations).map((key) => [Number(key.slice(0, 4)), key.slice(5)] as const)

const onUrl = (url: Redacted.Redacted<string>) => Effect.provide(PgClient.layer({ url }))

/** The PostgreSQL error code behind a failed statement (23514 check, 23505 unique). */
const sqlStateOf = <A>(effect: Effect.Effect<A, SqlError, SqlClient.SqlClient>) =>
  effect.pipe(
    Effect.flip,
    Effect.map((error) => (error.cause as { code?: string } | undefined)?.code)
  )

const insertUser = (handle: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ id: string }>`INSERT INTO users (handle) VALUES (${handle}) RETURNING id`.pipe(
      Effect.map(([row]) => row!.id)
    ))

const insertTask = (userId: string, summary: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ id: string }>`
      INSERT INTO tasks (created_by, prompt, summary) VALUES (${userId}, 'echo hi', ${summary}) RETURNING id`.pipe(
      Effect.map(([row]) => row!.id)
    ))

const insertJob = (taskId: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ id: string }>`
      INSERT INTO jobs (task_id, payload) VALUES (${taskId}, ${sql.json({ command: ["echo", "hi"] })}) RETURNING id`.pipe(
      Effect.map(([row]) => row!.id)
    ))

/**
 * Collects notifications of `channel` into a queue. LISTEN is issued asynchronously, so we send probe
 * notifications until one comes back: from then on nothing sent can be missed.
 */
const listenTo = (channel: string) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const received = yield* Queue.unbounded<string>()
    yield* sql.listen(channel).pipe(Stream.runForEach((payload) => Queue.offer(received, payload)), Effect.forkScoped)
    // PgClient.notify sends `NOTIFY chan, $1`, which PostgreSQL cannot parse (sql-pg 0.53): use pg_notify.
    const probeAnswered = sql`SELECT pg_notify(${channel}, 'probe')`.pipe(
      Effect.zipRight(Queue.take(received).pipe(Effect.timeout("100 millis"), Effect.option)),
      Effect.repeat({ until: (payload) => Option.isSome(payload) && payload.value === "probe" })
    )
    yield* probeAnswered.pipe(Effect.timeout("10 seconds"))
    // Later probes may still be in flight; readers skip them.
    const next = Queue.take(received).pipe(
      Effect.repeat({ until: (payload) => payload !== "probe" }),
      Effect.timeout("5 seconds")
    )
    return { next }
  })

describe("Database on the test server (external PostgreSQL when reachable)", () => {
  it.live("migrations apply to a fresh database, and a second run applies nothing", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase({ migrate: false })
      yield* Effect.gen(function*() {
        expect(yield* Database.migrationsApplied).toBe(false)
        const first = yield* Database.migrate
        expect(first).toEqual(ALL_MIGRATIONS)
        expect(yield* publicTables).toEqual(APP_TABLES)
        expect(yield* Database.migrationsApplied).toBe(true)
        expect(yield* Database.migrate).toEqual([])
        expect(Database.latestMigrationId).toBe(ALL_MIGRATIONS.at(-1)?.[0])
      }).pipe(onUrl(db.url))
    }).pipe(Effect.scoped))

  it.live("two programs migrating one fresh database together both succeed (advisory lock)", () =>
    Effect.gen(function*() {
      for (let round = 0; round < 3; round++) {
        const db = yield* testDatabase({ migrate: false })
        // Two independent pools, as two processes would have.
        const clients = yield* Effect.all([
          Layer.build(PgClient.layer({ url: db.url })),
          Layer.build(PgClient.layer({ url: db.url }))
        ])
        const results = yield* Effect.all(clients.map((client) => Effect.provide(Database.migrate, client)), {
          concurrency: "unbounded"
        })
        expect(results.map((applied) => applied.length).sort()).toEqual([0, ALL_MIGRATIONS.length])
        const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<{ migration_id: number }>`SELECT migration_id FROM effect_sql_migrations ORDER BY migration_id`).pipe(onUrl(db.url))
        expect(rows).toEqual(ALL_MIGRATIONS.map(([id]) => ({ migration_id: id })))
      }
    }).pipe(Effect.scoped))

  it.live("the jobs trigger notifies cynode_jobs on queued and canceled, the tasks trigger on terminal status", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const jobs = yield* listenTo("cynode_jobs")
      const tasks = yield* listenTo("cynode_tasks")
      const user = yield* insertUser("notify-user")
      const task = yield* insertTask(user, "notify-task")
      const a = yield* insertJob(task)
      const b = yield* insertJob(task)
      yield* sql`UPDATE jobs SET status = 'running' WHERE id = ${a}`
      yield* sql`UPDATE jobs SET status = 'canceled' WHERE id = ${b}`
      expect([yield* jobs.next, yield* jobs.next, yield* jobs.next]).toEqual([a, b, b])

      yield* sql`UPDATE tasks SET status = 'running' WHERE id = ${task}`
      yield* sql`UPDATE tasks SET status = 'completed', closed = true WHERE id = ${task}`
      expect(yield* tasks.next).toBe(task)
    }).pipe(Effect.scoped, Effect.provide(freshDatabase)))

  it.live("constraints reject bad statuses, duplicate names and unsafe slugs; updated_at follows updates", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const user = yield* insertUser("constraint-user")
      const task = yield* insertTask(user, "t1")
      const job = yield* insertJob(task)

      expect(yield* sqlStateOf(sql`UPDATE jobs SET status = 'bogus' WHERE id = ${job}`)).toBe("23514")
      expect(yield* sqlStateOf(sql`UPDATE tasks SET status = 'queued' WHERE id = ${task}`)).toBe("23514")
      expect(yield* sqlStateOf(sql`UPDATE tasks SET status = 'completed' WHERE id = ${task}`)).toBe("23514")
      expect(yield* sqlStateOf(insertTask(user, "t1"))).toBe("23505")
      expect(yield* sqlStateOf(insertUser("constraint-user"))).toBe("23505")
      expect(yield* sqlStateOf(insertUser("../etc"))).toBe("23514")
      expect(yield* sqlStateOf(sql`INSERT INTO nodes (node_slug, status) VALUES ('n1', 'bogus')`)).toBe("23514")
      expect(yield* sqlStateOf(sql`INSERT INTO nodes (node_slug) VALUES ('a..b')`)).toBe("23514")
      expect(yield* sqlStateOf(sql`INSERT INTO nodes (node_slug, config_ack_status) VALUES ('n2', 'ok')`)).toBe("23514")
      expect(yield* sqlStateOf(sql`INSERT INTO jobs (task_id, payload) VALUES (${task}, '"text"')`)).toBe("23514")

      const [node] = yield* sql<{ status: string; id: string }>`INSERT INTO nodes (node_slug) VALUES ('n3') RETURNING id, status`
      expect(node!.status).toBe("registered")
      yield* sql`UPDATE jobs SET node_id = ${node!.id} WHERE id = ${job}`
      yield* sql`DELETE FROM nodes WHERE id = ${node!.id}`
      const [after] = yield* sql<{ node_id: string | null; newer: boolean }>`
        SELECT node_id, updated_at > created_at AS newer FROM jobs WHERE id = ${job}`
      expect(after).toEqual({ node_id: null, newer: true })

      yield* sql`DELETE FROM users WHERE id = ${user}`
      const [left] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM jobs`
      expect(left!.n).toBe(0)
    }).pipe(Effect.provide(freshDatabase)))
})

describe("Database.layer without DATABASE_URL (embedded PostgreSQL)", () => {
  // One data directory for the whole sequence: initdb is the expensive part.
  const setup = { dir: "", dataDir: "", port: 0 }
  beforeAll(async () => {
    setup.dir = await Effect.runPromise(makeTempDir("cynode-db-test-"))
    setup.dataDir = path.join(setup.dir, "pgdata")
    setup.port = await Effect.runPromise(freePort)
  })
  const config = () =>
    ConfigProvider.fromMap(new Map([["CYNODE_DATA_DIR", setup.dataDir], ["CYNODE_PG_PORT", String(setup.port)]]))

  /** Starts Database.layer in its own scope, so a test can stop (or crash) it midway. */
  const startLayer = Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(Database.layer, scope).pipe(
      Effect.withConfigProvider(config()),
      Logger.withMinimumLogLevel(LogLevel.Warning),
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    return { context, stop: Scope.close(scope, Exit.void) }
  })

  const countUsers = Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT count(*)::int AS n FROM users`)

  it.live("initialises the data directory, serves a migrated `cynode` database, and stops cleanly", () =>
    Effect.gen(function*() {
      const { context, stop } = yield* startLayer
      const source = yield* Effect.provide(Database.DatabaseUrl, context)
      expect(source.source).toBe("embedded")
      expect(Redacted.value(source.url)).toMatch(new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${setup.port}/cynode$`))
      expect(String(source.url)).not.toContain(Redacted.value(source.url))

      yield* Effect.gen(function*() {
        expect(yield* Database.migrationsApplied).toBe(true)
        expect(yield* publicTables).toEqual(APP_TABLES)
        yield* insertUser("kept-across-restarts")
      }).pipe(Effect.provide(context))

      const pid = EmbeddedPostgres.readPostmasterPid(setup.dataDir)
      expect(pid).toBeDefined()
      expect(fs.statSync(EmbeddedPostgres.passwordFileFor(setup.dataDir)).mode & 0o777).toBe(0o600)
      yield* stop
      expect(fs.existsSync(path.join(setup.dataDir, "postmaster.pid"))).toBe(false)
      expect(fs.existsSync(path.join(setup.dataDir, "PG_VERSION"))).toBe(true)
    }))

  it.live("restarts on the same directory with its data, tolerating stale postmaster.pid files", () =>
    Effect.gen(function*() {
      // A crash leaves the lock file behind, and the pid in it may since belong to an unrelated process.
      const lockFile = path.join(setup.dataDir, "postmaster.pid")
      for (const stalePid of [process.pid, 4_194_000]) {
        fs.writeFileSync(lockFile, `${stalePid}\n${setup.dataDir}\n1700000000\n${setup.port}\n\n127.0.0.1\n`)
        const { context, stop } = yield* startLayer
        const [row] = yield* Effect.provide(countUsers, context)
        expect(row!.n).toBe(1)
        expect(yield* Effect.provide(Database.migrate, context)).toEqual([])
        yield* stop
      }
    }))

  it.live("refuses a second server on a directory in use, and comes back after the postmaster is killed -9", () =>
    Effect.gen(function*() {
      const first = yield* startLayer
      const second = yield* Effect.exit(startLayer)
      expect(Exit.isFailure(second)).toBe(true)
      expect(String(Exit.isFailure(second) ? second.cause : "")).toContain("already running")

      const pid = EmbeddedPostgres.readPostmasterPid(setup.dataDir)!
      process.kill(pid, "SIGKILL")
      yield* Effect.sync(() => EmbeddedPostgres.processIsAlive(pid)).pipe(
        Effect.repeat({ while: (alive) => alive, schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("10 seconds")
      )
      yield* first.stop

      const again = yield* startLayer
      const [row] = yield* Effect.provide(countUsers, again.context)
      expect(row!.n).toBe(1)
      yield* again.stop
    }))

  afterAll(() => {
    expect(fs.existsSync(path.join(setup.dataDir, "postmaster.pid"))).toBe(false)
    fs.rmSync(setup.dir, { recursive: true, force: true })
  })
})
