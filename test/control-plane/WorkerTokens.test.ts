import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { WorkerTokens } from "../../src/control-plane/WorkerTokens.ts"

const tokens = WorkerTokens.fromKey(randomBytes(32))

describe("WorkerTokens", () => {
  it.effect("generates distinct 32-byte base64url tokens and round-trips them through encryption", () =>
    Effect.gen(function*() {
      const a = yield* tokens.generate
      const b = yield* tokens.generate
      expect(Redacted.value(a)).toMatch(/^[\w-]{43}$/)
      expect(Redacted.value(a)).not.toBe(Redacted.value(b))
      const stored = tokens.encrypt(a)
      expect(stored).toMatch(/^v1:/)
      expect(stored).not.toContain(Redacted.value(a))
      expect(tokens.encrypt(a)).not.toBe(stored)
      expect(Redacted.value(yield* tokens.decrypt(stored))).toBe(Redacted.value(a))
    }))

  it.effect("refuses a tampered ciphertext and a different key", () =>
    Effect.gen(function*() {
      const stored = tokens.encrypt(yield* tokens.generate)
      const raw = Buffer.from(stored.slice(3), "base64")
      raw[14] = (raw[14] ?? 0) ^ 1
      const tampered = `v1:${raw.toString("base64")}`
      expect((yield* Effect.flip(tokens.decrypt(tampered)))._tag).toBe("UndecryptableWorkerToken")
      const other = WorkerTokens.fromKey(randomBytes(32))
      expect((yield* Effect.flip(other.decrypt(stored)))._tag).toBe("UndecryptableWorkerToken")
      expect((yield* Effect.flip(tokens.decrypt("plaintext")))._tag).toBe("UndecryptableWorkerToken")
    }))

  it("derives a stable 32-byte key from JWT_SECRET", () => {
    const a = WorkerTokens.deriveKey(Redacted.make("x".repeat(32)))
    expect(a).toHaveLength(32)
    expect(Buffer.from(WorkerTokens.deriveKey(Redacted.make("x".repeat(32)))).equals(Buffer.from(a))).toBe(true)
    expect(Buffer.from(WorkerTokens.deriveKey(Redacted.make("y".repeat(32)))).equals(Buffer.from(a))).toBe(false)
  })
})
