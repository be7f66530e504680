import { Config, ConfigError, Context, Data, Effect, Either, Layer, Option, Redacted } from "effect"
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto"
import { secret } from "../../layers/Config.ts"

/**
 * Per-node Worker API bearer tokens (control-plane.md §4, §8): 32 random bytes base64url, stored AES-256-GCM
 * encrypted as `v1:` + base64(iv ‖ ciphertext ‖ tag). Key: `WORKER_TOKEN_KEY` (base64, 32 bytes), else
 * HKDF-SHA256 of `JWT_SECRET`, so a stolen database dump alone does not hand out worker tokens.
 */

const PREFIX = "v1:"
const IV_BYTES = 12
const TAG_BYTES = 16

export class UndecryptableWorkerToken extends Data.TaggedError("UndecryptableWorkerToken")<{
  readonly reason: string
}> {}

export class WorkerTokens extends Context.Tag("cynode/WorkerTokens")<WorkerTokens, {
  /** A fresh random token. */
  readonly generate: Effect.Effect<Redacted.Redacted<string>>
  readonly encrypt: (token: Redacted.Redacted<string>) => string
  readonly decrypt: (stored: string) => Effect.Effect<Redacted.Redacted<string>, UndecryptableWorkerToken>
}>() {
  static readonly fromKey = (key: Uint8Array): Context.Tag.Service<WorkerTokens> => ({
    generate: Effect.sync(() => Redacted.make(randomBytes(32).toString("base64url"))),
    encrypt: (token) => {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv("aes-256-gcm", key, iv)
      const ct = Buffer.concat([cipher.update(Redacted.value(token), "utf8"), cipher.final()])
      return PREFIX + Buffer.concat([iv, ct, cipher.getAuthTag()]).toString("base64")
    },
    decrypt: (stored) =>
      Effect.try({
        try: () => {
          if (!stored.startsWith(PREFIX)) throw new Error("unknown token format")
          const raw = Buffer.from(stored.slice(PREFIX.length), "base64")
          if (raw.length < IV_BYTES + TAG_BYTES) throw new Error("token too short")
          const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, IV_BYTES))
          decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
          const plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()])
          return Redacted.make(plain.toString("utf8"))
        },
        catch: (error) =>
          new UndecryptableWorkerToken({ reason: error instanceof Error ? error.message : "decryption failed" })
      })
  })

  /** Derives the AES key from `JWT_SECRET` when no dedicated key is configured. */
  static readonly deriveKey = (jwtSecret: Redacted.Redacted<string>): Uint8Array =>
    new Uint8Array(hkdfSync("sha256", Redacted.value(jwtSecret), "cynode", "cynode worker token key v1", 32))

  static readonly Live = Layer.effect(
    WorkerTokens,
    Effect.gen(function*() {
      const configured = yield* Config.option(keyConfig)
      const key = Option.isSome(configured)
        ? configured.value
        : WorkerTokens.deriveKey(yield* secret("JWT_SECRET", 32))
      return WorkerTokens.fromKey(key)
    })
  )
}

/** `WORKER_TOKEN_KEY`: base64 of exactly 32 bytes. */
const keyConfig = Config.redacted("WORKER_TOKEN_KEY").pipe(
  Config.mapOrFail((value) => {
    const bytes = Buffer.from(Redacted.value(value), "base64")
    return bytes.length === 32
      ? Either.right(new Uint8Array(bytes))
      : Either.left(ConfigError.InvalidData([], "WORKER_TOKEN_KEY must be the base64 encoding of exactly 32 bytes"))
  })
)
