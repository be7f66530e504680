import { After, Given, Then, When } from "@cucumber/cucumber"
import { strict as assert } from "node:assert"
import { capabilityReport } from "../../test/support/controlPlane.ts"
import { containersOf, docker, STANDIN_IMAGE } from "../../test/support/engine.ts"
import { eventually, NodeStartupStack, type NodeUnderTest } from "../support/node_manager.ts"
import { ScenarioStates } from "../support/scenarioStates.ts"

/** Steps for features/worker_node/node_startup.feature (tag @node_manager). */

interface ScenarioState {
  stack?: NodeStartupStack
  readyAt?: number
}

const states = new ScenarioStates<ScenarioState>(() => ({}))
const stateOf = (world: object) => states.of(world)

const stackOf = (world: object) => {
  const stack = stateOf(world).stack
  assert.ok(stack, "no control plane was started for node startup")
  return stack
}

const nodeOf = (world: object, name: string): NodeUnderTest => stackOf(world).node(name)

After({ tags: "@node_manager", timeout: 90_000 }, async function(this: object) {
  await stateOf(this).stack?.stop()
  states.delete(this)
})

interface NodeRow {
  readonly id: string
  readonly created_at: Date
  readonly issued_config_version: string | null
  readonly config_version: string | null
  readonly config_ack_status: string | null
  readonly config_ack_error: string | null
  readonly node_jwt_id: string | null
  readonly last_capability_at: Date | null
  readonly dispatchable: boolean
}

