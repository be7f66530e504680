import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Passwords } from "../../layers/Passwords.ts"

const root = path.resolve(import.meta.dirname, "../..")
/** Every TypeScript file a program is built from. */
const programSources = () =>
  ["src", "layers", "bin", "scripts", "bench"].flatMap((dir) =>
    fs.existsSync(path.join(root, dir))
      ? fs.readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".ts"))
        .map((f) => path.join(dir, f))
      : []
  )

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

  it.effect("Test hashes Argon2id at the cheapest parameters, and its hashes verify under Live and back", () =>
    Effect.gen(function*() {
      const cheap = yield* Effect.provide(Passwords, Passwords.Test)
      const live = yield* Effect.provide(Passwords, Passwords.Live)
      const phc = yield* cheap.hash(Redacted.make("correct horse"))
      expect(phc.split("$").slice(1, 4)).toEqual(["argon2id", "v=19", "m=8,t=1,p=1"])
      expect(yield* cheap.verify(phc, Redacted.make("correct horse"))).toBe(true)
      expect(yield* cheap.verify(phc, Redacted.make("wrong horse"))).toBe(false)
      expect(yield* cheap.verify(undefined, Redacted.make("correct horse"))).toBe(false)
      expect(yield* live.verify(phc, Redacted.make("correct horse"))).toBe(true)
      const strong = yield* live.hash(Redacted.make("battery staple"))
      expect(yield* cheap.verify(strong, Redacted.make("battery staple"))).toBe(true)
    }), { timeout: 30_000 })

  it("Test is referenced by no program's code, only by tests", () => {
    const sources = programSources()
    expect(sources).toContain(path.join("layers", "Passwords.ts"))
    const users = sources.filter((f) => /\bPasswords\.Test\b|ARGON2_TEST_OPTIONS/.test(fs.readFileSync(path.join(root, f), "utf8")))
    expect(users).toEqual([path.join("layers", "Passwords.ts")])
  })
})
