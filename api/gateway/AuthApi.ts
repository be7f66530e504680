import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { LoginRequest, LogoutRequest, RefreshRequest, TokenPair, UserView } from "../../schema/auth.ts"
import { BadRequest, TooManyRequests, Unauthorized } from "../../schema/problem.ts"
import { Authentication } from "./AuthMiddleware.ts"

/** Login and refresh (open, throttled) — user-gateway.md §3. */
export class AuthApi extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.post("login", "/v1/auth/login")
      .setPayload(LoginRequest)
      .addSuccess(TokenPair)
      .addError(Unauthorized)
      .addError(TooManyRequests)
  )
  .add(
    HttpApiEndpoint.post("refresh", "/v1/auth/refresh")
      .setPayload(RefreshRequest)
      .addSuccess(TokenPair)
      .addError(Unauthorized)
      .addError(TooManyRequests)
  )
{}

/** The caller's own account: logout and who-am-I (bearer). */
export class AccountApi extends HttpApiGroup.make("account")
  .add(
    HttpApiEndpoint.post("logout", "/v1/auth/logout")
      .setPayload(LogoutRequest)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(BadRequest)
  )
  .add(HttpApiEndpoint.get("me", "/v1/users/me").addSuccess(UserView))
  .middleware(Authentication)
{}
