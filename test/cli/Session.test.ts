import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Credentials from "../../src/cli/Credentials.ts"
import * as HttpClientLayer from "../../layers/HttpClient.ts"
import { createServer } from "node:http"
import { ApiError } from "../../src/cli/CliError.ts"
import { authenticated, DEFAULT_GATEWAY_URL, normalizeUrl, resolveGateway } from "../../src/cli/Session.ts"

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

  it.live("two commands whose access token expired refresh once, under the credentials lock, and both go on", () =>
    Effect.gen(function*() {
      let refreshes = 0
      const server = createServer((req, res) => {
        req.resume()
        req.on("end", () => {
          refreshes++
          // Slow enough that the second command would start its own refresh without the lock.
          setTimeout(() => {
            res.writeHead(200, { "content-type": "application/json" })
            res.end(JSON.stringify({ access_token: `a${refreshes + 1}`, refresh_token: `r${refreshes + 1}`, token_type: "Bearer", expires_in: 900 }))
          }, 200)
        })
      })
      yield* Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)))
      const address = server.address()
      const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-cli-lock-"))
      const env = withEnv({ CYNODE_CONFIG_DIR: dir })
      yield* Credentials.save({ gatewayUrl: url, handle: "admin", accessToken: Redacted.make("a1"), refreshToken: Redacted.make("r1") })
        .pipe(env)
      const command = authenticated(Option.none(), (_url, token) =>
        Redacted.value(token) === "a1"
          ? Effect.fail(new ApiError({ status: 401, title: "Unauthorized", detail: "expired" }))
          : Effect.succeed(Redacted.value(token)))
      const used = yield* Effect.all([command, command], { concurrency: 2 }).pipe(env, Effect.provide(HttpClientLayer.layer))
      expect(used).toEqual(["a2", "a2"])
      expect(refreshes).toBe(1)
      const stored = yield* Credentials.load.pipe(env)
      expect(Option.map(stored, (c) => Redacted.value(c.refreshToken))).toEqual(Option.some("r2"))
      expect(fs.existsSync(path.join(dir, "credentials.json.lock"))).toBe(false)
      server.close()
      fs.rmSync(dir, { recursive: true })
    }))
})
