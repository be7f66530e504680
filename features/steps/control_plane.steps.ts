import { After, AfterAll, Given, Then, When } from "@cucumber/cucumber"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Redacted } from "effect"
import { SignJWT } from "jose"
import { strict as assert } from "node:assert"
import { createHash, randomUUID } from "node:crypto"
import { runProgram } from "../../test/support/programs.ts"
import { createTestDatabase, publicTables } from "../../test/support/testDatabase.ts"
import { capabilityReport, ControlPlaneHarness, makeSecrets } from "../../test/support/controlPlane.ts"
import type { HttpResult } from "../../test/support/http.ts"
import { ScenarioStates } from "../support/scenarioStates.ts"

/** Steps for features/orchestrator/{node_registration_and_config,orchestrator_startup}.feature (tag @control_plane). */

interface NodeState {
  workerUrl: string
  jwt?: string
  previousJwt?: string
  id?: string
  config?: Record<string, unknown>
  previousConfigVersion?: string
  registrationHash?: string
}

interface ScenarioState {
  harness?: ControlPlaneHarness
  readonly nodes: Map<string, NodeState>
  last?: HttpResult
  exit?: { readonly code: number | null; readonly output: string }
  emptyDatabase?: { readonly url: string; drop(): Promise<void> }
}

const states = new ScenarioStates<ScenarioState>(() => ({ nodes: new Map() }))
const stateOf = (world: object) => states.of(world)

const harnessOf = (world: object) => {
  const harness = stateOf(world).harness
  assert.ok(harness, "no control plane is running")
  return harness
}

const lastOf = (world: object) => {
  const last = stateOf(world).last
  assert.ok(last, "no request was made")
  return last
}

const nodeOf = (world: object, slug: string) => {
  const node = stateOf(world).nodes.get(slug)
  assert.ok(node, `node ${slug} has not registered`)
  return node
}

const jwtOf = (world: object, slug: string) => {
  const jwt = nodeOf(world, slug).jwt
  assert.ok(jwt, `node ${slug} has no JWT`)
  return jwt
}

const configOf = (world: object, slug: string) => {
  const config = nodeOf(world, slug).config
  assert.ok(config, `node ${slug} has not fetched its config`)
  return config
}

const configVersionOf = (world: object, slug: string) => String(configOf(world, slug).config_version)

const record = (o: unknown): Record<string, unknown> => {
  assert.ok(typeof o === "object" && o !== null && !Array.isArray(o), `expected an object, got ${JSON.stringify(o)}`)
  return o as Record<string, unknown>
}

const problemDetail = (res: HttpResult) => record(res.json).detail

/**
 * One control plane serves every scenario (starting the program is most of a scenario's time); each scenario
 * starts from empty node tables. The program keeps no node state in memory, so this is a clean slate.
 */
let shared: ControlPlaneHarness | undefined

After({ tags: "@control_plane" }, async function(this: object) {
  await stateOf(this).emptyDatabase?.drop()
  states.delete(this)
})

AfterAll(async function() {
  await shared?.stop()
  shared = undefined
})

Given("a running control plane", async function(this: object) {
  if (shared !== undefined && shared.program.child.exitCode !== null) {
    await shared.stop()
    shared = undefined
  }
  shared ??= await ControlPlaneHarness.start()
  await shared.query("TRUNCATE nodes, node_capabilities, node_config_acks, system_settings, jobs CASCADE")
  stateOf(this).harness = shared
})

const register = async (world: object, slug: string, workerUrl?: string) => {
  const state = stateOf(world)
  const existing = state.nodes.get(slug)
  const node: NodeState = existing ?? { workerUrl: workerUrl ?? `http://${slug}.test:12090` }
  if (workerUrl !== undefined) node.workerUrl = workerUrl
  const res = await harnessOf(world).register(capabilityReport(slug, node.workerUrl))
  state.last = res
  if (res.status === 200 || res.status === 201) {
    if (node.jwt !== undefined) node.previousJwt = node.jwt
    node.jwt = String(record(record(res.json).auth).node_jwt)
  }
  state.nodes.set(slug, node)
  return res
}

