import { HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { Context } from "effect"
import { Unauthorized } from "../../schema/problem.ts"

/**
 * The contract half of bearer authentication: the middleware tag the API groups declare and the user it provides.
 * Kept free of server code so that the gateway's HttpApi definition also compiles into the browser console.
 */

export interface AuthenticatedUser {
  readonly id: string
  readonly handle: string
  readonly sid: string
}

export class CurrentUser extends Context.Tag("cynode/user-gateway/CurrentUser")<CurrentUser, AuthenticatedUser>() {}

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("cynode/user-gateway/Authentication", {
  failure: Unauthorized,
  provides: CurrentUser,
  security: { bearer: HttpApiSecurity.bearer }
}) {}
