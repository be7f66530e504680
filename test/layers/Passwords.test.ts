import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { Passwords } from "../../layers/Passwords.ts"

describe("Passwords", () => {
  it.layer(Passwords.Live, { timeout: "30 seconds" })((it) => {
    it.effect("hashes Argon2id m=65536,t=3,p=2 with a 16-byte salt and 32-byte key, and verifies", () =>
      Effect.gen(function*() {
        const passwords = yield* Passwords
        const phc = yield* passwords.hash(Redacted.make("correct horse"))
        const [, alg, version, params, salt, key] = phc.split("$")
        expect([alg, version, params]).toEqual(["argon2id", "v=19", "m=65536,t=3,p=2"])
        expect(Buffer.from(salt ?? "", "base64")).toHaveLength(16)
        expect(Buffer.from(key ?? "", "base64")).toHaveLength(32)
        expect(salt).not.toContain("=")
        expect(yield* passwords.verify(phc, Redacted.make("correct horse"))).toBe(true)
        expect(yield* passwords.verify(phc, Redacted.make("wrong horse"))).toBe(false)
        expect(yield* passwords.hash(Redacted.make("correct horse"))).not.toBe(phc)
      }))

    it.effect("answers false, after a full verification, without a stored hash or with a broken one", () =>
      Effect.gen(function*() {
        const passwords = yield* Passwords
        expect(yield* passwords.verify(undefined, Redacted.make("anything"))).toBe(false)
        expect(yield* passwords.verify("not a phc string", Redacted.make("anything"))).toBe(false)
      }))
  })
})
