import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { ADMIN_HANDLE, bootstrapAdmin, DEFAULT_ADMIN_PASSWORD } from "../../layers/BootstrapAdmin.ts"
import { Passwords } from "../../layers/Passwords.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/**
 * The admin bootstrap on a real PostgreSQL, hashing with Passwords.Test (the Argon2 cost is tested in
 * Passwords.test.ts): created once with a credential for the configured password, never replaced.
 */

const TestLayer = Layer.merge(TestDatabase.layer, Passwords.Test)

const withPassword = (password: string | undefined) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(password === undefined ? [] : [["BOOTSTRAP_ADMIN_PASSWORD", password]])))

const reset = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`TRUNCATE users CASCADE`)

const adminCredentials = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ is_active: boolean; hash_alg: string; phc: string }>`
    SELECT u.is_active, c.hash_alg, convert_from(c.password_hash, 'UTF8') AS phc
    FROM users u JOIN password_credentials c ON c.user_id = u.id WHERE u.handle = ${ADMIN_HANDLE}`)

const verifies = (phc: string, password: string) => Effect.flatMap(Passwords, (p) => p.verify(phc, Redacted.make(password)))

it.layer(TestLayer, { timeout: 60_000 })("bootstrapAdmin", (it) => {
  describe("without an admin", () => {
    it.effect("creates an active admin whose credential verifies the configured password", () =>
      Effect.gen(function*() {
        yield* reset
        yield* bootstrapAdmin.pipe(withPassword("s3cret-enough"))
        const rows = yield* adminCredentials
        expect(rows.map((r) => [r.is_active, r.hash_alg])).toEqual([[true, "argon2id"]])
        expect(yield* verifies(rows[0]!.phc, "s3cret-enough")).toBe(true)
        expect(yield* verifies(rows[0]!.phc, DEFAULT_ADMIN_PASSWORD)).toBe(false)
      }))

    it.effect("uses the documented default when the password is unset or empty", () =>
      Effect.gen(function*() {
        for (const configured of [undefined, ""]) {
          yield* reset
          yield* bootstrapAdmin.pipe(withPassword(configured))
          const rows = yield* adminCredentials
          expect(rows).toHaveLength(1)
          expect(yield* verifies(rows[0]!.phc, DEFAULT_ADMIN_PASSWORD)).toBe(true)
        }
      }))
  })

  describe("with an admin", () => {
    it.effect("keeps its credential whatever the password configured now", () =>
      Effect.gen(function*() {
        yield* reset
        yield* bootstrapAdmin.pipe(withPassword("first-password"))
        yield* bootstrapAdmin.pipe(withPassword("second-password"))
        yield* Effect.all([bootstrapAdmin, bootstrapAdmin], { concurrency: 2 }).pipe(withPassword("third-password"))
        const rows = yield* adminCredentials
        expect(rows).toHaveLength(1)
        expect(yield* verifies(rows[0]!.phc, "first-password")).toBe(true)
        expect(yield* verifies(rows[0]!.phc, "second-password")).toBe(false)
      }))
  })
})
