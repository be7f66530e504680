import { SqlClient, SqlError } from "@effect/sql"
import { Context, Data, Effect, Layer } from "effect"
import { HASH_ALG } from "../../layers/Passwords.ts"

/** Users and their password credentials (user-gateway.md §3, §6). */

export interface UserRow {
  readonly id: string
  readonly handle: string
  readonly email: string | null
  readonly is_active: boolean
}

export interface LoginRow extends UserRow {
  /** The PHC string, when the user has a password credential. */
  readonly password_hash: Uint8Array | null
}

export class HandleTaken extends Data.TaggedError("HandleTaken")<{ readonly handle: string }> {}

const UNIQUE_VIOLATION = "23505"

const isUniqueViolation = (error: SqlError.SqlError) =>
  typeof error.cause === "object" && error.cause !== null && "code" in error.cause &&
  error.cause.code === UNIQUE_VIOLATION

export const makeUsersRepo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const findForLogin = (handle: string) =>
    sql<LoginRow>`
      SELECT u.id, u.handle, u.email, u.is_active, c.password_hash
      FROM users u LEFT JOIN password_credentials c ON c.user_id = u.id
      WHERE u.handle = ${handle}`.pipe(
      Effect.map((rows) => rows[0]),
      Effect.orDie,
      Effect.withSpan("UsersRepo.findForLogin")
    )

  const findById = (id: string) =>
    sql<UserRow>`SELECT id, handle, email, is_active FROM users WHERE id = ${id}`.pipe(
      Effect.map((rows) => rows[0]),
      Effect.orDie,
      Effect.withSpan("UsersRepo.findById")
    )

  /** A new active user and its Argon2id credential, in one transaction. */
  const create = (handle: string, phc: string) =>
    sql.withTransaction(
      Effect.gen(function*() {
        const [user] = yield* sql<UserRow>`
          INSERT INTO users (handle, is_active) VALUES (${handle}, true)
          RETURNING id, handle, email, is_active`
        if (user === undefined) return yield* Effect.dieMessage("INSERT INTO users returned no row")
        yield* sql`
          INSERT INTO password_credentials (user_id, password_hash, hash_alg)
          VALUES (${user.id}, ${Buffer.from(phc, "utf8")}, ${HASH_ALG})`
        return user
      })
    ).pipe(
      Effect.catchAll((error) =>
        isUniqueViolation(error) ? Effect.fail(new HandleTaken({ handle })) : Effect.die(error)
      ),
      Effect.withSpan("UsersRepo.create")
    )

  /** Sets `is_active`; false when there is no such user. */
  const setActive = (id: string, active: boolean) =>
    sql<{ readonly id: string }>`UPDATE users SET is_active = ${active} WHERE id = ${id} RETURNING id`.pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.orDie,
      Effect.withSpan("UsersRepo.setActive")
    )

  /** Every account by handle, for the admin's user list (a few hundred at most in practice; capped). */
  const list = (limit: number) =>
    sql<UserRow>`SELECT id, handle, email, is_active FROM users ORDER BY handle LIMIT ${limit}`.pipe(
      Effect.orDie,
      Effect.withSpan("UsersRepo.list")
    )

  return { findForLogin, findById, create, setActive, list } as const
})

export class UsersRepo extends Context.Tag("cynode/user-gateway/UsersRepo")<
  UsersRepo,
  Effect.Effect.Success<typeof makeUsersRepo>
>() {
  static readonly Live = Layer.effect(UsersRepo, makeUsersRepo)
}