When(
  "node {string} registers with the right PSK, reporting worker URL {string}",
  async function(this: object, slug: string, url: string) {
    await register(this, slug, url)
  }
)

When("node {string} registers with a wrong PSK", async function(this: object, slug: string) {
  stateOf(this).last = await harnessOf(this).register(capabilityReport(slug), `${harnessOf(this).secrets.psk}-wrong`)
})

Given("node {string} has registered", async function(this: object, slug: string) {
  const res = await register(this, slug)
  assert.equal(res.status, 201, res.text)
  const [row] = await harnessOf(this).query<{ id: string; capability_hash: string }>(
    "SELECT id::text AS id, capability_hash FROM nodes WHERE node_slug = $1",
    [slug]
  )
  nodeOf(this, slug).id = row?.id
  nodeOf(this, slug).registrationHash = row?.capability_hash
})

When("node {string} registers again with the right PSK", async function(this: object, slug: string) {
  await register(this, slug)
})

Then(
  "the registration answers {int} with a node_bootstrap_payload_v1",
  function(this: object, status: number) {
    const res = lastOf(this)
    assert.equal(res.status, status, res.text)
    assert.equal(res.headers.get("cache-control"), "no-store")
    const body = record(res.json)
    assert.equal(body.version, 1)
    assert.match(String(body.issued_at), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
    const auth = record(body.auth)
    assert.match(String(auth.node_jwt), /^[\w-]+\.[\w-]+\.[\w-]+$/)
    assert.match(String(auth.expires_at), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
    assert.ok(Date.parse(String(auth.expires_at)) > Date.now() + 23 * 3_600_000, "the JWT lives about 24 h")
  }
)

Then("the bootstrap URLs are built from the control plane's public URL", function(this: object) {
  const base = harnessOf(this).baseUrl
  const orchestrator = record(record(lastOf(this).json).orchestrator)
  assert.equal(orchestrator.base_url, base)
  assert.deepEqual(orchestrator.endpoints, {
    worker_registration_url: `${base}/v1/nodes/register`,
    node_report_url: `${base}/v1/nodes/capability`,
    node_config_url: `${base}/v1/nodes/config`,
    node_heartbeat_url: `${base}/v1/nodes/heartbeat`
  })
})

Then(
  "the node row {string} is active with worker URL {string}",
  async function(this: object, slug: string, url: string) {
    const rows = await harnessOf(this).query<{ status: string; worker_api_target_url: string; node_jwt_id: string }>(
      "SELECT status, worker_api_target_url, node_jwt_id FROM nodes WHERE node_slug = $1",
      [slug]
    )
    assert.equal(rows.length, 1)
    assert.equal(rows[0]?.status, "active")
    assert.equal(rows[0]?.worker_api_target_url, url)
    assert.ok(rows[0]?.node_jwt_id, "the JWT id is recorded")
  }
)

Then("no node row {string} exists", async function(this: object, slug: string) {
  const rows = await harnessOf(this).query("SELECT 1 FROM nodes WHERE node_slug = $1", [slug])
  assert.equal(rows.length, 0)
})

Then("the node row {string} still has the same id", async function(this: object, slug: string) {
  const rows = await harnessOf(this).query<{ id: string }>("SELECT id::text AS id FROM nodes WHERE node_slug = $1", [slug])
  assert.equal(rows.length, 1)
  assert.equal(rows[0]?.id, nodeOf(this, slug).id)
})

Then(
  "a config fetch with the previous JWT of {string} answers 401 with problem detail {string}",
  async function(this: object, slug: string, detail: string) {
    const previous = nodeOf(this, slug).previousJwt
    assert.ok(previous)
    const res = await harnessOf(this).request("GET", "/v1/nodes/config", { token: previous })
    assert.equal(res.status, 401, res.text)
    assert.equal(problemDetail(res), detail)
  }
)

Then("a config fetch with the current JWT of {string} answers 200", async function(this: object, slug: string) {
  const res = await harnessOf(this).request("GET", "/v1/nodes/config", { token: jwtOf(this, slug) })
  assert.equal(res.status, 200, res.text)
})

// --- Capability reports ---

const report = async (world: object, slug: string, body: Record<string, unknown>) => {
  stateOf(world).last = await harnessOf(world).request("POST", "/v1/nodes/capability", { token: jwtOf(world, slug), body })
}

When(
  "node {string} reports capabilities with {int} CPU cores and an unknown field {string}",
  async function(this: object, slug: string, cores: number, field: string) {
    const body = capabilityReport(slug, nodeOf(this, slug).workerUrl)
    body.compute = { cpu_cores: cores, ram_mb: 8192 }
    body[field] = { nested: [1, { kept: true }] }
    await report(this, slug, body)
  }
)

When(
  "node {string} reports capabilities naming node {string}",
  async function(this: object, slug: string, other: string) {
    await report(this, slug, capabilityReport(other))
  }
)

When(
  "node {string} reports capabilities with worker URL {string}",
  async function(this: object, slug: string, url: string) {
    nodeOf(this, slug).workerUrl = url
    await report(this, slug, capabilityReport(slug, url))
    assert.equal(lastOf(this).status, 204, lastOf(this).text)
  }
)

Then(
  "the stored snapshot of {string} has {int} CPU cores and keeps the unknown field {string}",
  async function(this: object, slug: string, cores: number, field: string) {
    const [row] = await harnessOf(this).query<{ capability_snapshot: Record<string, unknown> }>(
      "SELECT c.capability_snapshot FROM node_capabilities c JOIN nodes n ON n.id = c.node_id WHERE n.node_slug = $1",
      [slug]
    )
    assert.ok(row)
    assert.equal(record(row.capability_snapshot.compute).cpu_cores, cores)
    assert.deepEqual(row.capability_snapshot[field], { nested: [1, { kept: true }] })
    assert.equal(record(row.capability_snapshot.tls).worker_api_server_cert_pem !== undefined, true)
  }
)

/** Canonical JSON (sorted keys), as control-plane.md §5 defines the hash input. */
const canonical = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(",")}]`
    : typeof v === "object" && v !== null
    ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`
    : JSON.stringify(v)

