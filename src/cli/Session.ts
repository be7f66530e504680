import type { HttpClient } from "@effect/platform"
import { Config, Effect, Option, Redacted } from "effect"
import { isUnauthorized, type LocalFileError, NotLoggedIn, UsageError } from "./CliError.ts"
import * as Credentials from "./Credentials.ts"
import * as Gateway from "./Gateway.ts"
import type { HttpFailure } from "./Http.ts"

/**
 * Which gateway a command talks to, and the logged-in session it uses there. An expired access token is refreshed
 * once with the stored refresh token (the new pair replaces the old one on disk) and the call is retried.
 */

export const DEFAULT_GATEWAY_URL = "http://localhost:12080"

/** `http(s)://host[:port][/base]` without a trailing slash. */
export const normalizeUrl = (raw: string, what: string): Effect.Effect<string, UsageError> =>
  Effect.try({
    try: () => {
      const url = new URL(raw.trim())
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http(s)")
      if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") throw new Error("extra parts")
      return url.toString().replace(/\/+$/, "")
    },
    catch: () => new UsageError({ message: `${what} must be an http(s) URL like ${DEFAULT_GATEWAY_URL}, got ${JSON.stringify(raw)}` })
  })

/** `--gateway`, else `CYNODE_GATEWAY_URL`, else the gateway of the stored login, else the default. */
export const resolveGateway = (flag: Option.Option<string>): Effect.Effect<string, UsageError | LocalFileError> =>
  Effect.gen(function*() {
    if (Option.isSome(flag)) return yield* normalizeUrl(flag.value, "--gateway")
    const fromEnv = yield* Config.option(Config.nonEmptyString("CYNODE_GATEWAY_URL")).pipe(Effect.orDie)
    if (Option.isSome(fromEnv)) return yield* normalizeUrl(fromEnv.value, "CYNODE_GATEWAY_URL")
    const stored = yield* Credentials.load
    return Option.isSome(stored) ? stored.value.gatewayUrl : DEFAULT_GATEWAY_URL
  })

export interface Session {
  readonly gatewayUrl: string
  readonly handle: string
}

/**
 * Runs `use` with the stored access token for the resolved gateway; on a 401 it refreshes once and retries.
 * Tokens are only ever sent to the gateway they came from.
 */
export const authenticated = <A, E, R>(
  gatewayFlag: Option.Option<string>,
  use: (gatewayUrl: string, token: Redacted.Redacted<string>, session: Session) => Effect.Effect<A, E | HttpFailure, R>
): Effect.Effect<A, E | HttpFailure | NotLoggedIn | UsageError | LocalFileError, R | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const gatewayUrl = yield* resolveGateway(gatewayFlag)
    const stored = yield* Credentials.load
    if (Option.isNone(stored)) {
      return yield* new NotLoggedIn({ reason: "run `cynode login` first" })
    }
    const credentials = stored.value
    if (credentials.gatewayUrl !== gatewayUrl) {
      return yield* new NotLoggedIn({
        reason: `the stored login is for ${credentials.gatewayUrl}, not ${gatewayUrl}; run \`cynode login --gateway ${gatewayUrl}\``
      })
    }
    const session: Session = { gatewayUrl, handle: credentials.handle }
    return yield* use(gatewayUrl, credentials.accessToken, session).pipe(
      Effect.catchIf(isUnauthorized, (unauthorized) =>
        refreshUnderLock(credentials).pipe(
          // The refresh token no longer works either: report the original 401.
          Effect.catchIf(isUnauthorized, () => Effect.fail(unauthorized)),
          Effect.flatMap((accessToken) => use(gatewayUrl, accessToken, session))
        ))
    )
  })

/**
 * Refreshes the stored session holding the credentials lock. When another command refreshed it meanwhile (the
 * stored refresh token is no longer the one this command read), its new access token is used instead: refreshing
 * the old token again would look like token reuse to the gateway.
 */
const refreshUnderLock = (credentials: Credentials.Credentials) =>
  Credentials.withLock(
    Effect.gen(function*() {
      const current = yield* Credentials.load
      if (
        Option.isSome(current) && current.value.gatewayUrl === credentials.gatewayUrl &&
        Redacted.value(current.value.refreshToken) !== Redacted.value(credentials.refreshToken)
      ) {
        return current.value.accessToken
      }
      const pair = yield* Gateway.refresh(credentials.gatewayUrl, credentials.refreshToken)
      yield* Credentials.save({
        ...credentials,
        accessToken: Redacted.make(pair.access_token),
        refreshToken: Redacted.make(pair.refresh_token)
      })
      return Redacted.make(pair.access_token)
    })
  )
