import { Clock, Context, Effect, Exit, Layer, Option, Redacted, Schema } from "effect"
import { createHash, randomUUID, timingSafeEqual } from "node:crypto"
import { Jwt } from "../../layers/Jwt.ts"
import type { TokenPair } from "../../schema/auth.ts"
import { Uuid } from "../../schema/ids.ts"
import { Unauthorized } from "../../schema/problem.ts"
import { Audit } from "./Audit.ts"
import type { ClientInfo } from "./ClientInfo.ts"
import { GatewayConfig } from "./GatewayConfig.ts"
import { SessionsRepo } from "./SessionsRepo.ts"
import type { AuthenticatedUser } from "../../api/gateway/AuthMiddleware.ts"

/**
 * Sessions and tokens (user-gateway.md §3): a login opens a session (a token family, id = `sid`); both tokens carry
 * `sid`; every request re-checks the session, so revocation takes effect at once; refresh rotates the family's
 * token with one conditional UPDATE, and a token that is not the current one revokes the family (reuse).
 * A token just rotated stays good for a short grace window, for the same answer only: two clients of one session
 * refreshing at once (two CLI commands) both get the pair the first rotation issued, instead of a reuse revocation.
 */

export type { AuthenticatedUser }

const AccessClaims = Schema.Struct({ sub: Uuid, sid: Uuid, handle: Schema.String })
const RefreshClaims = Schema.Struct({ sub: Uuid, sid: Uuid })

/** SHA-256 of a refresh token: what `refresh_sessions.refresh_token_hash` holds. */
export const tokenHash = (token: string): Buffer => createHash("sha256").update(token, "utf8").digest()

const sameHash = (a: Uint8Array, b: Uint8Array) => a.length === b.length && timingSafeEqual(a, b)

const refreshRefused = new Unauthorized({ detail: "invalid refresh token" })
const accessRefused = new Unauthorized({ detail: "invalid or expired access token" })