Then(
  "the capability hash of {string} is the sha256 of the new report and differs from the registration's",
  async function(this: object, slug: string) {
    const [row] = await harnessOf(this).query<{ capability_hash: string; capability_snapshot: unknown }>(
      `SELECT n.capability_hash, c.capability_snapshot FROM nodes n JOIN node_capabilities c ON c.node_id = n.id
       WHERE n.node_slug = $1`,
      [slug]
    )
    assert.ok(row)
    const expected = `sha256:${createHash("sha256").update(canonical(row.capability_snapshot)).digest("hex")}`
    assert.equal(row.capability_hash, expected)
    assert.notEqual(row.capability_hash, nodeOf(this, slug).registrationHash)
  }
)

// --- Config delivery ---

const fetchConfig = async (world: object, slug: string) => {
  const node = nodeOf(world, slug)
  const res = await harnessOf(world).request("GET", "/v1/nodes/config", { token: jwtOf(world, slug) })
  stateOf(world).last = res
  assert.equal(res.status, 200, res.text)
  if (node.config !== undefined) node.previousConfigVersion = String(node.config.config_version)
  node.config = record(res.json)
}

When("node {string} fetches its config", async function(this: object, slug: string) {
  await fetchConfig(this, slug)
})

Given("node {string} has fetched its config", async function(this: object, slug: string) {
  await fetchConfig(this, slug)
})

When("the config is fetched without a JWT", async function(this: object) {
  stateOf(this).last = await harnessOf(this).request("GET", "/v1/nodes/config")
})

