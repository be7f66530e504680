import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Redacted } from "effect"
import { Jwt } from "../../layers/Jwt.ts"
import { runProgram } from "../support/programs.ts"
import { completeTaskAsDispatcher, createUser, loginTokens, startGateway, type RunningGateway } from "./gatewayProcess.ts"

/**
 * The real user-gateway program over HTTP on a fresh database: robustness of every body schema, token checks,
 * the details of the tasks API, and that no secret reaches the program's output.
 */

let gateway: RunningGateway
let userId: string
let access: string
/** Every secret this file handled; none may appear in the program's output (last test). */
const secrets = new Set<string>()
const USER_PASSWORD = "bob-password-Z7q!x"

beforeAll(async () => {
  gateway = await startGateway({ RATE_LIMIT_PER_MINUTE: "100000", AUTH_IP_FAILURE_THRESHOLD: "100000" })
  secrets.add(gateway.adminPassword).add(gateway.jwtSecret).add(USER_PASSWORD)
  userId = (await createUser(gateway, "bob", USER_PASSWORD)).id
  const pair = await loginTokens(gateway, "bob", USER_PASSWORD)
  access = pair.access_token
  secrets.add(pair.access_token).add(pair.refresh_token)
}, 120_000)

afterAll(async () => {
  await gateway?.stop()
})

const call = (method: string, path: string, options: Parameters<RunningGateway["call"]>[2] = {}) =>
  Effect.promise(() => gateway.call(method, path, options))

/** Arbitrary JSON, plus objects built from the schema's own keys (and forbidden ones) with arbitrary values. */
const bodyLike = (keys: ReadonlyArray<string>) =>
  fc.oneof(
    fc.jsonValue(),
    fc.dictionary(fc.constantFrom(...keys, "image", "use_sba"), fc.jsonValue(), { maxKeys: keys.length + 2 }),
    fc.record(Object.fromEntries(keys.map((k) => [k, fc.oneof(fc.string(), fc.jsonValue())])), { requiredKeys: [] })
  )

/** How a request authenticates: none, the shared token, or a fresh session (for logout, which ends it). */
type Auth = "none" | "shared" | "fresh"

const tokenFor = (auth: Auth) =>
  auth === "none"
    ? Effect.succeed({})
    : auth === "shared"
    ? Effect.succeed({ token: access })
    : Effect.map(Effect.promise(() => loginTokens(gateway, "bob", USER_PASSWORD)), (pair) => {
      secrets.add(pair.access_token).add(pair.refresh_token)
      return { token: pair.access_token }
    })

const never5xx = (path: string, keys: ReadonlyArray<string>, auth: Auth, numRuns: number) =>
  it.live.prop(`POST ${path}: arbitrary JSON never yields 5xx`, [bodyLike(keys)], ([body]) =>
    Effect.gen(function*() {
      const res = yield* call("POST", path, { body, ...(yield* tokenFor(auth)) })
      expect(res.status, res.text).toBeLessThan(500)
      if (res.status >= 400) expect(res.headers.get("content-type")).toContain("application/problem+json")
    }), { timeout: 120_000, fastCheck: { numRuns } })

