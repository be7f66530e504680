import { Effect, Layer, Redacted } from "effect"
import { Forbidden } from "../../schema/problem.ts"
import { Authentication, CurrentUser, type AuthenticatedUser } from "../../api/gateway/AuthMiddleware.ts"
import { isAdminHandle } from "../../layers/BootstrapAdmin.ts"
import { Sessions } from "./Sessions.ts"

/** Bearer authentication for every gateway route except health, login and refresh (user-gateway.md §2–§3). */

export { Authentication, CurrentUser }

export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.map(Sessions, (sessions) => ({
    bearer: (token: Redacted.Redacted<string>) => sessions.authenticate(Redacted.value(token))
  }))
)

/** Admin = the user with handle `admin` (user-gateway.md §3). */
export const isAdmin = (user: AuthenticatedUser) => isAdminHandle(user.handle)

export const requireAdmin = Effect.flatMap(CurrentUser, (user) =>
  isAdmin(user) ? Effect.succeed(user) : Effect.fail(new Forbidden({ detail: "admin only" })))
