import { Either, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"

/**
 * Bearer-token check for the Worker API (worker-node.md §6): SHA-256 digests of the presented and the expected token
 * are compared with `timingSafeEqual`, so neither the token's content nor its length leaks through timing.
 */

export interface WorkerToken {
  readonly token: Redacted.Redacted<string>
  /** `orchestrator_bearer_token_expires_at`: past it the token is refused. */
  readonly expiresAt?: Date
}

/** Right: the token is accepted; Left: why it is refused (the 401's detail). */
export type AuthOutcome = Either.Either<void, string>

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest()

/** `Bearer <token>`, scheme case-insensitive (RFC 7235); anything else counts as missing. */
export const bearerFrom = (header: string | undefined): string | undefined => {
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? "")
  return m?.[1]
}

export const makeBearerCheck = (expected: WorkerToken) => {
  const expectedDigest = digest(Redacted.value(expected.token))
  return (authorization: string | undefined, now: Date): AuthOutcome => {
    const presented = bearerFrom(authorization)
    if (presented === undefined) return Either.left("missing bearer token")
    if (!timingSafeEqual(digest(presented), expectedDigest)) return Either.left("invalid bearer token")
    if (expected.expiresAt !== undefined && now.getTime() >= expected.expiresAt.getTime()) {
      return Either.left("bearer token expired")
    }
    return Either.void
  }
}