/** The node row, with the dispatchable condition of src/control-plane/Dispatchable.ts (control-plane.md §8). */
const nodeRow = async (stack: NodeStartupStack, slug: string): Promise<NodeRow | undefined> => {
  const rows = await stack.controlPlane.query<NodeRow>(
    `SELECT n.id::text AS id, n.created_at, n.issued_config_version, n.config_version, n.config_ack_status,
       n.config_ack_error, n.node_jwt_id, n.last_capability_at,
       (n.status = 'active' AND n.config_ack_status = 'applied' AND n.config_version IS NOT NULL
        AND n.config_version = n.issued_config_version AND COALESCE(n.worker_api_target_url, '') <> ''
        AND COALESCE(n.worker_api_bearer_token, '') <> '') AS dispatchable
     FROM nodes n WHERE n.node_slug = $1`,
    [slug]
  )
  return rows[0]
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
/** A ULID's first 10 characters are its millisecond timestamp. */
const ulidTime = (ulid: string): number =>
  ulid.slice(0, 10).split("").reduce((ms, c) => ms * 32 + CROCKFORD.indexOf(c), 0)

const get = async (url: string, token?: string) => {
  const res = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  return { status: res.status, text: await res.text(), headers: res.headers }
}

// ---- given / when ----------------------------------------------------------------------------------------------

Given("a control plane for node startup serving the inference stand-in", { timeout: 60_000 }, async function(this: object) {
  stateOf(this).stack = await NodeStartupStack.start({ inferenceImage: STANDIN_IMAGE })
})

Given("a control plane for node startup serving the inference image {string}", { timeout: 60_000 }, async function(
  this: object,
  image: string
) {
  stateOf(this).stack = await NodeStartupStack.start({ inferenceImage: image })
})

Given(
  "a control plane for node startup serving the inference stand-in, with node JWTs valid for {int} seconds",
  { timeout: 60_000 },
  async function(this: object, seconds: number) {
    stateOf(this).stack = await NodeStartupStack.start({ inferenceImage: STANDIN_IMAGE, jwtDuration: `${seconds}s` })
  }
)

When("node manager {string} starts", async function(this: object, name: string) {
  await stackOf(this).startNode(name)
})

When("node manager {string} starts, reporting capabilities every second", async function(this: object, name: string) {
  await stackOf(this).startNode(name, { CYNODE_CAPABILITY_REPORT_INTERVAL_SECONDS: "1" })
})

When("node manager {string} receives SIGTERM", function(this: object, name: string) {
  nodeOf(this, name).program.child.kill("SIGTERM")
})

When("the control plane revokes the node JWT of {string} by a registration of the same slug", async function(
  this: object,
  name: string
) {
  const stack = stackOf(this)
  const node = nodeOf(this, name)
  const res = await stack.controlPlane.register(capabilityReport(node.slug, node.workerUrl))
  assert.equal(res.status, 200, res.text)
  const row = await nodeRow(stack, node.slug)
  stateOf(this).readyAt = Date.now()
  revokedJti.set(this, row?.node_jwt_id ?? "")
})

const revokedJti = new WeakMap<object, string>()

// ---- then: startup --------------------------------------------------------------------------------------------

Then("the worker API of {string} becomes ready within {int} seconds", { timeout: 90_000 }, async function(
  this: object,
  name: string,
  seconds: number
) {
  const node = nodeOf(this, name)
  let exited: number | null | undefined
  void node.program.exited.then((code) => {
    exited = code
  })
  await eventually(`worker API of ${name} ready`, seconds * 1000, async () => {
    if (exited !== undefined) throw new Error(`node manager exited with ${exited}:\n${node.program.output().slice(-3000)}`)
    const res = await get(`${node.workerUrl}/readyz`).catch(() => undefined)
    return res?.status === 200 && res.text === "ready" ? true : undefined
  }).catch((e: unknown) => {
    throw new Error(`${String(e)}\n${node.program.output().slice(-3000)}`)
  })
  stateOf(this).readyAt = Date.now()
})

Then(
  "the control plane recorded for {string}, in order: registration, config issued, inference container started, ack applied, capability report",
  { timeout: 30_000 },
  async function(this: object, name: string) {
    const stack = stackOf(this)
    const node = nodeOf(this, name)
    const ack = await eventually("an applied ack and a later capability report", 15_000, async () => {
      const row = await nodeRow(stack, node.slug)
      const acks = await stack.controlPlane.query<{ status: string; received_at: Date; config_version: string }>(
        "SELECT status, received_at, config_version FROM node_config_acks WHERE node_id = $1 ORDER BY received_at",
        [row?.id]
      )
      return row?.last_capability_at !== null && row !== undefined && acks.length > 0 &&
          row.last_capability_at.getTime() >= acks[0]!.received_at.getTime()
        ? { row, acks }
        : undefined
    })
    const { row, acks } = ack
    assert.equal(acks.length, 1, "the config is acknowledged once per startup")
    assert.equal(acks[0]!.status, "applied")
    assert.equal(row.config_ack_status, "applied")
    assert.ok(row.issued_config_version !== null)
    assert.equal(acks[0]!.config_version, row.issued_config_version)
    assert.equal(row.config_version, row.issued_config_version)
    assert.ok(row.dispatchable, "the node is dispatchable after the applied ack")

    const inference = (await containersOf(node.slug)).filter((c) => c.Labels["io.cynode.role"] === "inference")
    assert.equal(inference.length, 1)
    const started = Date.parse((await docker.getContainer(inference[0]!.Id).inspect()).State.StartedAt)

    const sequence: Array<[string, number]> = [
      ["registration", row.created_at.getTime()],
      ["config issued", ulidTime(row.issued_config_version)],
      ["inference container started", started],
      ["ack applied", acks[0]!.received_at.getTime()],
      ["capability report", row.last_capability_at!.getTime()]
    ]
    for (let i = 1; i < sequence.length; i++) {
      const [before, t0] = sequence[i - 1]!
      const [after, t1] = sequence[i]!
      assert.ok(t0 <= t1, `${before} (${new Date(t0).toISOString()}) must precede ${after} (${new Date(t1).toISOString()})`)
    }
  }
)

Then("after registration {string} used only the URLs of its bootstrap payload", function(this: object, _name: string) {
  // Registration went to CYNODE_ORCHESTRATOR_URL (the control plane itself); the bootstrap's URLs point at the
  // proxy, so everything the proxy saw came from the bootstrap payload.
  const seen = stackOf(this).proxy.seen
  assert.ok(!seen.some((s) => s.includes("/register")), `registration must not go through the bootstrap URLs: ${seen.join(", ")}`)
  const fetches = seen.filter((s) => s === "GET /v1/nodes/config")
  assert.equal(fetches.length, 1, `the config is fetched exactly once: ${seen.join(", ")}`)
  const ackAt = seen.indexOf("POST /v1/nodes/config")
  assert.ok(ackAt > seen.indexOf("GET /v1/nodes/config"), `the ack follows the fetch: ${seen.join(", ")}`)
  assert.ok(seen.indexOf("POST /v1/nodes/capability") > ackAt, `a capability report follows the ack: ${seen.join(", ")}`)
})

Then(
  "exactly one inference container of {string} runs, published only on 127.0.0.1 at the configured inference port",
  async function(this: object, name: string) {
    const stack = stackOf(this)
    const node = nodeOf(this, name)
    const all = await containersOf(node.slug)
    const inference = all.filter((c) => c.Labels["io.cynode.role"] === "inference")
    assert.equal(inference.length, 1, `containers of ${node.slug}: ${all.map((c) => c.Names.join()).join(", ")}`)
    const details = await docker.getContainer(inference[0]!.Id).inspect()
    assert.ok(details.State.Running)
    assert.equal(details.Config.Labels["io.cynode.managed"], "true")
    assert.equal(details.Config.Image, STANDIN_IMAGE)
    assert.deepEqual(details.HostConfig.PortBindings, {
      "11434/tcp": [{ HostIp: "127.0.0.1", HostPort: String(stack.inferencePort) }]
    })
    const version = await get(`http://127.0.0.1:${stack.inferencePort}/api/version`)
    assert.equal(JSON.parse(version.text).version, "0.0.0-cynode-standin")
  }
)

Then("the worker API of {string} accepts the delivered token and rejects a wrong or missing one", async function(
  this: object,
  name: string
) {
  const stack = stackOf(this)
  const node = nodeOf(this, name)
  const token = await stack.workerToken(node.slug)
  const url = `${node.workerUrl}/v1/worker/jobs/bdd-unknown-job`
  const accepted = await get(url, token)
  assert.equal(accepted.status, 404, `the delivered token passes auth (unknown job → 404): ${accepted.text}`)
  const wrong = await get(url, `${token}x`)
  assert.equal(wrong.status, 401)
  assert.match(wrong.headers.get("www-authenticate") ?? "", /^Bearer/)
  assert.equal((await get(url)).status, 401)
  assert.ok(!node.program.output().includes(token), "the worker token never appears in the node's output")
})

Then("the control plane's readiness is {string}", { timeout: 20_000 }, async function(this: object, expected: string) {
  const stack = stackOf(this)
  await eventually(`control plane /readyz = ${expected}`, 15_000, async () => {
    const res = await get(`${stack.controlPlane.baseUrl}/readyz`)
    return res.status === 200 && res.text === expected ? true : undefined
  })
})

Then("the startup of {string} is logged with a duration for every step", function(this: object, name: string) {
  const line = nodeOf(this, name).program.output().split("\n").find((l) => l.includes("\"node startup complete\""))
  assert.ok(line, "no startup line")
  const timings = (JSON.parse(line).annotations as { timings_ms: Record<string, number> }).timings_ms
  for (const step of ["decode_env", "checks", "register", "fetch_config", "validate_config", "start_worker_api", "start_inference", "ack_applied", "first_report"]) {
    assert.equal(typeof timings[step], "number", `timing of ${step} in ${line}`)
  }
})

// ---- then: exit and containers ---------------------------------------------------------------------------------

const exitWithin = async (node: NodeUnderTest, ms: number) => {
  const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms))
  const code = await Promise.race([node.program.exited, timer])
  assert.notEqual(code, "timeout", `node manager did not exit within ${ms} ms:\n${node.program.output().slice(-3000)}`)
  return code
}

