import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Arbitrary, type Context, Effect, Redacted, Schema } from "effect"
import * as fc from "effect/FastCheck"
import { randomBytes, randomUUID } from "node:crypto"
import { Jwt } from "../../layers/Jwt.ts"
import { NodeBootstrapPayload, NodeCapabilityReport, NodeConfigAck, NodeConfigurationPayload, RegisterRequest } from "../../schema/node.ts"
import { capabilityReport, ControlPlaneHarness } from "../support/controlPlane.ts"
import type { HttpResult } from "../support/http.ts"

/**
 * The real control-plane program over HTTP against a fresh database: every request schema accepts what its
 * Arbitrary generates and answers 400 to JSON that does not match; the operator listing; no secret in the output.
 */

let cp: ControlPlaneHarness
/** Every node JWT and worker token handed out, for the leak check at the end. */
const issuedSecrets = new Set<string>()
const SLUG = "prop-node"
let nodeJwt = ""
let issuedVersion = ""

const call = (method: string, path: string, options: Parameters<ControlPlaneHarness["request"]>[2] = {}) =>
  Effect.promise(() => cp.request(method, path, options))

const remember = (res: HttpResult) => {
  const json = res.json as { auth?: { node_jwt?: string }; worker_api?: { orchestrator_bearer_token?: string } } | undefined
  if (json?.auth?.node_jwt) issuedSecrets.add(json.auth.node_jwt)
  if (json?.worker_api?.orchestrator_bearer_token) issuedSecrets.add(json.worker_api.orchestrator_bearer_token)
  return res
}

beforeAll(async () => {
  cp = await ControlPlaneHarness.start({ env: { WORKER_TOKEN_KEY: randomBytes(32).toString("base64") } })
  const registered = remember(await cp.register(capabilityReport(SLUG)))
  expect(registered.status).toBe(201)
  nodeJwt = (registered.json as { auth: { node_jwt: string } }).auth.node_jwt
  const config = remember(await cp.request("GET", "/v1/nodes/config", { token: nodeJwt }))
  issuedVersion = Schema.decodeUnknownSync(NodeConfigurationPayload)(config.json).config_version
}, 120_000)

afterAll(async () => {
  await cp?.stop()
})

/** Sets `value` at a random path of a JSON-like value (the mutation that turns a valid body into a likely invalid one). */
const mutate = (base: unknown): fc.Arbitrary<unknown> =>
  fc.tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })).map(([path, value]) => {
    const copy: unknown = JSON.parse(JSON.stringify(base))
    let node = copy
    for (const [i, step] of path.entries()) {
      if (typeof node !== "object" || node === null) break
      const keys = Object.keys(node)
      if (keys.length === 0) break
      const key = keys[step % keys.length] ?? ""
      if (i === path.length - 1) (node as Record<string, unknown>)[key] = value
      else node = (node as Record<string, unknown>)[key]
    }
    return copy
  })

/** Arbitrary JSON, or a valid value with one part replaced, that the schema refuses. */
const nonMatching = <A, I>(schema: Schema.Schema<A, I>) => {
  const is = Schema.is(schema)
  return fc.oneof(fc.jsonValue({ maxDepth: 3 }), Arbitrary.make(schema).chain((valid) => mutate(valid)))
    .filter((value) => !is(value))
}

/** Puts the control plane's own PSK / the authenticated slug into a body, so only the schema decides. */
const withPsk = (body: unknown) =>
  typeof body === "object" && body !== null && !Array.isArray(body) && typeof (body as { psk?: unknown }).psk === "string"
    ? { ...body, psk: cp.secrets.psk }
    : body

const withSlug = <T extends { readonly node_slug: string }>(body: T): T => ({ ...body, node_slug: SLUG })

const numRuns = { fastCheck: { numRuns: 50 } }

