import { hash, verify, type Algorithm, type Options } from "@node-rs/argon2"
import { SqlSchema, type SqlClient } from "@effect/sql"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { availableParallelism } from "node:os"

/**
 * Password hashing (user-gateway.md §3): Argon2id m=65536 KiB, t=3, p=2, 16-byte salt, 32-byte key, stored as the
 * PHC string `$argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>`; Go-made hashes in that format verify too.
 */

/** `Algorithm.Argon2id` (a const enum, which isolated modules cannot read). */
const ARGON2ID = 2 as Algorithm

export const ARGON2_OPTIONS = {
  algorithm: ARGON2ID,
  memoryCost: 65_536,
  timeCost: 3,
  parallelism: 2,
  outputLen: 32
} as const satisfies Options

export const HASH_ALG = "argon2id"

/** Stores a user's password hash (PHC string bytes): the one statement for the gateway's users and the bootstrap admin. */
export const insertCredential = (sql: SqlClient.SqlClient) =>
  SqlSchema.void({
    Request: Schema.Struct({ userId: Schema.String, phc: Schema.Uint8ArrayFromSelf }),
    execute: ({ phc, userId }) =>
      sql`
        INSERT INTO password_credentials (user_id, password_hash, hash_alg)
        VALUES (${userId}, ${phc}, ${HASH_ALG})`
  })

/**
 * How many hashes or verifications run at once. Each one holds m = 64 MiB and already keeps `parallelism` threads
 * busy, so more at a time than the cores allow adds 64 MiB of resident memory each and no throughput (on 2 cores, 8
 * one after another took 250 ms, 8 in pairs 260–350 ms); the others wait their turn.
 */
const CONCURRENT_HASHES = Math.max(1, Math.floor(availableParallelism() / ARGON2_OPTIONS.parallelism))

/**
 * Hashing with the given Argon2id parameters. Verification reads the parameters from the PHC string, so any
 * stored hash verifies whichever parameters this instance hashes with.
 */
const makePasswords = (options: Options, concurrent: number) =>
  Effect.gen(function*() {
    const turns = yield* Effect.makeSemaphore(concurrent)
    const hashPassword = (password: Redacted.Redacted<string>) =>
      Effect.promise(() => hash(Redacted.value(password), { ...options, salt: randomBytes(16) })).pipe(
        turns.withPermits(1),
        Effect.withSpan("Passwords.hash")
      )
    const dummy = yield* hashPassword(Redacted.make(randomBytes(24).toString("base64")))
    const check = (phc: string, password: string) =>
      Effect.promise(() => verify(phc, password).catch(() => false)).pipe(turns.withPermits(1))
    return {
      hash: hashPassword,
      verify: (phc: string | undefined, password: Redacted.Redacted<string>) =>
        (phc === undefined
          ? Effect.as(check(dummy, Redacted.value(password)), false)
          : check(phc, Redacted.value(password))).pipe(Effect.withSpan("Passwords.verify"))
    }
  })

/**
 * The cheapest Argon2id @node-rs/argon2 accepts (m=8 KiB, the minimum for p=1; t=1): microseconds a hash instead
 * of ~100 ms, for tests that need users but do not test the hashing cost. Never for a program.
 */
export const ARGON2_TEST_OPTIONS = {
  algorithm: ARGON2ID,
  memoryCost: 8,
  timeCost: 1,
  parallelism: 1,
  outputLen: 32
} as const satisfies Options

export class Passwords extends Context.Tag("cynode/Passwords")<Passwords, {
  /** A fresh PHC string for the password. */
  readonly hash: (password: Redacted.Redacted<string>) => Effect.Effect<string>
  /**
   * Whether the password matches the PHC string. With no stored hash it still runs one full verification against
   * a dummy hash (and answers false), so unknown users cost the same time as known ones.
   */
  readonly verify: (phc: string | undefined, password: Redacted.Redacted<string>) => Effect.Effect<boolean>
}>() {
  static readonly Live = Layer.effect(Passwords, makePasswords(ARGON2_OPTIONS, CONCURRENT_HASHES))
  /** Tests only (see ARGON2_TEST_OPTIONS): the same API, hashes that verify anywhere, and no cost to speak of. */
  static readonly Test = Layer.effect(Passwords, makePasswords(ARGON2_TEST_OPTIONS, 1))
}
