import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted, Schema } from "effect"
import { Jwt } from "../../layers/Jwt.ts"

const jwt = Jwt.fromSecret(Redacted.make("a-test-secret-that-is-long-enough-32b"))
const other = Jwt.fromSecret(Redacted.make("another-secret-that-is-long-enough-32"))
const nodeToken = { tokenType: "node" as const, subject: "n1", ttlMs: 60_000, audience: "cynode-node", claims: { node_slug: "n1" } }

const b64url = (s: string) => Buffer.from(s).toString("base64url")

describe("Jwt", () => {
  it.effect("round-trips a node token with its claims", () =>
    Effect.gen(function*() {
      const signed = yield* jwt.sign(nodeToken)
      const payload = yield* jwt.verify(Redacted.value(signed.token), { tokenType: "node", audience: "cynode-node" })
      expect(payload.sub).toBe("n1")
      expect(payload.node_slug).toBe("n1")
      expect(payload.jti).toBe(signed.jti)
      expect(payload.iss).toBe("cynodeai")
    }))

  it.effect("refuses the wrong audience, token type, key, expiry and alg none", () =>
    Effect.gen(function*() {
      const token = Redacted.value((yield* jwt.sign(nodeToken)).token)
      const refused = (t: string, o = { tokenType: "node" as const, audience: "cynode-node" }) =>
        Effect.map(Effect.either(jwt.verify(t, o)), Either.isLeft)
      expect(yield* refused(token, { tokenType: "node", audience: "cynode-user" })).toBe(true)
      expect(yield* refused(token, { tokenType: "access" } as never)).toBe(true)
      expect(yield* Effect.map(Effect.either(other.verify(token, { tokenType: "node", audience: "cynode-node" })), Either.isLeft)).toBe(true)
      const expired = Redacted.value((yield* jwt.sign({ ...nodeToken, ttlMs: -120_000 })).token)
      expect(yield* refused(expired)).toBe(true)
      const [, body] = token.split(".")
      expect(yield* refused(`${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${body}.`)).toBe(true)
    }))

  it.effect.prop("never accepts a token with any byte changed", { at: Schema.Number.pipe(Schema.between(0, 1)), delta: Schema.Int.pipe(Schema.between(1, 255)) }, ({ at, delta }) =>
    Effect.gen(function*() {
      const token = Redacted.value((yield* jwt.sign(nodeToken)).token)
      const i = Math.min(token.length - 1, Math.floor(at * token.length))
      const bytes = Buffer.from(token, "latin1")
      bytes[i] = (bytes[i]! + delta) % 256
      const tampered = bytes.toString("latin1")
      const result = yield* Effect.either(jwt.verify(tampered, { tokenType: "node", audience: "cynode-node" }))
      // Base64url has a few encodings of the same final bits; a change the decoder cannot see is no change.
      if (Either.isRight(result)) expect(Buffer.from(tampered.split(".")[2] ?? "", "base64url")).toEqual(Buffer.from(token.split(".")[2] ?? "", "base64url"))
    }), { fastCheck: { numRuns: 200 } })
})
