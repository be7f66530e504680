import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** `refresh_sessions`: one row per login (a token family); its id is the `sid` claim of both tokens. */

export interface SessionRow {
  readonly id: string
  readonly user_id: string
  readonly refresh_token_hash: Uint8Array
  readonly is_active: boolean
  readonly expired: boolean
  readonly user_active: boolean
  readonly handle: string
}

export interface LiveSession {
  readonly user_id: string
  readonly handle: string
}

export const makeSessionsRepo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const insert = (sid: string, userId: string, tokenHash: Buffer, expiresAt: Date) =>
    sql`
      INSERT INTO refresh_sessions (id, user_id, refresh_token_hash, is_active, expires_at)
      VALUES (${sid}, ${userId}, ${tokenHash}, true, ${expiresAt})`.pipe(
      Effect.asVoid,
      Effect.orDie,
      Effect.withSpan("SessionsRepo.insert")
    )

  const find = (sid: string) =>
    sql<SessionRow>`
      SELECT s.id, s.user_id, s.refresh_token_hash, s.is_active, s.expires_at <= now() AS expired,
        u.is_active AS user_active, u.handle
      FROM refresh_sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = ${sid}`.pipe(Effect.map((rows) => rows[0]), Effect.orDie, Effect.withSpan("SessionsRepo.find"))

  /** The per-request check: the session is active and unexpired, and its user active. */
  const findLive = (sid: string, userId: string) =>
    sql<LiveSession>`
      SELECT s.user_id, u.handle
      FROM refresh_sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = ${sid} AND s.user_id = ${userId} AND s.is_active AND s.expires_at > now() AND u.is_active`.pipe(
      Effect.map((rows) => rows[0]),
      Effect.orDie,
      Effect.withSpan("SessionsRepo.findLive")
    )

  /**
   * Rotation as one conditional UPDATE: only the holder of the current token wins, so of two parallel refreshes
   * with the same token one gets 0 rows (treated as reuse).
   */
  const rotate = (sid: string, oldHash: Buffer, newHash: Buffer, expiresAt: Date) =>
    sql<{ readonly id: string }>`
      UPDATE refresh_sessions
      SET refresh_token_hash = ${newHash}, last_used_at = now(), expires_at = ${expiresAt}
      WHERE id = ${sid} AND refresh_token_hash = ${oldHash} AND is_active AND expires_at > now()
      RETURNING id`.pipe(Effect.map((rows) => rows.length === 1), Effect.orDie, Effect.withSpan("SessionsRepo.rotate"))

  const deactivate = (sid: string) =>
    sql`UPDATE refresh_sessions SET is_active = false WHERE id = ${sid} AND is_active`.pipe(
      Effect.asVoid,
      Effect.orDie,
      Effect.withSpan("SessionsRepo.deactivate")
    )

  /** Revokes every session of a user; answers how many were active. */
  const deactivateAllFor = (userId: string) =>
    sql<{ readonly id: string }>`
      UPDATE refresh_sessions SET is_active = false WHERE user_id = ${userId} AND is_active RETURNING id`.pipe(
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