When("the config is fetched with a JWT forged with another secret", async function(this: object) {
  const id = randomUUID()
  const forged = await new SignJWT({ token_type: "node", node_id: id, node_slug: "node-01" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer("cynodeai")
    .setAudience("cynode-node")
    .setSubject(id)
    .setIssuedAt()
    .setExpirationTime("1h")
    .setJti(randomUUID())
    .sign(new TextEncoder().encode(makeSecrets().jwtSecret))
  stateOf(this).last = await harnessOf(this).request("GET", "/v1/nodes/config", { token: forged })
})

When(
  "the config is fetched with a JWT of {string} with one byte changed",
  async function(this: object, slug: string) {
    const jwt = jwtOf(this, slug)
    const at = jwt.indexOf(".") + 5
    const changed = jwt.slice(0, at) + (jwt[at] === "A" ? "B" : "A") + jwt.slice(at + 1)
    stateOf(this).last = await harnessOf(this).request("GET", "/v1/nodes/config", { token: changed })
  }
)

Then(
  "the config is a node_configuration_payload_v1 for {string} with a ULID config_version",
  function(this: object, slug: string) {
    const res = lastOf(this)
    assert.equal(res.headers.get("cache-control"), "no-store")
    const config = configOf(this, slug)
    assert.equal(config.version, 1)
    assert.equal(config.node_slug, slug)
    assert.match(String(config.config_version), /^[0-9A-HJKMNP-TV-Z]{26}$/)
    assert.deepEqual(config.model_cache, { cache_url: "" })
    assert.deepEqual(record(config.policy).updates, { enable_dynamic_config: false })
    assert.deepEqual(config.constraints, { max_job_timeout_seconds: 3600 })
    assert.equal(record(record(config.orchestrator).endpoints).node_report_url, `${harnessOf(this).baseUrl}/v1/nodes/capability`)
  }
)

Then("the config's worker_api_target_url is the URL {string} reported", function(this: object, slug: string) {
  const endpoints = record(record(configOf(this, slug).orchestrator).endpoints)
  assert.equal(endpoints.worker_api_target_url, nodeOf(this, slug).workerUrl)
})

Then(
  "the config enables inference_backend with variant {string}, port {int} and model {string}",
  function(this: object, variant: string, port: number, model: string) {
    const [slug] = [...stateOf(this).nodes.keys()]
    assert.ok(slug)
    assert.deepEqual(configOf(this, slug).inference_backend, { enabled: true, variant, port, selected_model: model })
  }
)

Then("the config allows only the sandbox image {string}", function(this: object, image: string) {
  const [slug] = [...stateOf(this).nodes.keys()]
  assert.ok(slug)
  assert.deepEqual(record(configOf(this, slug).policy).sandbox, {
    default_network_policy: "restricted",
    allowed_images: [image]
  })
})

const workerToken = (config: Record<string, unknown>) => String(record(config.worker_api).orchestrator_bearer_token)

Then("the worker bearer tokens of {string} and {string} differ", async function(this: object, a: string, b: string) {
  await fetchConfig(this, b)
  const first = workerToken(configOf(this, a))
  const second = workerToken(configOf(this, b))
  assert.match(first, /^[\w-]{43}$/)
  assert.notEqual(first, second)
})

Then("the stored worker token of {string} is encrypted, not the token itself", async function(this: object, slug: string) {
  const [row] = await harnessOf(this).query<{ worker_api_bearer_token: string }>(
    "SELECT worker_api_bearer_token FROM nodes WHERE node_slug = $1",
    [slug]
  )
  assert.ok(row)
  assert.match(row.worker_api_bearer_token, /^v1:/)
  assert.ok(!row.worker_api_bearer_token.includes(workerToken(configOf(this, slug))))
})

Then("the config_version is the same as before", function(this: object) {
  const [slug] = [...stateOf(this).nodes.keys()]
  assert.ok(slug)
  assert.equal(configVersionOf(this, slug), nodeOf(this, slug).previousConfigVersion)
})

Then("the config_version is greater than before", function(this: object) {
  const [slug] = [...stateOf(this).nodes.keys()]
  assert.ok(slug)
  const previous = nodeOf(this, slug).previousConfigVersion
  assert.ok(previous)
  assert.ok(configVersionOf(this, slug) > previous, `${configVersionOf(this, slug)} > ${previous}`)
})

// --- Acks ---

const ack = async (world: object, slug: string, body: Record<string, unknown>) => {
  stateOf(world).last = await harnessOf(world).request("POST", "/v1/nodes/config", { token: jwtOf(world, slug), body })
}

const ackBody = (slug: string, version: string, status: "applied" | "failed", error?: { type: string; message: string }) => ({
  version: 1,
  node_slug: slug,
  config_version: version,
  ack_at: new Date().toISOString(),
  status,
  ...(error !== undefined ? { error } : {})
})

When("node {string} acks its config as applied", async function(this: object, slug: string) {
  await ack(this, slug, ackBody(slug, configVersionOf(this, slug), "applied"))
})

Given("node {string} has acked its config as applied", async function(this: object, slug: string) {
  await ack(this, slug, ackBody(slug, configVersionOf(this, slug), "applied"))
  assert.equal(lastOf(this).status, 204, lastOf(this).text)
})

When(
  "node {string} acks its config as failed with {string} {string}",
  async function(this: object, slug: string, type: string, message: string) {
    await ack(this, slug, ackBody(slug, configVersionOf(this, slug), "failed", { type, message }))
  }
)

When(
  "node {string} acks config version {string} as failed with {string} {string}",
  async function(this: object, slug: string, version: string, type: string, message: string) {
    await ack(this, slug, ackBody(slug, version, "failed", { type, message }))
  }
)

When(
  "node {string} acks its config as applied naming node {string}",
  async function(this: object, slug: string, other: string) {
    await ack(this, slug, ackBody(other, configVersionOf(this, slug), "applied"))
  }
)

Then(
  "the node row {string} records ack {string} for the issued config version",
  async function(this: object, slug: string, status: string) {
    const [row] = await harnessOf(this).query<Record<string, unknown>>(
      `SELECT config_ack_status, config_version, issued_config_version, config_ack_error, config_ack_at
       FROM nodes WHERE node_slug = $1`,
      [slug]
    )
    assert.ok(row)
    assert.equal(row.config_ack_status, status)
    assert.equal(row.issued_config_version, configVersionOf(this, slug))
    assert.equal(row.config_version, configVersionOf(this, slug))
    assert.equal(row.config_ack_error, null)
    assert.ok(row.config_ack_at instanceof Date)
  }
)

Then("the node row {string} records ack error {string}", async function(this: object, slug: string, error: string) {
  const [row] = await harnessOf(this).query<Record<string, unknown>>(
    "SELECT config_ack_status, config_ack_error, config_version FROM nodes WHERE node_slug = $1",
    [slug]
  )
  assert.ok(row)
  assert.equal(row.config_ack_status, "failed")
  assert.equal(row.config_ack_error, error)
  assert.equal(row.config_version, null, "a failed ack does not count as applied")
})

Then("the ack history of {string} has {int} entr(y)(ies)", async function(this: object, slug: string, count: number) {
  const rows = await harnessOf(this).query(
    "SELECT a.status FROM node_config_acks a JOIN nodes n ON n.id = a.node_id WHERE n.node_slug = $1",
    [slug]
  )
  assert.equal(rows.length, count)
})

// --- Generic answers ---

Then("the control plane answers {int}", function(this: object, status: number) {
  assert.equal(lastOf(this).status, status, lastOf(this).text)
})

Then(
  "the control plane answers {int} with problem detail {string}",
  function(this: object, status: number, detail: string) {
    const res = lastOf(this)
    assert.equal(res.status, status, res.text)
    assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/)
    assert.equal(problemDetail(res), detail)
  }
)

Then(
  "the control plane answers {int} with problem type {string}",
  function(this: object, status: number, type: string) {
    const res = lastOf(this)
    assert.equal(res.status, status, res.text)
    assert.equal(record(res.json).type, type)
  }
)

// --- Health, readiness, startup ---

Then("\\/healthz answers {int} {string}", async function(this: object, status: number, body: string) {
  const res = await harnessOf(this).request("GET", "/healthz")
  assert.equal(res.status, status)
  assert.equal(res.text, body)
})

Then("\\/readyz answers {int} {string}", async function(this: object, status: number, body: string) {
  const res = await harnessOf(this).request("GET", "/readyz")
  assert.equal(res.status, status, res.text)
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/)
  assert.equal(res.text, body)
})

