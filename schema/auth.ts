import { Schema } from "effect"
import { Identifier, SafeString, Uuid } from "./ids.ts"

/** Wire shapes of the gateway's identity routes (user-gateway.md §3). Request bodies refuse unknown fields. */

/** Unknown fields are errors, and every failing field is reported, not just the first. */
export const strictBody = { parseOptions: { onExcessProperty: "error", errors: "all" } } as const

const Password = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(1024))

export const LoginRequest = Schema.Struct({
  handle: SafeString.pipe(Schema.minLength(1), Schema.maxLength(128)),
  password: Password
}).annotations({ ...strictBody, identifier: "LoginRequest" })
export type LoginRequest = typeof LoginRequest.Type

export const RefreshRequest = Schema.Struct({
  refresh_token: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(8192))
}).annotations({ ...strictBody, identifier: "RefreshRequest" })
export type RefreshRequest = typeof RefreshRequest.Type

/** Logout's body is optional: an empty body decodes as `null`. */
export const LogoutRequest = Schema.NullOr(
  Schema.Struct({
    refresh_token: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(8192)), { exact: true })
  }).annotations({ ...strictBody, identifier: "LogoutRequest" })
)
export type LogoutRequest = typeof LogoutRequest.Type

export const TokenPair = Schema.Struct({
  access_token: Schema.String,
  refresh_token: Schema.String,
  token_type: Schema.Literal("Bearer"),
  /** Access-token lifetime in seconds. */
  expires_in: Schema.Int
}).annotations({ identifier: "TokenPair" })
export type TokenPair = typeof TokenPair.Type

export const UserView = Schema.Struct({
  id: Uuid,
  handle: Schema.String,
  email: Schema.optional(Schema.String),
  is_active: Schema.Boolean
}).annotations({ identifier: "User" })
export type UserView = typeof UserView.Type

export const UserList = Schema.Struct({ users: Schema.Array(UserView) }).annotations({ identifier: "UserList" })
export type UserList = typeof UserList.Type

export const CreateUserRequest = Schema.Struct({
  handle: Identifier,
  password: Password
}).annotations({ ...strictBody, identifier: "CreateUserRequest" })
export type CreateUserRequest = typeof CreateUserRequest.Type

export const CreatedUser = Schema.Struct({
  id: Uuid,
  handle: Schema.String,
  is_active: Schema.Boolean
}).annotations({ identifier: "CreatedUser" })
export type CreatedUser = typeof CreatedUser.Type

export const UserIdPath = Schema.Struct({ id: Uuid })
