import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Config, type ConfigError, Context, Effect, Layer, Option, Redacted } from "effect"
import { migrations } from "../migrations/index.ts"
import * as EmbeddedPostgres from "./EmbeddedPostgres.ts"

/**
 * The database every program uses: `@effect/sql-pg`'s PgClient (and SqlClient), migrated on start.
 * `DATABASE_URL` set ⇒ connect there; unset ⇒ start an embedded PostgreSQL in `CYNODE_DATA_DIR`
 * (default `.cynode/pgdata`) on `CYNODE_PG_PORT` (default 15432), stopped when the layer's scope closes.
 */

/** The database the process uses, so a launcher (`just up`) can hand one embedded database to every program. */
export class DatabaseUrl extends Context.Tag("cynode/DatabaseUrl")<DatabaseUrl, {
  readonly url: Redacted.Redacted<string>
  /** `env`: DATABASE_URL; `embedded`: a server this process started; `explicit`: given in code (tests). */
  readonly source: "env" | "embedded" | "explicit"
}>() {}

/** The database created on the embedded server. */
export const EMBEDDED_DATABASE = "cynode"

/** DATABASE_URL; an empty value counts as unset (`DATABASE_URL= just up`). */
const databaseUrlConfig = Config.option(Config.redacted("DATABASE_URL")).pipe(
  Config.map(Option.filter((url) => Redacted.value(url).trim() !== ""))
)

const embeddedConfig = Config.all({
  dataDir: Config.string("CYNODE_DATA_DIR").pipe(Config.withDefault(".cynode/pgdata")),
  port: Config.port("CYNODE_PG_PORT").pipe(Config.withDefault(15432))
})

/** Resolves the database URL from the environment, starting the embedded server when DATABASE_URL is unset. */
export const urlLayer: Layer.Layer<DatabaseUrl, ConfigError.ConfigError | EmbeddedPostgres.EmbeddedPostgresError> =
  Layer.scoped(
    DatabaseUrl,
    Effect.gen(function*() {
      const configured = yield* databaseUrlConfig
      if (Option.isSome(configured)) return DatabaseUrl.of({ url: configured.value, source: "env" })
      const server = yield* EmbeddedPostgres.start(yield* embeddedConfig)
      yield* EmbeddedPostgres.ensureDatabase(server, EMBEDDED_DATABASE)
      return DatabaseUrl.of({ url: server.urlFor(EMBEDDED_DATABASE), source: "embedded" })
    })
  )

// --- Migrations ---

/** Newest migration this build knows; `/readyz` compares it with the database. */
export const latestMigrationId: number = Math.max(...Object.keys(migrations).map((key) => Number.parseInt(key, 10)))

const MIGRATIONS_TABLE = "effect_sql_migrations"

/** Advisory lock key held while migrating (ASCII "cynode"); advisory locks are per database. */
const MIGRATION_LOCK_KEY = 0x63796e6f6465

const runMigrator = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: MIGRATIONS_TABLE })

/**
 * Applies pending migrations and returns those it applied (empty when up to date). A session advisory lock on one
 * reserved connection covers the whole migrator run, including creating its bookkeeping table, so programs
 * starting together against a fresh database wait for each other instead of racing.
 */
export const migrate: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const lockConnection = yield* sql.reserve
  yield* lockConnection.executeRaw("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY])
  yield* Effect.addFinalizer(() =>
    lockConnection.executeRaw("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).pipe(Effect.ignore)
  )
  const applied = yield* runMigrator
  if (applied.length > 0) {
    yield* Effect.logInfo("database migrated").pipe(
      Effect.annotateLogs("migrations", applied.map(([id, name]) => `${id}_${name}`).join(","))
    )
  }
  return applied
}).pipe(Effect.scoped, Effect.withSpan("Database.migrate"))

/** True when the database has every migration this build knows (for `/readyz`). */
export const migrationsApplied: Effect.Effect<boolean, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [table] = yield* sql<{ present: boolean }>`SELECT to_regclass(${MIGRATIONS_TABLE}) IS NOT NULL AS present`
  if (table?.present !== true) return false
  const [latest] = yield* sql<{ id: number | null }>`SELECT max(migration_id) AS id FROM ${sql(MIGRATIONS_TABLE)}`
  return (latest?.id ?? 0) >= latestMigrationId
}).pipe(Effect.withSpan("Database.migrationsApplied"))

// --- Layers ---

type Services = PgClient.PgClient | SqlClient.SqlClient | DatabaseUrl
type StartError = SqlError | Migrator.MigrationError

/** PgClient + SqlClient for the DatabaseUrl in context, migrated before anything uses them. */
const migratedClient: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, StartError, DatabaseUrl> = Layer
  .effectDiscard(migrate)
  .pipe(
    Layer.provideMerge(
      Layer.unwrapEffect(Effect.map(DatabaseUrl, ({ url }) => PgClient.layer({ url, applicationName: "cynode" })))
    )
  )

/** What programs use: URL from the environment (or an embedded server), client, migrations applied. */
export const layer: Layer.Layer<Services, StartError | ConfigError.ConfigError | EmbeddedPostgres.EmbeddedPostgresError> =
  migratedClient.pipe(Layer.provideMerge(urlLayer))

/** The same for an explicit URL (tests, or a launcher that already resolved one). */
export const layerFromUrl = (url: Redacted.Redacted<string>): Layer.Layer<Services, StartError> =>
  migratedClient.pipe(Layer.provideMerge(Layer.succeed(DatabaseUrl, DatabaseUrl.of({ url, source: "explicit" }))))
