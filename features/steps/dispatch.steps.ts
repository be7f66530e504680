import { After, Given, Then, When } from "@cucumber/cucumber"
import { strict as assert } from "node:assert"
import { randomBytes } from "node:crypto"
import { DispatchWorld } from "../support/dispatch.ts"

/** Steps for features/orchestrator/dispatch.feature (tag @dispatch). */

const worlds = new WeakMap<object, DispatchWorld>()

export const worldOf = (scenario: object): DispatchWorld => {
  const world = worlds.get(scenario)
  assert.ok(world, "no dispatch control plane was started")
  return world
}

const ensureWorld = async (scenario: object) => {
  let world = worlds.get(scenario)
  if (world === undefined) {
    world = await DispatchWorld.create()
    worlds.set(scenario, world)
  }
  return world
}

After({ tags: "@dispatch" }, async function(this: object) {
  await worlds.get(this)?.stop()
  worlds.delete(this)
})

const sh = (script: string) => ({ command: ["sh", "-c", script] as [string, ...Array<string>] })

const terminal = (status: string) => status === "completed" || status === "failed" || status === "canceled"

// --- Given ---

Given("a dispatch control plane is running", { timeout: 60_000 }, async function(this: object) {
  await (await ensureWorld(this)).startControlPlane()
})

Given("{int} dispatch control planes are running on one database", { timeout: 90_000 }, async function(this: object, n: number) {
  const world = await ensureWorld(this)
  for (let i = 0; i < n; i++) await world.startControlPlane()
})

Given(
  "dispatch node {string} runs a worker holding its delivered token and has acked its config",
  { timeout: 60_000 },
  async function(this: object, slug: string) {
    const world = worldOf(this)
    await world.registerNode(slug)
    await world.startWorker(slug)
    await world.ack(slug)
  }
)

Given(
  "dispatch node {string} runs a worker holding a wrong token and has acked its config",
  { timeout: 60_000 },
  async function(this: object, slug: string) {
    const world = worldOf(this)
    await world.registerNode(slug)
    await world.startWorker(slug, { token: randomBytes(32).toString("base64url") })
    await world.ack(slug)
  }
)

Given(
  "dispatch node {string} has registered and fetched its config but not acked it",
  { timeout: 30_000 },
  async function(this: object, slug: string) {
    await worldOf(this).registerNode(slug)
  }
)

// --- When ---

When("a sandbox job {string} runs {string}", async function(this: object, name: string, script: string) {
  await worldOf(this).createJob(name, sh(script.replace(/\\n/g, "\n")))
})

When("{int} sandbox jobs each append a line to their workspace", async function(this: object, n: number) {
  const world = worldOf(this)
  for (let i = 0; i < n; i++) {
    await world.createJob(`many-${i}`, sh("echo run >> /workspace/runs; echo done"))
  }
})

