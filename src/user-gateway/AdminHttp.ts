import { HttpApiBuilder } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { Passwords } from "../../layers/Passwords.ts"
import { Conflict, NotFound } from "../../schema/problem.ts"
import { Audit, type AuditEventType } from "./Audit.ts"
import { requireAdmin } from "./Authentication.ts"
import { clientInfo } from "./ClientInfo.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"
import { Sessions } from "./Sessions.ts"
import { UsersRepo } from "./UsersRepo.ts"

/** Handlers for account management by the admin (user-gateway.md §3). */

/** The admin's user list is one page; more accounts than this are beyond what the console lists. */
export const USER_LIST_LIMIT = 1000

const noSuchUser = new NotFound({ detail: "no such user" })

/** Records an admin action on a user, as that user's audit event. */
const auditFor = (event_type: AuditEventType, userId: string, subject_handle: string, reason?: string) =>
  Effect.gen(function*() {
    const client = yield* clientInfo
    yield* (yield* Audit).record({
      event_type,
      success: true,
      user_id: userId,
      subject_handle,
      ip: client.ip,
      user_agent: client.userAgent,
      ...(reason !== undefined ? { reason } : {})
    })
  })

const existingUser = (id: string) =>
  Effect.flatMap(UsersRepo, (users) => users.findById(id)).pipe(
    Effect.flatMap((user) => (user === undefined ? Effect.fail(noSuchUser) : Effect.succeed(user)))
  )

export const AdminHttpLive = HttpApiBuilder.group(GatewayApi, "admin", (handlers) =>
  handlers
    .handle("listUsers", () =>
      Effect.gen(function*() {
        yield* requireAdmin
        const rows = yield* (yield* UsersRepo).list(USER_LIST_LIMIT)
        return {
          users: rows.map((u) => ({
            id: u.id,
            handle: u.handle,
            is_active: u.is_active,
            ...(u.email === null ? {} : { email: u.email })
          }))
        }
      }))
    .handle("createUser", ({ payload }) =>
      Effect.gen(function*() {
        const admin = yield* requireAdmin
        const phc = yield* (yield* Passwords).hash(Redacted.make(payload.password))
        const user = yield* (yield* UsersRepo).create(payload.handle, phc).pipe(
          Effect.catchTag("HandleTaken", () => Effect.fail(new Conflict({ detail: `handle ${payload.handle} is taken` })))
        )
        yield* auditFor("user_created", user.id, user.handle, `by ${admin.handle}`)
        return { id: user.id, handle: user.handle, is_active: user.is_active }
      }))
    .handle("revokeSessions", ({ path }) =>
      Effect.gen(function*() {
        yield* requireAdmin
        const user = yield* existingUser(path.id)
        yield* (yield* Sessions).revokeAllFor(user.id)
        yield* auditFor("session_revoked", user.id, user.handle, "admin_revoke")
      }))
    .handle("disable", ({ path }) =>
      Effect.gen(function*() {
        const admin = yield* requireAdmin
        const user = yield* existingUser(path.id)
        // Disabling oneself would leave no admin (bootstrap never re-creates an existing one).
        if (user.id === admin.id) return yield* Effect.fail(new Conflict({ detail: "an admin cannot disable their own account" }))
        yield* (yield* UsersRepo).setActive(user.id, false)
        yield* (yield* Sessions).revokeAllFor(user.id)
        yield* auditFor("user_disabled", user.id, user.handle)
      }))
    .handle("enable", ({ path }) =>
      Effect.gen(function*() {
        yield* requireAdmin
        const user = yield* existingUser(path.id)
        yield* (yield* UsersRepo).setActive(user.id, true)
        yield* auditFor("user_reenabled", user.id, user.handle)
      })))
