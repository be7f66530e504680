import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Credentials from "../../src/cli/Credentials.ts"

const withEnv = (env: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "cynode-cli-test-"))

const sample: Credentials.Credentials = {
  gatewayUrl: "http://127.0.0.1:12080",
  handle: "admin",
  accessToken: Redacted.make("access.jwt.value"),
  refreshToken: Redacted.make("refresh.jwt.value")
}

describe("Credentials", () => {
  it.effect("are saved 0600 in a 0700 directory and read back", () =>
    Effect.gen(function*() {
      const root = tempDir()
      const dir = path.join(root, "nested", "cynode")
      const file = yield* Credentials.save(sample).pipe(withEnv({ CYNODE_CONFIG_DIR: dir }))
      expect(file).toBe(path.join(dir, "credentials.json"))
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
      const loaded = yield* Credentials.load.pipe(withEnv({ CYNODE_CONFIG_DIR: dir }))
      expect(Option.isSome(loaded)).toBe(true)
      const value = Option.getOrThrow(loaded)
      expect(value.gatewayUrl).toBe(sample.gatewayUrl)
      expect(value.handle).toBe("admin")
      expect(Redacted.value(value.accessToken)).toBe("access.jwt.value")
      expect(Redacted.value(value.refreshToken)).toBe("refresh.jwt.value")
      // No temporary file is left beside it.
      expect(fs.readdirSync(dir)).toEqual(["credentials.json"])
      fs.rmSync(root, { recursive: true })
    }))

  it.effect("stay 0600 when the process umask is permissive, and a file others can read is tightened", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const previous = process.umask(0)
      try {
        const file = yield* Credentials.save(sample).pipe(withEnv({ CYNODE_CONFIG_DIR: dir }))
        expect(fs.statSync(file).mode & 0o777).toBe(0o600)
        fs.chmodSync(file, 0o644)
        yield* Credentials.load.pipe(withEnv({ CYNODE_CONFIG_DIR: dir }))
        expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      } finally {
        process.umask(previous)
        fs.rmSync(dir, { recursive: true })
      }
    }))

  it.effect("are absent before login and after remove", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const env = withEnv({ CYNODE_CONFIG_DIR: dir })
      expect(Option.isNone(yield* Credentials.load.pipe(env))).toBe(true)
      expect(yield* Credentials.remove.pipe(env)).toBe(false)
      yield* Credentials.save(sample).pipe(env)
      expect(yield* Credentials.remove.pipe(env)).toBe(true)
      expect(Option.isNone(yield* Credentials.load.pipe(env))).toBe(true)
      fs.rmSync(dir, { recursive: true })
    }))

  it.effect("a file that is not ours is a readable error, not a crash", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      fs.writeFileSync(path.join(dir, "credentials.json"), "{not json", { mode: 0o600 })
      const error = yield* Effect.flip(Credentials.load.pipe(withEnv({ CYNODE_CONFIG_DIR: dir })))
      expect(error._tag).toBe("LocalFileError")
      expect(error.reason).toContain("not a CyNode credentials file")
      fs.rmSync(dir, { recursive: true })
    }))

  it.effect("live in CYNODE_CONFIG_DIR, else XDG_CONFIG_HOME/cynode, else ~/.config/cynode", () =>
    Effect.gen(function*() {
      expect(yield* Credentials.credentialsPath.pipe(withEnv({ CYNODE_CONFIG_DIR: "/x/y", XDG_CONFIG_HOME: "/xdg" })))
        .toBe("/x/y/credentials.json")
      expect(yield* Credentials.credentialsPath.pipe(withEnv({ XDG_CONFIG_HOME: "/xdg" }))).toBe("/xdg/cynode/credentials.json")
      expect(yield* Credentials.credentialsPath.pipe(withEnv({}))).toBe(path.join(os.homedir(), ".config", "cynode", "credentials.json"))
    }))
})
