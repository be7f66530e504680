import { SqlClient, SqlSchema } from "@effect/sql"
import { Context, Effect, Layer, Option, Schema } from "effect"

/** `refresh_sessions`: one row per login (a token family); its id is the `sid` claim of both tokens. */

export const SessionRow = Schema.Struct({
  id: Schema.String,
  user_id: Schema.String,
  /** bytea: a Buffer from the driver. */
  refresh_token_hash: Schema.Uint8ArrayFromSelf,
  is_active: Schema.Boolean,
  expired: Schema.Boolean,
  user_active: Schema.Boolean,
  handle: Schema.String
}).annotations({ identifier: "SessionRow" })
export type SessionRow = typeof SessionRow.Type

export const LiveSession = Schema.Struct({ user_id: Schema.String, handle: Schema.String })
  .annotations({ identifier: "LiveSession" })
export type LiveSession = typeof LiveSession.Type

const IdRow = Schema.Struct({ id: Schema.String })

export const makeSessionsRepo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const insertSession = SqlSchema.void({
    Request: Schema.Struct({
      sid: Schema.String,
      userId: Schema.String,
      tokenHash: Schema.Uint8ArrayFromSelf,
      expiresAt: Schema.DateFromSelf
    }),
    execute: ({ expiresAt, sid, tokenHash, userId }) =>
      sql`
        INSERT INTO refresh_sessions (id, user_id, refresh_token_hash, is_active, expires_at)
        VALUES (${sid}, ${userId}, ${tokenHash}, true, ${expiresAt})`
  })

  const insert = (sid: string, userId: string, tokenHash: Buffer, expiresAt: Date) =>
    insertSession({ sid, userId, tokenHash, expiresAt }).pipe(Effect.orDie, Effect.withSpan("SessionsRepo.insert"))

  const sessionById = SqlSchema.findOne({
    Request: Schema.String,
    Result: SessionRow,
    execute: (sid) =>
      sql`
        SELECT s.id, s.user_id, s.refresh_token_hash, s.is_active, s.expires_at <= now() AS expired,
          u.is_active AS user_active, u.handle
        FROM refresh_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = ${sid}`
  })

  const find = (sid: string) =>
    sessionById(sid).pipe(Effect.map(Option.getOrUndefined), Effect.orDie, Effect.withSpan("SessionsRepo.find"))

  const liveSession = SqlSchema.findOne({
    Request: Schema.Struct({ sid: Schema.String, userId: Schema.String }),
    Result: LiveSession,
    execute: ({ sid, userId }) =>
      sql`
        SELECT s.user_id, u.handle
        FROM refresh_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = ${sid} AND s.user_id = ${userId} AND s.is_active AND s.expires_at > now() AND u.is_active`
  })

  /** The per-request check: the session is active and unexpired, and its user active. */
  const findLive = (sid: string, userId: string) =>
    liveSession({ sid, userId }).pipe(
      Effect.map(Option.getOrUndefined),
      Effect.orDie,
      Effect.withSpan("SessionsRepo.findLive")
    )

  const rotateReturning = SqlSchema.findAll({
    Request: Schema.Struct({
      sid: Schema.String,
      oldHash: Schema.Uint8ArrayFromSelf,
      newHash: Schema.Uint8ArrayFromSelf,
      expiresAt: Schema.DateFromSelf
    }),
    Result: IdRow,
    execute: ({ expiresAt, newHash, oldHash, sid }) =>
      sql`
        UPDATE refresh_sessions
        SET refresh_token_hash = ${newHash}, last_used_at = now(), expires_at = ${expiresAt}
        WHERE id = ${sid} AND refresh_token_hash = ${oldHash} AND is_active AND expires_at > now()
        RETURNING id`
  })

  /**
   * Rotation as one conditional UPDATE: only the holder of the current token wins, so of two parallel refreshes
   * with the same token one gets 0 rows (treated as reuse).
   */
  const rotate = (sid: string, oldHash: Buffer, newHash: Buffer, expiresAt: Date) =>
    rotateReturning({ sid, oldHash, newHash, expiresAt }).pipe(
      Effect.map((rows) => rows.length === 1),
      Effect.orDie,
      Effect.withSpan("SessionsRepo.rotate")
    )

  const deactivateOne = SqlSchema.void({
    Request: Schema.String,
    execute: (sid) => sql`UPDATE refresh_sessions SET is_active = false WHERE id = ${sid} AND is_active`
  })

  const deactivate = (sid: string) => deactivateOne(sid).pipe(Effect.orDie, Effect.withSpan("SessionsRepo.deactivate"))

  const deactivateReturning = SqlSchema.findAll({
    Request: Schema.String,
    Result: IdRow,
    execute: (userId) =>
      sql`UPDATE refresh_sessions SET is_active = false WHERE user_id = ${userId} AND is_active RETURNING id`
  })

  /** Revokes every session of a user; answers how many were active. */
  const deactivateAllFor = (userId: string) =>
    deactivateReturning(userId).pipe(
      Effect.map((rows) => rows.length),
      Effect.orDie,
      Effect.withSpan("SessionsRepo.deactivateAllFor")
    )

  return { insert, find, findLive, rotate, deactivate, deactivateAllFor } as const
})

export class SessionsRepo extends Context.Tag("cynode/user-gateway/SessionsRepo")<
  SessionsRepo,
  Effect.Effect.Success<typeof makeSessionsRepo>
>() {
  static readonly Live = Layer.effect(SessionsRepo, makeSessionsRepo)
}