describe("control plane over HTTP", () => {
  it.effect.prop("registration accepts every generated register request", [Arbitrary.make(RegisterRequest)], ([request]) =>
    Effect.gen(function*() {
      const res = remember(yield* call("POST", "/v1/nodes/register", { body: { ...request, psk: cp.secrets.psk } }))
      expect([200, 201], res.text).toContain(res.status)
      expect(Schema.is(NodeBootstrapPayload)(res.json)).toBe(true)
    }), numRuns)

  it.effect.prop("registration answers 400 to JSON that is not a register request", [nonMatching(RegisterRequest)], ([body]) =>
    Effect.gen(function*() {
      const res = yield* call("POST", "/v1/nodes/register", { body: JSON.stringify(withPsk(body)) })
      expect(res.status, res.text).toBe(400)
      expect(res.headers.get("content-type")).toContain("application/problem+json")
    }), numRuns)

  it.effect.prop("capability reports: every generated report is stored", [Arbitrary.make(NodeCapabilityReport)], ([report]) =>
    Effect.gen(function*() {
      const body = { ...report, node: { ...report.node, node_slug: SLUG } }
      const res = yield* call("POST", "/v1/nodes/capability", { token: nodeJwt, body })
      expect(res.status, res.text).toBe(204)
    }), numRuns)

  it.effect.prop("capability reports: 400 for JSON that is not a report", [nonMatching(NodeCapabilityReport)], ([body]) =>
    Effect.gen(function*() {
      const res = yield* call("POST", "/v1/nodes/capability", { token: nodeJwt, body: JSON.stringify(body) })
      expect(res.status, res.text).toBe(400)
    }), numRuns)

  it.effect.prop(
    "config acks: every generated ack is accepted (204 for the issued version, else 409)",
    [Arbitrary.make(NodeConfigAck), fc.boolean()],
    ([ack, forIssued]) =>
      Effect.gen(function*() {
        const body = { ...withSlug(ack), ...(forIssued ? { config_version: issuedVersion } : {}) }
        const res = yield* call("POST", "/v1/nodes/config", { token: nodeJwt, body })
        expect(res.status, res.text).toBe(body.config_version === issuedVersion ? 204 : 409)
      }),
    numRuns
  )

  it.effect.prop("config acks: 400 for JSON that is not an ack", [nonMatching(NodeConfigAck)], ([body]) =>
    Effect.gen(function*() {
      const res = yield* call("POST", "/v1/nodes/config", { token: nodeJwt, body: JSON.stringify(body) })
      expect(res.status, res.text).toBe(400)
    }), numRuns)

  it.effect("the config version stays the same while the config does not change", () =>
    Effect.gen(function*() {
      const first = remember(yield* call("GET", "/v1/nodes/config", { token: nodeJwt }))
      const second = remember(yield* call("GET", "/v1/nodes/config", { token: nodeJwt }))
      const version = (res: HttpResult) => Schema.decodeUnknownSync(NodeConfigurationPayload)(res.json).config_version
      expect(version(second)).toBe(version(first))
      expect(version(first) >= issuedVersion).toBe(true)
    }))

  it.effect("refuses node tokens of the wrong type, audience, age or generation; keeps the worker token", () =>
    Effect.gen(function*() {
      const jwt = Jwt.fromSecret(Redacted.make(cp.secrets.jwtSecret))
      const nodeId = (yield* Effect.promise(() =>
        cp.query<{ id: string }>("SELECT id::text AS id FROM nodes WHERE node_slug = $1", [SLUG])
      ))[0]?.id ?? ""
      const claims = { node_id: nodeId, node_slug: SLUG }
      const sign = (options: Omit<Parameters<Context.Tag.Service<Jwt>["sign"]>[0], "subject" | "claims">) =>
        Effect.map(jwt.sign({ subject: nodeId, claims, ...options }), (t) => Redacted.value(t.token))
      const refused = [
        yield* sign({ tokenType: "access", ttlMs: 60_000, audience: "cynode-node" }),
        yield* sign({ tokenType: "node", ttlMs: 60_000 }),
        yield* sign({ tokenType: "node", ttlMs: 60_000, audience: "someone-else" }),
        yield* sign({ tokenType: "node", ttlMs: -120_000, audience: "cynode-node" }),
        // Correct in every way but not the node's current jti: only the latest registration's token counts.
        yield* sign({ tokenType: "node", ttlMs: 60_000, audience: "cynode-node" })
      ]
      for (const token of refused) {
        const res = yield* call("GET", "/v1/nodes/config", { token })
        expect(res.status, res.text).toBe(401)
        expect((res.json as { detail: string }).detail).toBe("Invalid or expired token")
      }
      const tokenOf = (res: HttpResult) =>
        Schema.decodeUnknownSync(NodeConfigurationPayload)(res.json).worker_api.orchestrator_bearer_token
      const before = tokenOf(remember(yield* call("GET", "/v1/nodes/config", { token: nodeJwt })))
      const again = remember(yield* Effect.promise(() => cp.register(capabilityReport(SLUG))))
      expect(again.status).toBe(200)
      const oldJwt = nodeJwt
      nodeJwt = (again.json as { auth: { node_jwt: string } }).auth.node_jwt
      expect((yield* call("GET", "/v1/nodes/config", { token: oldJwt })).status).toBe(401)
      expect(tokenOf(remember(yield* call("GET", "/v1/nodes/config", { token: nodeJwt })))).toBe(before)
    }))

  it.effect("serves Problem Details for unknown routes and oversized bodies, and the OpenAPI document", () =>
    Effect.gen(function*() {
      const unknown = yield* call("GET", "/v1/nowhere")
      expect(unknown.status).toBe(404)
      expect(unknown.headers.get("content-type")).toContain("application/problem+json")
      const big = yield* call("POST", "/v1/nodes/capability", { token: nodeJwt, body: JSON.stringify({ pad: "x".repeat(1_100_000) }) })
      expect(big.status).toBe(413)
      const openapi = yield* call("GET", "/openapi.json")
      expect(openapi.status).toBe(200)
      for (const path of ["/v1/nodes/register", "/v1/nodes/config", "/v1/nodes/capability", "/readyz"]) {
        expect(openapi.text).toContain(`"${path}"`)
      }
    }))

  it.effect("lists nodes for an admin's live session only", () =>
    Effect.gen(function*() {
      const jwt = Jwt.fromSecret(Redacted.make(cp.secrets.jwtSecret))
      const accessFor = (handle: string) =>
        Effect.gen(function*() {
          const rows = yield* Effect.promise(() =>
            cp.query<{ id: string }>(
              `INSERT INTO users (handle) VALUES ($1) ON CONFLICT (handle) DO UPDATE SET handle = EXCLUDED.handle
               RETURNING id::text AS id`,
              [handle]
            )
          )
          const userId = rows[0]?.id ?? ""
          const sid = randomUUID()
          yield* Effect.promise(() =>
            cp.query(
              `INSERT INTO refresh_sessions (id, user_id, refresh_token_hash, expires_at)
               VALUES ($1, $2, '\\x00', now() + interval '1 hour')`,
              [sid, userId]
            )
          )
          const signed = yield* jwt.sign({ tokenType: "access", subject: userId, ttlMs: 60_000, claims: { user_id: userId, handle, sid } })
          return { token: Redacted.value(signed.token), sid }
        })
      const admin = yield* accessFor("admin")
      const listed = yield* call("GET", "/v1/nodes", { token: admin.token })
      expect(listed.status, listed.text).toBe(200)
      const nodes = (listed.json as { nodes: Array<{ node_slug: string; dispatchable: boolean }> }).nodes
      expect(nodes.some((n) => n.node_slug === SLUG)).toBe(true)
      for (const secret of issuedSecrets) expect(listed.text).not.toContain(secret)

      expect((yield* call("GET", "/v1/nodes")).status).toBe(401)
      expect((yield* call("GET", "/v1/nodes", { token: nodeJwt })).status).toBe(401)
      const bob = yield* accessFor("bob")
      expect((yield* call("GET", "/v1/nodes", { token: bob.token })).status).toBe(403)
      yield* Effect.promise(() => cp.query("UPDATE refresh_sessions SET is_active = false WHERE id = $1", [admin.sid]))
      expect((yield* call("GET", "/v1/nodes", { token: admin.token })).status).toBe(401)
    }))

  it("never writes a secret to its output", () => {
    const output = cp.program.output()
    expect(output).toContain("node registered")
    expect(issuedSecrets.size).toBeGreaterThan(2)
    for (const secret of [cp.secrets.psk, cp.secrets.jwtSecret, ...issuedSecrets]) {
      expect(output.includes(secret), "a secret appeared in the program's output").toBe(false)
    }
  })
})
