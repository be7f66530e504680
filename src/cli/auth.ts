import { Command, Options, Prompt } from "@effect/cli"
import { Config, Console, Effect, Option, Redacted } from "effect"
import * as fs from "node:fs"
import { isUnauthorized, LocalFileError, UsageError } from "./CliError.ts"
import * as Credentials from "./Credentials.ts"
import * as Gateway from "./Gateway.ts"
import { common, emit } from "./options.ts"
import { authenticated, resolveGateway } from "./Session.ts"

/** `cynode login`, `cynode logout`, `cynode whoami`. */

const user = Options.text("user").pipe(
  Options.withAlias("u"),
  Options.withDescription("handle to log in as (default: CYNODE_USER)"),
  Options.withFallbackConfig(Config.nonEmptyString("CYNODE_USER"))
)

const passwordStdin = Options.boolean("password-stdin").pipe(
  Options.withDescription("read the password from standard input (else CYNODE_PASSWORD, else a prompt)")
)

const readStdin = Effect.try({
  try: () => fs.readFileSync(0, "utf8").replace(/\r?\n$/, ""),
  catch: (cause) => new LocalFileError({ path: "<stdin>", reason: cause instanceof Error ? cause.message : String(cause) })
})

/** `--password-stdin`, else CYNODE_PASSWORD, else a hidden prompt on a terminal. */
const readPassword = (fromStdin: boolean) =>
  Effect.gen(function*() {
    if (fromStdin) {
      const text = yield* readStdin
      if (text === "") return yield* new UsageError({ message: "--password-stdin: standard input is empty" })
      return Redacted.make(text)
    }
    const fromEnv = yield* Config.option(Config.redacted("CYNODE_PASSWORD")).pipe(Effect.orDie)
    if (Option.isSome(fromEnv) && Redacted.value(fromEnv.value) !== "") return fromEnv.value
    if (process.stdin.isTTY !== true) {
      return yield* new UsageError({ message: "no password: use --password-stdin or CYNODE_PASSWORD, or run in a terminal" })
    }
    return yield* Prompt.password({ message: "Password" })
  })

export const login = Command.make(
  "login",
  { ...common, user, passwordStdin },
  ({ gateway, json, passwordStdin, user }) =>
    Effect.gen(function*() {
      const gatewayUrl = yield* resolveGateway(gateway)
      const password = yield* readPassword(passwordStdin)
      const pair = yield* Gateway.login(gatewayUrl, user, password)
      const file = yield* Credentials.save({
        gatewayUrl,
        handle: user,
        accessToken: Redacted.make(pair.access_token),
        refreshToken: Redacted.make(pair.refresh_token)
      })
      yield* emit(
        json,
        { gateway_url: gatewayUrl, handle: user, credentials_file: file, expires_in: pair.expires_in },
        () => `logged in to ${gatewayUrl} as ${user} (tokens saved in ${file})`
      )
    })
).pipe(Command.withDescription("log in to the user gateway and keep the tokens in the credentials file (0600)"))

export const logout = Command.make("logout", common, ({ gateway, json }) =>
  Effect.gen(function*() {
    const stored = yield* Credentials.load
    if (Option.isNone(stored)) {
      return yield* emit(json, { logged_out: false }, () => "not logged in")
    }
    const { gatewayUrl, handle, accessToken, refreshToken } = stored.value
    const target = Option.isSome(gateway) ? yield* resolveGateway(gateway) : gatewayUrl
    // Tell the gateway first (so both tokens die), then forget them locally whatever it said: a session the
    // gateway already revoked answers 401, which is what logging out wants anyway.
    const server = yield* Effect.either(target === gatewayUrl ? Gateway.logout(gatewayUrl, accessToken, refreshToken) : Effect.void)
    yield* Credentials.remove
    if (server._tag === "Left" && !isUnauthorized(server.left)) {
      yield* Console.error(`logged out locally; the gateway could not end the session:`)
      return yield* server.left
    }
    yield* emit(json, { logged_out: true, gateway_url: gatewayUrl, handle }, () => `logged out of ${gatewayUrl} (${handle})`)
  })).pipe(Command.withDescription("end the session on the gateway and remove the stored tokens"))

export const whoami = Command.make("whoami", common, ({ gateway, json }) =>
  authenticated(gateway, (gatewayUrl, token) => Gateway.me(gatewayUrl, token)).pipe(
    Effect.flatMap((me) => emit(json, me, () => `${me.handle} (${me.id})${me.is_active ? "" : " — disabled"}`))
  )).pipe(Command.withDescription("show the logged-in user"))