Then("node manager {string} exits with code {int}", { timeout: 60_000 }, async function(this: object, name: string, expected: number) {
  const node = nodeOf(this, name)
  assert.equal(await exitWithin(node, 50_000), expected, node.program.output().slice(-3000))
})

Then(
  "node manager {string} exits with code {int} within {int} seconds, naming the step {string}",
  { timeout: 90_000 },
  async function(this: object, name: string, expected: number, seconds: number, step: string) {
    const node = nodeOf(this, name)
    assert.equal(await exitWithin(node, seconds * 1000), expected, node.program.output().slice(-3000))
    assert.ok(
      node.program.output().includes(`node-manager: startup failed at step "${step}"`),
      `no readable message naming the step:\n${node.program.output().slice(-3000)}`
    )
    assert.match(node.program.output(), /\n {2}check: .+/)
  }
)

Then("the inference container of {string} is stopped but kept", async function(this: object, name: string) {
  const node = nodeOf(this, name)
  const details = await docker.getContainer(node.containerName).inspect()
  assert.equal(details.State.Running, false)
  assert.equal(details.Config.Labels["io.cynode.node"], node.slug)
})

Then("no container of {string} is left running", async function(this: object, name: string) {
  const node = nodeOf(this, name)
  const running = (await containersOf(node.slug)).filter((c) => c.State === "running")
  assert.deepEqual(running.map((c) => c.Names.join()), [])
})

