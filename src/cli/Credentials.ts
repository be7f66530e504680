import { Config, Effect, Option, Redacted, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { LocalFileError } from "./CliError.ts"

/**
 * The token pair the CLI keeps between runs: `$CYNODE_CONFIG_DIR/credentials.json`, else
 * `$XDG_CONFIG_HOME/cynode/credentials.json`, else `~/.config/cynode/credentials.json`.
 * The file is written 0600 (directory 0700) and replaced atomically; tokens stay Redacted in memory.
 */

export interface Credentials {
  /** The gateway these tokens belong to: they are never sent anywhere else. */
  readonly gatewayUrl: string
  readonly handle: string
  readonly accessToken: Redacted.Redacted<string>
  readonly refreshToken: Redacted.Redacted<string>
}

const StoredCredentials = Schema.Struct({
  gateway_url: Schema.String,
  handle: Schema.String,
  access_token: Schema.String,
  refresh_token: Schema.String
})
const decodeStored = Schema.decodeUnknownEither(Schema.parseJson(StoredCredentials))

export const FILE_MODE = 0o600

/** Where the credentials file lives, from the environment (read through Effect Config so tests can override it). */
export const credentialsPath: Effect.Effect<string> = Effect.gen(function*() {
  const configDir = yield* Config.option(Config.nonEmptyString("CYNODE_CONFIG_DIR"))
  if (Option.isSome(configDir)) return path.resolve(configDir.value, "credentials.json")
  const xdg = yield* Config.option(Config.nonEmptyString("XDG_CONFIG_HOME"))
  const base = Option.getOrElse(xdg, () => path.join(os.homedir(), ".config"))
  return path.resolve(base, "cynode", "credentials.json")
}).pipe(Effect.orDie)

const fileError = (file: string, cause: unknown) =>
  new LocalFileError({ path: file, reason: cause instanceof Error ? cause.message : String(cause) })

/** The stored credentials, or None when there are none. A file others can read is tightened to 0600 first. */
export const load: Effect.Effect<Option.Option<Credentials>, LocalFileError> = Effect.gen(function*() {
  const file = yield* credentialsPath
  const text = yield* Effect.try({
    try: () => {
      if (!fs.existsSync(file)) return undefined
      if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, FILE_MODE)
      return fs.readFileSync(file, "utf8")
    },
    catch: (cause) => fileError(file, cause)
  })
  if (text === undefined) return Option.none()
  const stored = decodeStored(text)
  if (stored._tag === "Left") {
    return yield* new LocalFileError({ path: file, reason: "not a CyNode credentials file; remove it and log in again" })
  }
  const { gateway_url, handle, access_token, refresh_token } = stored.right
  return Option.some({
    gatewayUrl: gateway_url,
    handle,
    accessToken: Redacted.make(access_token),
    refreshToken: Redacted.make(refresh_token)
  })
})

/** Writes the credentials: a 0600 temporary file in a 0700 directory, renamed over the old one. */
export const save = (credentials: Credentials): Effect.Effect<string, LocalFileError> =>
  Effect.gen(function*() {
    const file = yield* credentialsPath
    const body = JSON.stringify({
      gateway_url: credentials.gatewayUrl,
      handle: credentials.handle,
      access_token: Redacted.value(credentials.accessToken),
      refresh_token: Redacted.value(credentials.refreshToken)
    }, null, 2) + "\n"
    yield* Effect.try({
      try: () => {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
        const temporary = `${file}.${process.pid}.tmp`
        fs.writeFileSync(temporary, body, { mode: FILE_MODE })
        fs.chmodSync(temporary, FILE_MODE)
        fs.renameSync(temporary, file)
      },
      catch: (cause) => fileError(file, cause)
    })
    return file
  })

/** Removes the stored credentials; true when there were some. */
export const remove: Effect.Effect<boolean, LocalFileError> = Effect.gen(function*() {
  const file = yield* credentialsPath
  return yield* Effect.try({
    try: () => {
      if (!fs.existsSync(file)) return false
      fs.rmSync(file)
      return true
    },
    catch: (cause) => fileError(file, cause)
  })
})

/** A lock older than this was left by a command that died; it is broken rather than waited on forever. */
const STALE_LOCK_MS = 30_000
const LOCK_WAIT_MS = 30_000

/**
 * Runs `effect` holding `credentials.json.lock` (created exclusively), so two commands never refresh the same
 * session at once; another command's lock is waited for. Released on every exit.
 */
export const withLock = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | LocalFileError, R> =>
  Effect.gen(function*() {
    const file = yield* credentialsPath
    const lock = `${file}.lock`
    const tryTake = Effect.try({
      try: () => {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
        try {
          fs.closeSync(fs.openSync(lock, "wx", FILE_MODE))
          return true
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
          const age = Date.now() - fs.statSync(lock, { throwIfNoEntry: false })!.mtimeMs
          if (age > STALE_LOCK_MS) fs.rmSync(lock, { force: true })
          return false
        }
      },
      catch: (cause) => fileError(lock, cause)
    })
    const deadline = Date.now() + LOCK_WAIT_MS
    while (!(yield* tryTake)) {
      if (Date.now() > deadline) {
        return yield* new LocalFileError({ path: lock, reason: "another cynode command holds the credentials lock" })
      }
      yield* Effect.sleep("50 millis")
    }
    return yield* effect.pipe(Effect.ensuring(Effect.sync(() => fs.rmSync(lock, { force: true }))))
  })
