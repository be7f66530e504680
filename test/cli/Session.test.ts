import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Credentials from "../../src/cli/Credentials.ts"
import { DEFAULT_GATEWAY_URL, normalizeUrl, resolveGateway } from "../../src/cli/Session.ts"

const withEnv = (env: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("Session", () => {
  it.effect("normalizes gateway URLs and refuses anything but http(s) base URLs", () =>
    Effect.gen(function*() {
      expect(yield* normalizeUrl("http://localhost:12080/", "--gateway")).toBe("http://localhost:12080")
      expect(yield* normalizeUrl(" https://gw.example/base/ ", "--gateway")).toBe("https://gw.example/base")
      for (const bad of ["localhost:12080", "ftp://x", "http://u:p@x", "http://x/?a=1", ""]) {
        const error = yield* Effect.flip(normalizeUrl(bad, "--gateway"))
        expect(error._tag).toBe("UsageError")
        expect(error.message).toContain("--gateway must be an http(s) URL")
      }
    }))

  it.effect("picks --gateway, else CYNODE_GATEWAY_URL, else the stored login's gateway, else the default", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-cli-test-"))
      const env = { CYNODE_CONFIG_DIR: dir }
      expect(yield* resolveGateway(Option.none()).pipe(withEnv(env))).toBe(DEFAULT_GATEWAY_URL)
      yield* Credentials.save({
        gatewayUrl: "http://stored:1",
        handle: "admin",
        accessToken: Redacted.make("a"),
        refreshToken: Redacted.make("r")
      }).pipe(withEnv(env))
      expect(yield* resolveGateway(Option.none()).pipe(withEnv(env))).toBe("http://stored:1")
      expect(yield* resolveGateway(Option.none()).pipe(withEnv({ ...env, CYNODE_GATEWAY_URL: "http://env:2" }))).toBe("http://env:2")
      expect(yield* resolveGateway(Option.some("http://flag:3")).pipe(withEnv({ ...env, CYNODE_GATEWAY_URL: "http://env:2" })))
        .toBe("http://flag:3")
      fs.rmSync(dir, { recursive: true })
    }))
})