export const makeSessions = Effect.gen(function*() {
  const jwt = yield* Jwt
  const repo = yield* SessionsRepo
  const audit = yield* Audit
  const settings = yield* GatewayConfig

  const signPair = (user: { readonly id: string; readonly handle: string }, sid: string) =>
    Effect.gen(function*() {
      const access = yield* jwt.sign({
        tokenType: "access",
        subject: user.id,
        ttlMs: settings.accessTtlMs,
        claims: { user_id: user.id, handle: user.handle, sid }
      })
      const refresh = yield* jwt.sign({
        tokenType: "refresh",
        subject: user.id,
        ttlMs: settings.refreshTtlMs,
        claims: { user_id: user.id, sid }
      })
      return { access, refresh }
    })

  const toPair = (access: Redacted.Redacted<string>, refresh: Redacted.Redacted<string>): TokenPair => ({
    access_token: Redacted.value(access),
    refresh_token: Redacted.value(refresh),
    token_type: "Bearer",
    expires_in: Math.round(settings.accessTtlMs / 1000)
  })

  /** Opens a session for a user who just proved their password. */
  const start = (user: { readonly id: string; readonly handle: string }) =>
    Effect.gen(function*() {
      const sid = randomUUID()
      const { access, refresh } = yield* signPair(user, sid)
      yield* repo.insert(sid, user.id, tokenHash(Redacted.value(refresh.token)), refresh.expiresAt)
      return toPair(access.token, refresh.token)
    }).pipe(Effect.withSpan("Sessions.start"))

  const refreshClaims = (token: string) =>
    jwt.verify(token, { tokenType: "refresh" }).pipe(
      Effect.flatMap(Schema.decodeUnknown(RefreshClaims)),
      Effect.option
    )

  const rotate = (token: string, client: ClientInfo) =>
    Effect.gen(function*() {
      const fail = (reason: string, extra: { user_id?: string; subject_handle?: string } = {}) =>
        Effect.zipRight(
          audit.record({ event_type: "refresh_failure", success: false, reason, ip: client.ip, user_agent: client.userAgent, ...extra }),
          Effect.fail(refreshRefused)
        )
      const claims = yield* refreshClaims(token)
      if (Option.isNone(claims)) return yield* fail("invalid_token")
      const { sid, sub } = claims.value
      const session = yield* repo.find(sid)
      if (session === undefined || session.user_id !== sub) return yield* fail("unknown_session")
      const who = { user_id: session.user_id, subject_handle: session.handle }
      if (!session.is_active) return yield* fail("session_inactive", who)
      if (session.expired) return yield* fail("session_expired", who)
      const presented = tokenHash(token)
      const revokeForReuse = Effect.zipRight(
        repo.deactivate(sid),
        audit.record({ event_type: "session_revoked", success: true, reason: "refresh_token_reuse", ip: client.ip, user_agent: client.userAgent, ...who })
      ).pipe(Effect.zipRight(Effect.fail(refreshRefused)))
      if (!sameHash(session.refresh_token_hash, presented)) return yield* revokeForReuse
      if (!session.user_active) {
        yield* repo.deactivate(sid)
        return yield* fail("user_inactive", who)
      }
      const { access, refresh: next } = yield* signPair({ id: session.user_id, handle: session.handle }, sid)
      const rotated = yield* repo.rotate(sid, presented, tokenHash(Redacted.value(next.token)), next.expiresAt)
      if (!rotated) return yield* revokeForReuse
      yield* audit.record({ event_type: "refresh_success", success: true, ip: client.ip, user_agent: client.userAgent, ...who })
      return toPair(access.token, next.token)
    })

  /** Rotations by presented token hash: in flight (until = Infinity) or answered within the grace window. */
  type RotateError = Effect.Effect.Error<ReturnType<typeof rotate>>
  const rotations = new Map<string, { readonly answer: Effect.Effect<TokenPair, RotateError>; until: number }>()

  const refresh = (token: string, client: ClientInfo) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (const [key, entry] of rotations) if (entry.until <= now) rotations.delete(key)
      const key = tokenHash(token).toString("hex")
      const existing = rotations.get(key)
      if (existing !== undefined) return yield* existing.answer
      // Runs once; a concurrent refresh with the same token waits for the same answer.
      const answer = yield* Effect.cached(rotate(token, client))
      const entry = { answer, until: Number.POSITIVE_INFINITY }
      rotations.set(key, entry)
      const exit = yield* Effect.exit(answer)
      if (Exit.isSuccess(exit)) entry.until = (yield* Clock.currentTimeMillis) + settings.refreshGraceMs
      else rotations.delete(key)
      return yield* exit
    }).pipe(Effect.withSpan("Sessions.refresh"))

  /** The per-request check behind every bearer route: a valid access token of a live session of an active user. */
  const authenticate = (token: string) =>
    Effect.gen(function*() {
      const payload = yield* jwt.verify(token, { tokenType: "access" }).pipe(Effect.mapError(() => accessRefused))
      const claims = yield* Schema.decodeUnknown(AccessClaims)(payload).pipe(Effect.mapError(() => accessRefused))
      const live = yield* repo.findLive(claims.sid, claims.sub)
      if (live === undefined) return yield* Effect.fail(accessRefused)
      return { id: live.user_id, handle: live.handle, sid: claims.sid } satisfies AuthenticatedUser
    }).pipe(Effect.withSpan("Sessions.authenticate"))

  return {
    start,
    refresh,
    authenticate,
    /** The session a refresh token belongs to (for logout's optional body), if the token is valid. */
    sessionOf: refreshClaims,
    revoke: repo.deactivate,
    revokeAllFor: repo.deactivateAllFor
  } as const
})

export class Sessions extends Context.Tag("cynode/user-gateway/Sessions")<
  Sessions,
  Effect.Effect.Success<typeof makeSessions>
>() {
  static readonly Live = Layer.effect(Sessions, makeSessions)
}