Then("\\/readyz answers {int} mentioning {string}", async function(this: object, status: number, text: string) {
  const res = await harnessOf(this).request("GET", "/readyz")
  assert.equal(res.status, status, res.text)
  assert.ok(res.text.includes(text), res.text)
})

Then("the control plane has created the bootstrap admin with an Argon2id password", async function(this: object) {
  const rows = await harnessOf(this).query<{ is_active: boolean; hash_alg: string; hash: string }>(
    `SELECT u.is_active, c.hash_alg, convert_from(c.password_hash, 'UTF8') AS hash
     FROM users u JOIN password_credentials c ON c.user_id = u.id WHERE u.handle = 'admin'`
  )
  assert.equal(rows.length, 1)
  assert.equal(rows[0]?.is_active, true)
  assert.equal(rows[0]?.hash_alg, "argon2id")
  assert.match(rows[0]?.hash ?? "", /^\$argon2id\$/)
})

const startupEnv = async (world: object) => {
  const db = await createTestDatabase({ migrate: false })
  stateOf(world).emptyDatabase = db
  const secrets = makeSecrets()
  return { DATABASE_URL: db.url, CONTROL_PLANE_LISTEN_ADDR: "127.0.0.1:0", NODE_REGISTRATION_PSK: secrets.psk, JWT_SECRET: secrets.jwtSecret }
}

