import { Then, When } from "@cucumber/cucumber"
import { strict as assert } from "node:assert"
import { makeSecrets } from "../../test/support/controlPlane.ts"
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
