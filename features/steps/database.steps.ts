import * as SqlClient from "@effect/sql/SqlClient"
import { After, AfterAll, Given, Then, When } from "@cucumber/cucumber"
import { ConfigProvider, type Context, Effect, Exit, Layer, Logger, LogLevel, Redacted, Scope } from "effect"
import { strict as assert } from "node:assert"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Database from "../../layers/Database.ts"
import * as EmbeddedPostgres from "../../layers/EmbeddedPostgres.ts"
import { migrations } from "../../migrations/index.ts"
import {
  createTestDatabase,
  freePort,
  makeTempDir,
  APP_TABLES,
  publicTables,
  stopTestServer
} from "../../test/support/testDatabase.ts"
import { ScenarioStates } from "../support/scenarioStates.ts"

/** Steps for features/orchestrator/database.feature: the real Database.layer, started and stopped per step. */

type Services = Layer.Layer.Success<typeof Database.layer>

interface ScenarioState {
  /** The environment the layer reads (only these variables: DATABASE_URL, CYNODE_DATA_DIR, CYNODE_PG_PORT). */
  readonly env: Map<string, string>
  running?: { readonly scope: Scope.CloseableScope; readonly context: Context.Context<Services> } | undefined
  dataDir?: string
  tempDir?: string
  dropDatabase?: () => Promise<void>
  /** The migrations recorded at the first start, as JSON of [id, applied at]. */
  firstMigrationAt?: string
}

const states = new ScenarioStates<ScenarioState>(() => ({ env: new Map() }))
const stateOf = (world: object) => states.of(world)

const quiet = Logger.withMinimumLogLevel(LogLevel.Warning)

const runningContext = (state: ScenarioState) => {
  assert.ok(state.running, "the database layer is not running")
  return state.running.context
}

const query = <A>(state: ScenarioState, effect: Effect.Effect<A, unknown, Services>) =>
  Effect.runPromise(effect.pipe(Effect.provide(runningContext(state)), quiet))

const migrationRows = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ migration_id: number; name: string; created_at: Date }>`
    SELECT migration_id, name, created_at FROM effect_sql_migrations ORDER BY migration_id`)

/** Each applied migration with the time it was applied: a re-run would add rows or change none of these. */
const recorded = (rows: ReadonlyArray<{ migration_id: number; created_at: Date }>) =>
  rows.map((row) => [row.migration_id, row.created_at.toISOString()])

const stopLayer = async (state: ScenarioState) => {
  const running = state.running
  state.running = undefined
  if (running !== undefined) await Effect.runPromise(Scope.close(running.scope, Exit.void).pipe(quiet))
}

Given("an empty database on the test PostgreSQL server", async function(this: object) {
  const db = await createTestDatabase({ migrate: false })
  const state = stateOf(this)
  state.dropDatabase = db.drop
  state.env.set("DATABASE_URL", db.url)
})

Given("DATABASE_URL points at that database", function(this: object) {
  assert.ok(stateOf(this).env.has("DATABASE_URL"), "no test database was created")
})

Given("DATABASE_URL is unset and the embedded database directory does not exist yet", async function(this: object) {
  const state = stateOf(this)
  state.tempDir = await Effect.runPromise(makeTempDir("cynode-bdd-db-"))
  state.dataDir = path.join(state.tempDir, "pgdata")
  state.env.delete("DATABASE_URL")
  state.env.set("CYNODE_DATA_DIR", state.dataDir)
  state.env.set("CYNODE_PG_PORT", String(await Effect.runPromise(freePort)))
})

When("the database layer starts", { timeout: 60_000 }, async function(this: object) {
  const state = stateOf(this)
  assert.equal(state.running, undefined, "the database layer is already running")
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(Database.layer, scope).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(state.env)),
      Effect.onError(() => Scope.close(scope, Exit.void)),
      quiet
    )
  )
  state.running = { scope, context }
  if (state.firstMigrationAt === undefined) {
    state.firstMigrationAt = JSON.stringify(recorded(await query(state, migrationRows)))
  }
})

When("the database layer stops", { timeout: 30_000 }, async function(this: object) {
  await stopLayer(stateOf(this))
})

When("the embedded PostgreSQL is killed with SIGKILL, leaving its postmaster.pid behind", async function(this: object) {
  const state = stateOf(this)
  assert.ok(state.dataDir)
  const pid = EmbeddedPostgres.readPostmasterPid(state.dataDir)
  assert.ok(pid !== undefined, "no postmaster.pid while the embedded PostgreSQL runs")
  process.kill(pid, "SIGKILL")
  for (let waited = 0; EmbeddedPostgres.processIsAlive(pid); waited += 50) {
    assert.ok(waited < 10_000, `postmaster ${pid} survived SIGKILL`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  assert.ok(fs.existsSync(path.join(state.dataDir, "postmaster.pid")), "a killed postmaster leaves its lock file")
})

Then("the database records every migration as applied", async function(this: object) {
  const state = stateOf(this)
  const rows = await query(state, migrationRows)
  const known = Object.keys(migrations).map((key) => [Number(key.slice(0, 4)), key.slice(5)])
  assert.deepEqual(rows.map((row) => [row.migration_id, row.name]), known)
  assert.equal(await query(state, Database.migrationsApplied), true)
})

Then("the database has every migration's tables", async function(this: object) {
  assert.deepEqual(await query(stateOf(this), publicTables), APP_TABLES)
})

Then("the database still records the migrations of the first start only", async function(this: object) {
  const state = stateOf(this)
  const rows = await query(state, migrationRows)
  assert.equal(rows.length, Object.keys(migrations).length)
  assert.equal(JSON.stringify(recorded(rows)), state.firstMigrationAt)
})

Then("an embedded PostgreSQL serves the {string} database from that directory", async function(this: object, name: string) {
  const state = stateOf(this)
  assert.ok(state.dataDir)
  const { url, source } = await query(state, Database.DatabaseUrl)
  assert.equal(source, "embedded")
  assert.equal(new URL(Redacted.value(url)).pathname, `/${name}`)
  const [row] = await query(
    state,
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<{ database: string; data_directory: string }>`
        SELECT current_database() AS database, current_setting('data_directory') AS data_directory`)
  )
  assert.deepEqual(row, { database: name, data_directory: state.dataDir })
})

Then("no embedded PostgreSQL runs in that directory any more", function(this: object) {
  const { dataDir } = stateOf(this)
  assert.ok(dataDir)
  assert.equal(EmbeddedPostgres.readPostmasterPid(dataDir), undefined)
  assert.ok(fs.existsSync(path.join(dataDir, "PG_VERSION")), "the data directory is kept")
})

After({ timeout: 30_000 }, async function(this: object) {
  const state = states.get(this)
  if (state === undefined) return
  await stopLayer(state)
  await state.dropDatabase?.()
  if (state.tempDir !== undefined) fs.rmSync(state.tempDir, { recursive: true, force: true })
})

// A running embedded test server (when 127.0.0.1:5432 is not reachable) would keep cucumber's process alive.
AfterAll({ timeout: 30_000 }, stopTestServer)
