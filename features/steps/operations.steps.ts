import { Given, Then, When } from "@cucumber/cucumber"
import { strict as assert } from "node:assert"
import { makeSecrets } from "../../test/support/controlPlane.ts"
import { eventually } from "../support/node_manager.ts"
import { worldOf } from "./dispatch.steps.ts"

/** Steps for features/orchestrator/operations.feature (on the dispatch world: tag @dispatch). */

const previous = new WeakMap<object, { readonly token: string; readonly configVersion: string }>()
const cancels = new WeakMap<object, ReadonlyArray<PromiseSettledResult<unknown>>>()

const readyz = async (scenario: object) => {
  const res = await fetch(`${worldOf(scenario).controlPlane.baseUrl}/readyz`)
  return { status: res.status, body: await res.text() }
}

When("the control plane is restarted on the same database with a new JWT_SECRET", { timeout: 60_000 }, async function(this: object) {
  const world = worldOf(this)
  await world.restartControlPlane({ ...world.secrets, jwtSecret: makeSecrets().jwtSecret })
})

Given("node manager {string} runs against the control plane and has acked its config", { timeout: 120_000 }, async function(this: object, name: string) {
  const world = worldOf(this)
  const node = await world.startNodeManager(name)
  previous.set(this, { token: await world.storedWorkerToken(node.slug), configVersion: "" })
})

When(
  "only the control plane is restarted, at the same address, with a new JWT_SECRET",
  { timeout: 60_000 },
  async function(this: object) {
    const world = worldOf(this)
    await world.restartControlPlane({ ...world.secrets, jwtSecret: makeSecrets().jwtSecret }, { sameAddress: true })
  }
)

Then("the control plane logged that the worker token of node manager {string} was re-issued", { timeout: 30_000 }, async function(this: object, name: string) {
  const world = worldOf(this)
  const slug = world.nodeManager(name).slug
  const lines = await eventually("the re-issue", 20_000, async () => {
    const found = world.controlPlane.program.output().split("\n").filter((l) => l.includes("worker token re-issued") && l.includes(slug))
    return found.length > 0 ? found : undefined
  })
  assert.equal(lines.length, 1, lines.join("\n"))
})

Then(
  "node manager {string} took its new worker token and acked the new config version, without restarting",
  { timeout: 60_000 },
  async function(this: object, name: string) {
    const world = worldOf(this)
    const node = world.nodeManager(name)
    const row = await eventually("the node's ack of its new config version", 45_000, async () => {
      const [r] = await world.query<{ config_version: string; issued_config_version: string; config_ack_status: string }>(
        "SELECT config_version, issued_config_version, config_ack_status FROM nodes WHERE node_slug = $1",
        [node.slug]
      )
      return r !== undefined && r.config_ack_status === "applied" && r.config_version === r.issued_config_version &&
          node.program.output().includes("config refreshed: new worker token in use; ack sent")
        ? r
        : undefined
    })
    const output = node.program.output()
    assert.equal(node.program.child.exitCode, null, "the node manager stopped")
    assert.equal(output.split("\n").filter((l) => l.includes("node startup complete")).length, 1, "the node manager started again")
    assert.ok(output.includes(`"config_version":"${row.config_version}"`), output.slice(-3000))
    const fresh = await world.storedWorkerToken(node.slug)
    assert.notEqual(fresh, previous.get(this)?.token, "the worker token was not re-issued")
    for (const [program, text] of [["node manager", output], ["control plane", world.controlPlane.program.output()]]) {
      assert.ok(!text?.includes(fresh), `the ${program} logged the new worker token`)
    }
  }
)

When(
  "dispatch node {string} restarts: it registers again and fetches its config",
  { timeout: 60_000 },
  async function(this: object, slug: string) {
    const world = worldOf(this)
    const before = world.node(slug)
    previous.set(this, { token: before.deliveredToken, configVersion: before.configVersion })
    await before.program?.stop(15_000)
    await world.registerNode(slug)
  }
)

When(
  "{int} sandbox jobs are created and every other task is canceled at once, as the gateway cancels, while they dispatch",
  { timeout: 60_000 },
  async function(this: object, n: number) {
    const world = worldOf(this)
    const created = []
    for (let i = 0; i < n; i++) created.push(await world.createJob(`race-${i}`, { command: ["sh", "-c", "echo raced"] }))
    cancels.set(this, await Promise.allSettled(created.filter((_, i) => i % 2 === 0).map((job) => world.cancelTask(job.taskId))))
  }
)

Then("node {string} was delivered a new worker token under a new config version", function(this: object, slug: string) {
  const before = previous.get(this)
  assert.ok(before, "the node did not restart")
  const now = worldOf(this).node(slug)
  assert.notEqual(now.deliveredToken, before.token)
  assert.notEqual(now.configVersion, before.configVersion)
})

Then("the control plane logged that the worker token of {string} was re-issued", function(this: object, slug: string) {
  const output = worldOf(this).controlPlane.program.output()
  const lines = output.split("\n").filter((l) => l.includes("worker token re-issued") && l.includes(slug))
  assert.equal(lines.length, 1, output.slice(-3000))
})

Then("the control plane is not ready because {string}", async function(this: object, reason: string) {
  const answer = await readyz(this)
  assert.equal(answer.status, 503, answer.body)
  assert.ok(answer.body.includes(reason), answer.body)
})

Then("the control plane is ready", { timeout: 20_000 }, async function(this: object) {
  const deadline = Date.now() + 15_000
  let answer = await readyz(this)
  while (answer.status !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200))
    answer = await readyz(this)
  }
  assert.equal(answer.status, 200, answer.body)
})

Then("every cancel succeeded or answered that the task had already ended", function(this: object) {
  const results = cancels.get(this) ?? []
  assert.ok(results.length > 0)
  for (const result of results) {
    if (result.status === "rejected") {
      const text = String(result.reason)
      assert.ok(text.includes("TaskAlreadyClosed"), `a cancel failed: ${text}`)
    }
  }
})

Then(
  "every one of the {int} racing tasks ends closed, canceled or completed, with no job left running",
  { timeout: 120_000 },
  async function(this: object, n: number) {
    const world = worldOf(this)
    for (let i = 0; i < n; i++) {
      const row = await world.waitForJob(world.job(`race-${i}`).jobId, (r) => r.ended_at !== null && r.task_closed, 100_000)
      assert.ok(["canceled", "completed"].includes(row.task_status), `race-${i}: ${row.task_status}`)
      assert.ok(["canceled", "completed"].includes(row.status), `race-${i}: ${row.status}`)
    }
  }
)