// ---- then: failed startup --------------------------------------------------------------------------------------

Then("the control plane recorded a failed ack {string} for {string}", async function(this: object, type: string, name: string) {
  const stack = stackOf(this)
  const node = nodeOf(this, name)
  const row = await nodeRow(stack, node.slug)
  assert.ok(row, "the node registered")
  const acks = await stack.controlPlane.query<{ status: string; error_type: string | null; error_message: string | null }>(
    "SELECT status, error_type, error_message FROM node_config_acks WHERE node_id = $1",
    [row.id]
  )
  assert.equal(acks.length, 1)
  assert.equal(acks[0]!.status, "failed")
  assert.equal(acks[0]!.error_type, type)
  assert.ok((acks[0]!.error_message ?? "") !== "")
  assert.equal(row.config_ack_status, "failed")
})

Then("node {string} is not dispatchable", async function(this: object, name: string) {
  const stack = stackOf(this)
  const row = await nodeRow(stack, nodeOf(this, name).slug)
  assert.equal(row?.dispatchable, false)
})

Then("the control plane's readiness is not ready, naming {string} and {string}", async function(
  this: object,
  name: string,
  reason: string
) {
  const stack = stackOf(this)
  const res = await get(`${stack.controlPlane.baseUrl}/readyz`)
  assert.equal(res.status, 503)
  assert.ok(res.text.includes(nodeOf(this, name).slug) && res.text.includes(reason), res.text)
})

// ---- then: JWT renewal -----------------------------------------------------------------------------------------

Then("{string} registers again at least {int} times within {int} seconds", { timeout: 60_000 }, async function(
  this: object,
  name: string,
  times: number,
  seconds: number
) {
  const stack = stackOf(this)
  const node = nodeOf(this, name)
  const seen = new Set<string>()
  await eventually(`${times} re-registrations`, seconds * 1000, async () => {
    const row = await nodeRow(stack, node.slug)
    if (row?.node_jwt_id) seen.add(row.node_jwt_id)
    return seen.size >= times + 1 ? true : undefined
  })
  assert.equal(node.program.child.exitCode, null, "the node keeps running")
})

/** Reports the control plane accepted (204) after `after`, as seen by the proxy. */
const acceptedReportsAfter = (stack: NodeStartupStack, after: number) =>
  stack.proxy.calls.filter((c) => c.request === "POST /v1/nodes/capability" && c.status === 204 && c.at > after).length

Then("capability reports of {string} keep arriving after its first JWT expired", { timeout: 30_000 }, async function(
  this: object,
  name: string
) {
  const stack = stackOf(this)
  const node = nodeOf(this, name)
  // The first JWT was issued before the node became ready and lived 3 s.
  const expired = (stateOf(this).readyAt ?? Date.now()) + 3_000
  await eventually("accepted capability reports after the first JWT expired", 15_000, async () =>
    acceptedReportsAfter(stack, expired) >= 3 ? true : undefined)
  const row = await nodeRow(stack, node.slug)
  assert.ok(row?.dispatchable, "still dispatchable: re-registration keeps the applied config")
})

Then("{string} registers again within {int} seconds after its report was refused with 401", { timeout: 30_000 }, async function(
  this: object,
  name: string,
  seconds: number
) {
  const stack = stackOf(this)
  const node = nodeOf(this, name)
  const revoked = revokedJti.get(this)
  await eventually("re-registration after a 401", seconds * 1000, async () => {
    const row = await nodeRow(stack, node.slug)
    const refused = stack.proxy.calls.some((c) => c.request === "POST /v1/nodes/capability" && c.status === 401)
    return refused && row?.node_jwt_id !== revoked ? true : undefined
  })
  stateOf(this).readyAt = Date.now()
})

Then("capability reports of {string} keep arriving", { timeout: 30_000 }, async function(this: object, _name: string) {
  const stack = stackOf(this)
  const after = stateOf(this).readyAt ?? Date.now()
  await eventually("accepted capability reports after re-registration", 10_000, async () =>
    acceptedReportsAfter(stack, after) >= 2 ? true : undefined)
})