When("the control plane starts without NODE_REGISTRATION_PSK", async function(this: object) {
  const { NODE_REGISTRATION_PSK: _omitted, ...env } = await startupEnv(this)
  stateOf(this).exit = await runProgram("control-plane", env)
})

When("the control plane starts with a JWT_SECRET of {int} bytes", async function(this: object, bytes: number) {
  const env = await startupEnv(this)
  stateOf(this).exit = await runProgram("control-plane", { ...env, JWT_SECRET: "x".repeat(bytes) })
})

When("the control plane runs with --migrate-only against an empty database", async function(this: object) {
  const { DATABASE_URL } = await startupEnv(this)
  stateOf(this).exit = await runProgram("control-plane", { DATABASE_URL }, ["--migrate-only"])
})

Then("it exits with a non-zero code", function(this: object) {
  const exit = stateOf(this).exit
  assert.ok(exit)
  assert.ok(exit.code !== 0 && exit.code !== null, `exit code ${exit.code}\n${exit.output}`)
})

Then("it exits with code {int}", function(this: object, code: number) {
  const exit = stateOf(this).exit
  assert.ok(exit)
  assert.equal(exit.code, code, exit.output)
})

Then("its output says {string}", function(this: object, text: string) {
  const exit = stateOf(this).exit
  assert.ok(exit)
  assert.ok(exit.output.includes(text), exit.output)
})

Then("that database has the nodes, node_capabilities and node_config_acks tables", async function(this: object) {
  const db = stateOf(this).emptyDatabase
  assert.ok(db)
  const names = new Set(
    await Effect.runPromise(publicTables.pipe(Effect.provide(PgClient.layer({ url: Redacted.make(db.url) }))))
  )
  for (const table of ["nodes", "node_capabilities", "node_config_acks"]) assert.ok(names.has(table), table)
})