When(
  "dispatch job {string} is running on worker {string}",
  { timeout: 60_000 },
  async function(this: object, name: string, slug: string) {
    const world = worldOf(this)
    const node = world.node(slug)
    const { jobId } = world.job(name)
    const deadline = Date.now() + 50_000
    while (Date.now() < deadline) {
      const res = await fetch(`${node.url}/v1/worker/jobs/${jobId}`, {
        headers: { authorization: `Bearer ${node.deliveredToken}` }
      })
      const body = (await res.json()) as Record<string, unknown>
      if (res.status === 200 && body.status === "running") return
      assert.notEqual(res.status === 200 && body.status !== "running", true, `the job already ended: ${JSON.stringify(body)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.fail(`job ${name} never ran on ${slug}`)
  }
)

When(
  "the dispatch control plane is killed with SIGKILL and started again",
  { timeout: 60_000 },
  async function(this: object) {
    const world = worldOf(this)
    await world.controlPlane.program.crash()
    await world.startControlPlane()
  }
)

When(
  "dispatch node {string} starts its worker and acks its config",
  { timeout: 60_000 },
  async function(this: object, slug: string) {
    const world = worldOf(this)
    await world.startWorker(slug)
    await world.ack(slug)
  }
)

When("the task of dispatch job {string} is canceled as the gateway cancels it", async function(this: object, name: string) {
  const world = worldOf(this)
  await world.cancelTask(world.job(name).taskId)
})

// --- Then ---

Then(
  "dispatch job {string} ends {string} with task status {string}",
  { timeout: 90_000 },
  async function(this: object, name: string, jobStatus: string, taskStatus: string) {
    const world = worldOf(this)
    const row = await world.waitForJob(world.job(name).jobId, (r) => terminal(r.status) && r.ended_at !== null, 80_000)
    assert.equal(row.status, jobStatus, `job result: ${JSON.stringify(row.result)}`)
    assert.equal(row.task_status, taskStatus)
    assert.equal(row.task_closed, true)
  }
)

Then(
  "dispatch job {string} has stdout {string}, stderr {string} and exit code {int}",
  async function(this: object, name: string, stdout: string, stderr: string, exitCode: number) {
    const world = worldOf(this)
    const { result } = await world.jobRow(world.job(name).jobId)
    assert.ok(result, "the job has no result")
    assert.equal(result.stdout, stdout.replace(/\\n/g, "\n"))
    assert.equal(result.stderr, stderr.replace(/\\n/g, "\n"))
    assert.equal(result.exit_code, exitCode)
    assert.equal(result.job_id, world.job(name).jobId)
    assert.equal(result.version, 1)
  }
)

Then("the restarted control plane reconciled dispatch job {string} with its node", function(this: object, name: string) {
  const world = worldOf(this)
  const { jobId } = world.job(name)
  const output = world.controlPlane.program.output()
  const reconciled = output.split("\n").filter((line) => line.includes("reconciling a job whose lease lapsed") && line.includes(jobId))
  assert.equal(reconciled.length, 1, `the restarted control plane did not reconcile the job:\n${output.slice(-3000)}`)
})

Then("the result summary of dispatch job {string} is {string}", async function(this: object, name: string, summary: string) {
  const world = worldOf(this)
  assert.equal((await world.jobRow(world.job(name).jobId)).result_summary, summary)
})

Then(
  "worker {string} recorded dispatch job {string} as completed, run exactly once",
  async function(this: object, slug: string, name: string) {
    const world = worldOf(this)
    const { jobId } = world.job(name)
    const record = world.workerRecord(slug, jobId)
    assert.ok(record, `worker ${slug} has no record of job ${jobId}`)
    assert.equal(record.status, "completed")
    assert.equal(world.acceptedCount(slug, jobId), 1, "the worker accepted the job a number of times other than once")
    const runs = world.workspaceFile(slug, jobId, "runs")
    if (runs !== undefined) assert.equal(runs, "run\n", "the sandbox ran more than once")
  }
)

Then(
  "the dispatch failure of job {string} is {string} mentioning {string} and {string}",
  async function(this: object, name: string, errorType: string, first: string, second: string) {
    const world = worldOf(this)
    const { result, result_summary } = await world.jobRow(world.job(name).jobId)
    assert.ok(result, "the job has no result")
    assert.equal(result.status, "failed")
    assert.equal(result.error_type, errorType)
    assert.equal(typeof result.error, "string")
    assert.ok(String(result.error).includes(first), `error: ${String(result.error)}`)
    assert.ok(String(result.error).includes(second), `error: ${String(result.error)}`)
    assert.equal(result_summary, `job failed (${errorType})`)
  }
)

Then("worker {string} never ran dispatch job {string}", async function(this: object, slug: string, name: string) {
  const world = worldOf(this)
  const { jobId } = world.job(name)
  assert.equal(world.workerRecord(slug, jobId), undefined, "the worker holds a record of the job")
  assert.equal(world.acceptedCount(slug, jobId), 0)
  const output = world.node(slug).program?.output() ?? ""
  assert.ok(!output.includes("should never run"))
})

Then(
  "dispatch job {string} is still queued on no node after {int} seconds",
  { timeout: 30_000 },
  async function(this: object, name: string, seconds: number) {
    const world = worldOf(this)
    await new Promise((r) => setTimeout(r, seconds * 1000))
    const row = await world.jobRow(world.job(name).jobId)
    assert.equal(row.status, "queued")
    assert.equal(row.node_id, null)
    assert.equal(row.task_status, "pending")
  }
)

Then("the control plane logged once that queued jobs wait for a dispatchable node", function(this: object) {
  const output = worldOf(this).controlPlane.program.output()
  const lines = output.split("\n").filter((line) => line.includes("queued jobs wait: no dispatchable node"))
  assert.equal(lines.length, 1, `expected one line, got ${lines.length}`)
})

Then(
  "every one of the {int} dispatch jobs ends {string} with task status {string}",
  { timeout: 180_000 },
  async function(this: object, n: number, jobStatus: string, taskStatus: string) {
    const world = worldOf(this)
    for (let i = 0; i < n; i++) {
      const row = await world.waitForJob(world.job(`many-${i}`).jobId, (r) => terminal(r.status) && r.ended_at !== null, 150_000)
      assert.equal(row.status, jobStatus, `job many-${i}: ${JSON.stringify(row.result)}`)
      assert.equal(row.task_status, taskStatus)
    }
  }
)

Then(
  "the workers' own records show each of the {int} jobs ran exactly once on exactly one node",
  async function(this: object, n: number) {
    const world = worldOf(this)
    const slugs = [...world.workers.keys()]
    for (let i = 0; i < n; i++) {
      const { jobId } = world.job(`many-${i}`)
      const holders = slugs.filter((slug) => world.workerRecord(slug, jobId) !== undefined)
      assert.equal(holders.length, 1, `job many-${i} is recorded on ${holders.length} nodes`)
      const slug = holders[0]!
      assert.equal(world.workerRecord(slug, jobId)?.status, "completed")
      assert.equal(world.workspaceFile(slug, jobId, "runs"), "run\n", `job many-${i} ran more than once`)
      const accepted = slugs.reduce((sum, s) => sum + world.acceptedCount(s, jobId), 0)
      assert.equal(accepted, 1, `job many-${i} was accepted ${accepted} times`)
    }
  }
)

Then(
  "worker {string} recorded dispatch job {string} as stopped by the cancel",
  async function(this: object, slug: string, name: string) {
    const world = worldOf(this)
    const { jobId } = world.job(name)
    const record = world.workerRecord(slug, jobId)
    assert.ok(record, "the worker has no record of the job")
    assert.equal(record.status, "failed")
    assert.equal(record.exit_code, -1)
    assert.ok(String(record.stderr).includes("canceled"), `stderr: ${String(record.stderr)}`)
    const { result } = await world.jobRow(jobId)
    assert.equal(result?.exit_code, -1)
  }
)