describe("user-gateway program", () => {
  it.live("answers /healthz and a plain-text /readyz reason without nodes", () =>
    Effect.gen(function*() {
      const health = yield* call("GET", "/healthz")
      expect([health.status, health.text]).toEqual([200, "ok"])
      const ready = yield* call("GET", "/readyz")
      expect(ready.status).toBe(503)
      expect(ready.headers.get("content-type")).toContain("text/plain")
      expect(ready.text).toContain("no node registered")
    }))

  it.live("refuses a short JWT_SECRET at start, naming the variable", () =>
    Effect.gen(function*() {
      const run = yield* Effect.promise(() =>
        runProgram("user-gateway", { DATABASE_URL: gateway.databaseUrl, JWT_SECRET: "short", USER_GATEWAY_LISTEN_ADDR: "127.0.0.1:0" })
      )
      expect(run.code).not.toBe(0)
      expect(run.output).toContain("JWT_SECRET")
      expect(run.output).not.toContain("short\"")
    }), 60_000)

  describe("every request body schema", () => {
    never5xx("/v1/auth/login", ["handle", "password"], "none", 40)
    never5xx("/v1/auth/refresh", ["refresh_token"], "none", 60)
    never5xx("/v1/auth/logout", ["refresh_token"], "fresh", 25)
    never5xx("/v1/admin/users", ["handle", "password"], "shared", 60)
    never5xx(
      "/v1/tasks",
      ["prompt", "input_mode", "use_inference", "timeout_seconds", "task_name", "project_id", "attachments", "files"],
      "shared",
      150
    )
  })

  describe("tokens", () => {
    const me = (token: string) => Effect.map(call("GET", "/v1/users/me", { token }), (r) => r.status)
    const jwt = () => Jwt.fromSecret(Redacted.make(gateway.jwtSecret))

    it.live.prop("a token with any character changed is refused", {
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      delta: fc.integer({ min: 1, max: 93 })
    }, ({ at, delta }) =>
      Effect.gen(function*() {
        const fresh = yield* Effect.promise(() => loginTokens(gateway, "bob", USER_PASSWORD))
        secrets.add(fresh.access_token).add(fresh.refresh_token)
        const token = fresh.access_token
        const i = Math.min(token.length - 1, Math.floor(at * token.length))
        const bytes = Buffer.from(token, "latin1")
        // Only visible ASCII can travel in a header; any other printable character replaces the original.
        bytes[i] = 0x21 + (((bytes[i] ?? 0x21) - 0x21 + delta) % 94)
        const tampered = bytes.toString("latin1")
        const status = yield* me(tampered)
        // Base64url has a few spellings of the same final bits; a change no decoder can see is no change.
        const same = (t: string) => t.split(".").map((part) => Buffer.from(part, "base64url").toString("hex")).join(".")
        if (same(tampered) !== same(token)) expect(status).toBe(401)
      }), { timeout: 120_000, fastCheck: { numRuns: 40 } })

    it.live("refuses alg none, expired, refresh-as-access and node tokens of a live session", () =>
      Effect.gen(function*() {
        const pair = yield* Effect.promise(() => loginTokens(gateway, "bob", USER_PASSWORD))
        secrets.add(pair.access_token).add(pair.refresh_token)
        expect(yield* me(pair.access_token)).toBe(200)
        const [header, body] = pair.access_token.split(".")
        const claims = JSON.parse(Buffer.from(body ?? "", "base64url").toString("utf8")) as Record<string, unknown>
        const none = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")
        expect(header).not.toBe(none)
        expect(yield* me(`${none}.${body}.`)).toBe(401)
        const sameClaims = { user_id: claims.user_id, handle: claims.handle, sid: claims.sid }
        const signer = jwt()
        const expired = yield* signer.sign({ tokenType: "access", subject: userId, ttlMs: -120_000, claims: sameClaims })
        expect(yield* me(Redacted.value(expired.token))).toBe(401)
        const node = yield* signer.sign({ tokenType: "node", subject: userId, ttlMs: 60_000, audience: "cynode-node", claims: sameClaims })
        expect(yield* me(Redacted.value(node.token))).toBe(401)
        const withAudience = yield* signer.sign({ tokenType: "access", subject: userId, ttlMs: 60_000, audience: "cynode-node", claims: sameClaims })
        expect(yield* me(Redacted.value(withAudience.token))).toBe(401)
        expect(yield* me(pair.refresh_token)).toBe(401)
        const valid = yield* signer.sign({ tokenType: "access", subject: userId, ttlMs: 60_000, claims: sameClaims })
        expect(yield* me(Redacted.value(valid.token))).toBe(200)
        const missing = yield* call("GET", "/v1/users/me")
        expect(missing.status).toBe(401)
        expect(missing.headers.get("www-authenticate")).toBe("Bearer")
      }))
  })

  it.live("gives two parallel refreshes with the same token the same answer; an older token is still reuse", () =>
    Effect.gen(function*() {
      const pair = yield* Effect.promise(() => loginTokens(gateway, "bob", USER_PASSWORD))
      secrets.add(pair.access_token).add(pair.refresh_token)
      const refresh = call("POST", "/v1/auth/refresh", { body: { refresh_token: pair.refresh_token } })
      const answers = yield* Effect.all([refresh, refresh, refresh], { concurrency: 3 })
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200])
      const next = answers.map((a) => a.json as { access_token: string; refresh_token: string })
      for (const n of next) secrets.add(n.access_token).add(n.refresh_token)
      expect(new Set(next.map((n) => n.refresh_token)).size).toBe(1)
      expect((yield* call("GET", "/v1/users/me", { token: next[0]!.access_token })).status).toBe(200)
      // The session moves on; the first token, outside its rotation's answer, is then reuse and revokes the family.
      const again = yield* call("POST", "/v1/auth/refresh", { body: { refresh_token: next[0]!.refresh_token } })
      expect(again.status).toBe(200)
      const third = again.json as { access_token: string; refresh_token: string }
      secrets.add(third.access_token).add(third.refresh_token)
      const stale = yield* call("POST", "/v1/auth/refresh", { body: { refresh_token: pair.refresh_token } })
      expect(stale.status).toBe(200) // still within the first rotation's grace window: the same old answer
      expect((stale.json as { refresh_token: string }).refresh_token).toBe(next[0]!.refresh_token)
      const reuse = yield* call("POST", "/v1/auth/refresh", { body: { refresh_token: next[0]!.refresh_token } })
      expect(reuse.status).toBe(200) // the same answer again within the second rotation's window
      expect((yield* call("GET", "/v1/users/me", { token: third.access_token })).status).toBe(200)
    }))

  describe("tasks API details", () => {
    it.live("names each unknown or invalid field, checks fields together, and wants JSON", () =>
      Effect.gen(function*() {
        const unknown = yield* call("POST", "/v1/tasks", { token: access, body: { prompt: "x", image: "alpine", use_sba: true } })
        expect(unknown.status).toBe(400)
        const paths = (unknown.json as { errors: Array<{ path: string }> }).errors.map((e) => e.path)
        expect(paths).toEqual(expect.arrayContaining(["image", "use_sba"]))
        const mode = yield* call("POST", "/v1/tasks", { token: access, body: { prompt: "x", input_mode: "shell" } })
        expect((mode.json as { errors: Array<{ path: string; message: string }> }).errors).toEqual([
          { path: "input_mode", message: "expected prompt|script|commands" }
        ])
        const sandboxInference = yield* call("POST", "/v1/tasks", { token: access, body: { prompt: "x", input_mode: "script", use_inference: true } })
        expect(sandboxInference.status).toBe(400)
        const promptTimeout = yield* call("POST", "/v1/tasks", { token: access, body: { prompt: "x", timeout_seconds: 5 } })
        expect(promptTimeout.status).toBe(400)
        const tooLong = yield* call("POST", "/v1/tasks", { token: access, body: { prompt: "x", input_mode: "script", timeout_seconds: 10_801 } })
        expect(tooLong.status).toBe(400)
        const blank = yield* call("POST", "/v1/tasks", { token: access, body: { prompt: "   " } })
        expect(blank.status).toBe(400)
        const text = yield* call("POST", "/v1/tasks", { token: access, rawBody: "{\"prompt\":\"x\"}", headers: { "content-type": "text/plain" } })
        expect(text.status).toBe(415)
        const big = yield* call("POST", "/v1/auth/login", { body: { handle: "bob", password: "x".repeat(70 * 1024) } })
        expect(big.status).toBe(413)
      }))

    it.live("stores a prompt task as an inference job and a script as an sh -c sandbox job with its timeout", () =>
      Effect.gen(function*() {
        const prompt = yield* call("POST", "/v1/tasks", { token: access, body: { prompt: "Say hi" } })
        const script = yield* call("POST", "/v1/tasks", { token: access, body: { prompt: "echo a\necho b", input_mode: "commands", timeout_seconds: 30 } })
        expect([prompt.status, script.status]).toEqual([201, 201])
        const ids = [prompt.json, script.json].map((t) => (t as { id: string }).id)
        const rows = yield* Effect.promise(() =>
          gateway.sql((sql) => sql<{ task_id: string; payload: unknown; status: string }>`
            SELECT task_id, payload, status FROM jobs WHERE task_id IN ${sql.in(ids)}`)
        )
        const payloadOf = (id: string) => rows.find((r) => r.task_id === id)?.payload
        expect(payloadOf(ids[0] ?? "")).toEqual({ inference: { prompt: "Say hi" } })
        expect(payloadOf(ids[1] ?? "")).toEqual({ command: ["sh", "-c", "echo a\necho b"], timeout_seconds: 30 })
        expect(rows.map((r) => r.status)).toEqual(["queued", "queued"])
      }))

    it.live("pages in SQL with a string cursor and filters by status", () =>
      Effect.gen(function*() {
        const user = yield* Effect.promise(() => createUser(gateway, "pager", "pager-password"))
        const tokens = yield* Effect.promise(() => loginTokens(gateway, "pager", "pager-password"))
        secrets.add(tokens.access_token).add(tokens.refresh_token)
        const created: Array<string> = []
        for (let i = 0; i < 5; i++) {
          const res = yield* call("POST", "/v1/tasks", { token: tokens.access_token, body: { prompt: `echo ${i}`, input_mode: "script" } })
          created.push((res.json as { id: string }).id)
        }
        yield* Effect.promise(() => completeTaskAsDispatcher(gateway, created[0] ?? "", { version: 1, status: "completed", exit_code: 0, stdout: "", stderr: "" }))
        const first = yield* call("GET", "/v1/tasks?limit=2", { token: tokens.access_token })
        expect(first.json).toMatchObject({ next_offset: 2, next_cursor: "2" })
        const names = (first.json as { tasks: Array<{ task_name: string }> }).tasks.map((t) => t.task_name)
        expect(names).toEqual(["task_name_005", "task_name_004"])
        const last = yield* call("GET", "/v1/tasks?limit=2&cursor=4", { token: tokens.access_token })
        expect(last.json).toMatchObject({ next_cursor: "" })
        expect(last.json).not.toHaveProperty("next_offset")
        expect((last.json as { tasks: Array<unknown> }).tasks).toHaveLength(1)
        const done = yield* call("GET", "/v1/tasks?status=completed", { token: tokens.access_token })
        expect((done.json as { tasks: Array<{ id: string; status: string }> }).tasks).toEqual([
          expect.objectContaining({ id: created[0], status: "completed" })
        ])
        const queued = yield* call("GET", "/v1/tasks?status=queued&limit=200", { token: tokens.access_token })
        expect((queued.json as { tasks: Array<unknown> }).tasks).toHaveLength(4)
        const bad = yield* call("GET", "/v1/tasks?limit=0", { token: tokens.access_token })
        expect(bad.status).toBe(400)
        expect(user.handle).toBe("pager")
      }))

    it.live("long-polls a result with ?wait until the task finishes (LISTEN cynode_tasks)", () =>
      Effect.gen(function*() {
        const task = yield* call("POST", "/v1/tasks", { token: access, body: { prompt: "sleep 1", input_mode: "script" } })
        const id = (task.json as { id: string }).id
        const started = Date.now()
        const waiting = Effect.runPromise(call("GET", `/v1/tasks/${id}/result?wait=20`, { token: access }))
        yield* Effect.sleep("700 millis")
        yield* Effect.promise(() => completeTaskAsDispatcher(gateway, id, { version: 1, status: "completed", exit_code: 0, stdout: "done\n", stderr: "" }))
        const res = yield* Effect.promise(() => waiting)
        expect(Date.now() - started).toBeLessThan(10_000)
        expect(res.json).toMatchObject({ status: "completed" })
        const quick = yield* call("POST", "/v1/tasks", { token: access, body: { prompt: "sleep 9", input_mode: "script" } })
        const t0 = Date.now()
        const timedOut = yield* call("GET", `/v1/tasks/${(quick.json as { id: string }).id}/result?wait=1`, { token: access })
        expect(timedOut.json).toMatchObject({ status: "queued" })
        expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
      }), 60_000)

    it.live("serves its OpenAPI document", () =>
      Effect.gen(function*() {
        const doc = yield* call("GET", "/openapi.json")
        expect(doc.status).toBe(200)
        expect(doc.text).toContain("/v1/tasks/{id}/result")
      }))
  })

  it.live("never writes a password, hash or token to its output", () =>
    Effect.gen(function*() {
      const output = gateway.program.output()
      expect(output).toContain("login_success")
      for (const secret of secrets) expect(output.includes(secret), "a secret appeared in the output").toBe(false)
      expect(output).not.toMatch(/\$argon2id\$/)
      expect(output).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/)
    }))
})
