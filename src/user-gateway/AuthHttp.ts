import { HttpApiBuilder } from "@effect/platform"
import { Effect, Either, Exit, Option, Redacted } from "effect"
import { Passwords } from "../../layers/Passwords.ts"
import type { LoginRequest } from "../../schema/auth.ts"
import { BadRequest, TooManyRequests, Unauthorized } from "../../schema/problem.ts"
import { Audit } from "./Audit.ts"
import { CurrentUser } from "./Authentication.ts"
import { clientInfo, type ClientInfo } from "./ClientInfo.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"
import { LoginThrottle, type Refusal } from "./LoginThrottle.ts"
import { Sessions } from "./Sessions.ts"
import { UsersRepo } from "./UsersRepo.ts"

/** Handlers for login/refresh and the caller's account (user-gateway.md §3). */

/** The one answer for every failed login, whatever the cause (the cause goes to the audit log only). */
const invalidCredentials = new Unauthorized({ detail: "Invalid credentials" })

const tooMany = (refusal: Refusal) =>
  new TooManyRequests({
    detail: refusal.reason === "locked_out"
      ? "too many failed attempts; try again later"
      : refusal.reason === "login_in_flight"
      ? "another login for this handle is being checked; try again shortly"
      : "too many requests; try again later",
    retry_after_seconds: refusal.retryAfterSeconds
  })

const login = (body: LoginRequest, client: ClientInfo) =>
  Effect.gen(function*() {
    const throttle = yield* LoginThrottle
    const audit = yield* Audit
    const who = { subject_handle: body.handle, ip: client.ip, user_agent: client.userAgent }

    const admission = yield* throttle.admitLogin(client.ip, body.handle)
    if (Either.isLeft(admission)) {
      yield* audit.record({ event_type: "login_failure", success: false, reason: admission.left.reason, ...who })
      return yield* Effect.fail(tooMany(admission.left))
    }
    const admittedAt = admission.right
    return yield* check(body, client).pipe(
      Effect.onExit((exit) => throttle.settleLogin(client.ip, body.handle, admittedAt, Exit.isSuccess(exit)))
    )
  }).pipe(Effect.withSpan("Auth.login"))

/** One admitted attempt: the password check and, on success, a new session. */
const check = (body: LoginRequest, client: ClientInfo) =>
  Effect.gen(function*() {
    const audit = yield* Audit
    const users = yield* UsersRepo
    const passwords = yield* Passwords
    const sessions = yield* Sessions
    const who = { subject_handle: body.handle, ip: client.ip, user_agent: client.userAgent }
    const user = yield* users.findForLogin(body.handle)
    const stored = user?.password_hash == null ? undefined : Buffer.from(user.password_hash).toString("utf8")
    // Exactly one Argon2id verification on every path, so timing does not tell unknown handles apart.
    const matches = yield* passwords.verify(stored, Redacted.make(body.password))
    const reason = user === undefined
      ? "unknown_handle"
      : stored === undefined
      ? "no_credential"
      : !matches
      ? "bad_password"
      : !user.is_active
      ? "user_inactive"
      : undefined
    if (user === undefined || reason !== undefined) {
      yield* audit.record({ event_type: "login_failure", success: false, reason, user_id: user?.id, ...who })
      return yield* Effect.fail(invalidCredentials)
    }
    const pair = yield* sessions.start(user)
    yield* audit.record({ event_type: "login_success", success: true, user_id: user.id, ...who })
    return pair
  })

export const AuthHttpLive = HttpApiBuilder.group(GatewayApi, "auth", (handlers) =>
  handlers
    .handle("login", ({ payload }) => Effect.flatMap(clientInfo, (client) => login(payload, client)))
    .handle("refresh", ({ payload }) =>
      Effect.gen(function*() {
        const client = yield* clientInfo
        const refusal = yield* (yield* LoginThrottle).admitRefresh(client.ip)
        if (refusal !== undefined) {
          yield* (yield* Audit).record({ event_type: "refresh_failure", success: false, reason: refusal.reason, ip: client.ip, user_agent: client.userAgent })
          return yield* Effect.fail(tooMany(refusal))
        }
        return yield* (yield* Sessions).refresh(payload.refresh_token, client)
      })))

export const AccountHttpLive = HttpApiBuilder.group(GatewayApi, "account", (handlers) =>
  handlers
    .handle("logout", ({ payload }) =>
      Effect.gen(function*() {
        const user = yield* CurrentUser
        const sessions = yield* Sessions
        const client = yield* clientInfo
        const bodyToken = payload?.refresh_token
        // The body's token must be the caller's own, or it is refused before anything changes.
        const other = bodyToken === undefined ? Option.none() : yield* sessions.sessionOf(bodyToken)
        if (bodyToken !== undefined && (Option.isNone(other) || other.value.sub !== user.id)) {
          return yield* Effect.fail(new BadRequest({
            detail: "refresh_token is not a valid refresh token of the caller",
            errors: [{ path: "refresh_token", message: "not a valid refresh token of the caller" }]
          }))
        }
        yield* sessions.revoke(user.sid)
        if (Option.isSome(other) && other.value.sid !== user.sid) yield* sessions.revoke(other.value.sid)
        yield* (yield* Audit).record({
          event_type: "logout",
          success: true,
          user_id: user.id,
          subject_handle: user.handle,
          ip: client.ip,
          user_agent: client.userAgent
        })
      }))
    .handle("me", () =>
      Effect.gen(function*() {
        const current = yield* CurrentUser
        const user = yield* (yield* UsersRepo).findById(current.id)
        if (user === undefined) return yield* Effect.fail(new Unauthorized({ detail: "invalid or expired access token" }))
        return {
          id: user.id,
          handle: user.handle,
          ...(user.email !== null ? { email: user.email } : {}),
          is_active: user.is_active
        }
      })))
