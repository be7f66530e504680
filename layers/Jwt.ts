import { Context, Data, Effect, Layer, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from "jose"
import { secret } from "./Config.ts"

/**
 * HS256 JWTs for node and user tokens (one key, `JWT_SECRET`, shared by the control plane and the gateway).
 * Only HS256 is accepted, so `alg: none` and key-confusion tokens fail; `token_type` and `aud` keep node and
 * user tokens apart.
 */
export const ISSUER = "cynodeai"
const CLOCK_SKEW_SECONDS = 30

export type TokenType = "node" | "access" | "refresh"

export interface SignOptions {
  readonly tokenType: TokenType
  readonly subject: string
  readonly ttlMs: number
  readonly audience?: string
  readonly claims?: Record<string, unknown>
}

export interface SignedToken {
  readonly token: Redacted.Redacted<string>
  readonly jti: string
  readonly expiresAt: Date
}

export interface VerifyOptions {
  readonly tokenType: TokenType
  readonly audience?: string
}

/** Why a token was refused; callers map every reason to one generic 401 and keep the reason for audit logs. */
export class InvalidToken extends Data.TaggedError("InvalidToken")<{
  readonly reason: "expired" | "malformed" | "signature" | "claims"
}> {}

export class Jwt extends Context.Tag("cynode/Jwt")<Jwt, {
  readonly sign: (options: SignOptions) => Effect.Effect<SignedToken>
  readonly verify: (token: string, options: VerifyOptions) => Effect.Effect<JWTPayload, InvalidToken>
}>() {
  static readonly fromSecret = (jwtSecret: Redacted.Redacted<string>): Context.Tag.Service<Jwt> => {
    // Imported once: jose would otherwise import a raw key into WebCrypto on every sign and verify.
    const key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(Redacted.value(jwtSecret)),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"]
    )
    return {
      sign: (options) =>
        Effect.promise(async () => {
          const jti = randomUUID()
          const now = Date.now()
          const expiresAt = new Date(now + options.ttlMs)
          let builder = new SignJWT({ ...options.claims, token_type: options.tokenType })
            .setProtectedHeader({ alg: "HS256", typ: "JWT" })
            .setIssuer(ISSUER)
            .setSubject(options.subject)
            .setIssuedAt(Math.floor(now / 1000))
            .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
            .setJti(jti)
          if (options.audience !== undefined) builder = builder.setAudience(options.audience)
          return { token: Redacted.make(await builder.sign(await key)), jti, expiresAt }
        }).pipe(Effect.withSpan("Jwt.sign")),
      verify: (token, options) =>
        Effect.tryPromise({
          try: async () =>
            jwtVerify(token, await key, {
              algorithms: ["HS256"],
              issuer: ISSUER,
              clockTolerance: CLOCK_SKEW_SECONDS,
              ...(options.audience !== undefined ? { audience: options.audience } : {}),
              requiredClaims: ["exp", "iat", "jti", "sub"]
            }),
          catch: (error) =>
            new InvalidToken({
              reason: error instanceof joseErrors.JWTExpired
                ? "expired"
                : error instanceof joseErrors.JWSSignatureVerificationFailed
                ? "signature"
                : error instanceof joseErrors.JWTClaimValidationFailed
                ? "claims"
                : "malformed"
            })
        }).pipe(
          Effect.flatMap(({ payload }) =>
            payload.token_type === options.tokenType &&
              (options.audience !== undefined || payload.aud === undefined)
              ? Effect.succeed(payload)
              : Effect.fail(new InvalidToken({ reason: "claims" }))
          ),
          Effect.withSpan("Jwt.verify")
        )
    }
  }

  /** `JWT_SECRET` must be at least 32 bytes (control-plane.md §2, user-gateway.md §2). */
  static readonly Live = Layer.effect(
    Jwt,
    Effect.map(secret("JWT_SECRET", 32), Jwt.fromSecret)
  )
}

