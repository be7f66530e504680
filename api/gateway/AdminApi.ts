import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { CreatedUser, CreateUserRequest, UserIdPath, UserList } from "../../schema/auth.ts"
import { Conflict, Forbidden, NotFound } from "../../schema/problem.ts"
import { Authentication } from "./AuthMiddleware.ts"

/** Account management by the admin (user-gateway.md §3; DECISIONS.md "Users"). Others get 403. */
export class AdminApi extends HttpApiGroup.make("admin")
  .add(HttpApiEndpoint.get("listUsers", "/v1/admin/users").addSuccess(UserList))
  .add(
    HttpApiEndpoint.post("createUser", "/v1/admin/users")
      .setPayload(CreateUserRequest)
      .addSuccess(CreatedUser, { status: 201 })
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.post("revokeSessions", "/v1/users/:id/revoke_sessions")
      .setPath(UserIdPath)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.post("disable", "/v1/users/:id/disable")
      .setPath(UserIdPath)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(NotFound)
      .addError(Conflict)
  )
  .add(
    HttpApiEndpoint.post("enable", "/v1/users/:id/enable")
      .setPath(UserIdPath)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(NotFound)
  )
  .addError(Forbidden)
  .middleware(Authentication)
{}
