import { SqlClient, SqlSchema } from "@effect/sql"
import { Config, Effect, Layer, Option, Redacted, Schema } from "effect"
import { insertCredential, Passwords } from "./Passwords.ts"

/**
 * The admin, shared by the gateway and the control plane (user-gateway.md §3 "Bootstrap"): the one handle that
 * administers, and its bootstrap. When user `admin` is absent, insert it, active, with an Argon2id credential for
 * `BOOTSTRAP_ADMIN_PASSWORD`. Conflict-ignored, because both programs run it at start. The documented default
 * `admin123` is for local use only and is announced loudly.
 */
export const ADMIN_HANDLE = "admin"
export const DEFAULT_ADMIN_PASSWORD = "admin123"

export const isAdminHandle = (handle: string): boolean => handle === ADMIN_HANDLE

const adminExists = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  SqlSchema.single({
    Request: Schema.String,
    Result: Schema.Struct({ n: Schema.Number }),
    execute: (handle) => sql`SELECT count(*)::int AS n FROM users WHERE handle = ${handle}`
  })(ADMIN_HANDLE).pipe(
    Effect.map(({ n }) => n > 0),
    Effect.orDie
  ))

/** The admin and its credential in one transaction; false when another program created it first. */
const createAdmin = (phc: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const insertUser = SqlSchema.findOne({
      Request: Schema.String,
      Result: Schema.Struct({ id: Schema.String }),
      execute: (handle) =>
        sql`INSERT INTO users (handle, is_active) VALUES (${handle}, true) ON CONFLICT (handle) DO NOTHING RETURNING id`
    })
    const storeCredential = insertCredential(sql)
    return sql.withTransaction(
      Effect.gen(function*() {
        const user = yield* insertUser(ADMIN_HANDLE)
        if (Option.isNone(user)) return false
        yield* storeCredential({ userId: user.value.id, phc: Buffer.from(phc, "utf8") })
        return true
      })
    ).pipe(Effect.orDie)
  })

export const bootstrapAdmin = Effect.gen(function*() {
  const configured = yield* Config.option(Config.redacted("BOOTSTRAP_ADMIN_PASSWORD"))
  const password = configured._tag === "Some" && Redacted.value(configured.value) !== ""
    ? configured.value
    : Redacted.make(DEFAULT_ADMIN_PASSWORD)
  const usingDefault = Redacted.value(password) === DEFAULT_ADMIN_PASSWORD
  if (yield* adminExists) {
    if (usingDefault) yield* Effect.logDebug("admin exists; BOOTSTRAP_ADMIN_PASSWORD not used")
    return
  }
  const passwords = yield* Passwords
  const created = yield* createAdmin(yield* passwords.hash(password))
  if (!created) return
  yield* Effect.logInfo("bootstrap admin created").pipe(Effect.annotateLogs("handle", ADMIN_HANDLE))
  if (usingDefault) {
    yield* Effect.logWarning(
      "SECURITY WARNING: the bootstrap admin uses the documented default password; set BOOTSTRAP_ADMIN_PASSWORD " +
        "and change it before exposing this service (local use only)"
    )
  }
}).pipe(Effect.withSpan("BootstrapAdmin.run"))

/** For `main.ts`: runs the bootstrap while the program's layers are built. */
export const BootstrapAdminLive = Layer.effectDiscard(bootstrapAdmin)
