import { SqlClient, SqlError, SqlSchema } from "@effect/sql"
import { Context, Data, Effect, Layer, Option, Schema } from "effect"
import { insertCredential } from "../../layers/Passwords.ts"

/** Users and their password credentials (user-gateway.md §3, §6). */

export const UserRow = Schema.Struct({
  id: Schema.String,
  handle: Schema.String,
  email: Schema.NullOr(Schema.String),
  is_active: Schema.Boolean
}).annotations({ identifier: "UserRow" })
export type UserRow = typeof UserRow.Type

export const LoginRow = Schema.Struct({
  ...UserRow.fields,
  /** The PHC string (bytea, a Buffer from the driver), when the user has a password credential. */
  password_hash: Schema.NullOr(Schema.Uint8ArrayFromSelf)
}).annotations({ identifier: "LoginRow" })
export type LoginRow = typeof LoginRow.Type

const IdRow = Schema.Struct({ id: Schema.String })

export class HandleTaken extends Data.TaggedError("HandleTaken")<{ readonly handle: string }> {}

const UNIQUE_VIOLATION = "23505"

const isUniqueViolation = (error: SqlError.SqlError) =>
  typeof error.cause === "object" && error.cause !== null && "code" in error.cause &&
  error.cause.code === UNIQUE_VIOLATION

export const makeUsersRepo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const loginByHandle = SqlSchema.findOne({
    Request: Schema.String,
    Result: LoginRow,
    execute: (handle) =>
      sql`
        SELECT u.id, u.handle, u.email, u.is_active, c.password_hash
        FROM users u LEFT JOIN password_credentials c ON c.user_id = u.id
        WHERE u.handle = ${handle}`
  })

  const findForLogin = (handle: string) =>
    loginByHandle(handle).pipe(
      Effect.map(Option.getOrUndefined),
      Effect.orDie,
      Effect.withSpan("UsersRepo.findForLogin")
    )

  const userById = SqlSchema.findOne({
    Request: Schema.String,
    Result: UserRow,
    execute: (id) => sql`SELECT id, handle, email, is_active FROM users WHERE id = ${id}`
  })

  const findById = (id: string) =>
    userById(id).pipe(Effect.map(Option.getOrUndefined), Effect.orDie, Effect.withSpan("UsersRepo.findById"))

  const insertUser = SqlSchema.single({
    Request: Schema.String,
    Result: UserRow,
    execute: (handle) =>
      sql`
        INSERT INTO users (handle, is_active) VALUES (${handle}, true)
        RETURNING id, handle, email, is_active`
  })

  const storeCredential = insertCredential(sql)

  /** A new active user and its Argon2id credential, in one transaction. */
  const create = (handle: string, phc: string) =>
    sql.withTransaction(
      Effect.gen(function*() {
        const user = yield* insertUser(handle)
        yield* storeCredential({ userId: user.id, phc: Buffer.from(phc, "utf8") })
        return user
      })
    ).pipe(
      Effect.catchAll((error) =>
        error._tag === "SqlError" && isUniqueViolation(error)
          ? Effect.fail(new HandleTaken({ handle }))
          : Effect.die(error)
      ),
      Effect.withSpan("UsersRepo.create")
    )

  const setActiveReturning = SqlSchema.findAll({
    Request: Schema.Struct({ id: Schema.String, active: Schema.Boolean }),
    Result: IdRow,
    execute: ({ active, id }) => sql`UPDATE users SET is_active = ${active} WHERE id = ${id} RETURNING id`
  })

  /** Sets `is_active`; false when there is no such user. */
  const setActive = (id: string, active: boolean) =>
    setActiveReturning({ id, active }).pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.orDie,
      Effect.withSpan("UsersRepo.setActive")
    )

  const usersByHandle = SqlSchema.findAll({
    Request: Schema.Number,
    Result: UserRow,
    execute: (limit) => sql`SELECT id, handle, email, is_active FROM users ORDER BY handle LIMIT ${limit}`
  })

  /** Every account by handle, for the admin's user list (a few hundred at most in practice; capped). */
  const list = (limit: number) => usersByHandle(limit).pipe(Effect.orDie, Effect.withSpan("UsersRepo.list"))

  return { findForLogin, findById, create, setActive, list } as const
})

export class UsersRepo extends Context.Tag("cynode/user-gateway/UsersRepo")<
  UsersRepo,
  Effect.Effect.Success<typeof makeUsersRepo>
>() {
  static readonly Live = Layer.effect(UsersRepo, makeUsersRepo)
}
