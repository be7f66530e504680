import { After, Given, Then, When } from "@cucumber/cucumber"
import { strict as assert } from "node:assert"
import { NetnsCluster, netnsAvailable, type JobRow } from "../support/netns.ts"

/** Steps for features/cluster/netns.feature (tag @netns). */

interface Scenario {
  cluster: NetnsCluster
  /** Task ids by batch, in submission order. */
  readonly batches: Array<Array<string>>
  pending?: string
  /** The node the scenario killed, cut off or drained. */
  victim?: string
  /** The task whose node was killed (the only one of its batch on that node). */
  victimTask?: string
}

const scenarios = new WeakMap<object, Scenario>()

/** Programs start slowly on a loaded 2-core machine, and jobs take seconds: each step may take minutes. */
const LONG = { timeout: 300_000 }

const scenarioOf = (world: object): Scenario => {
  const s = scenarios.get(world)
  assert.ok(s, "no cluster was started")
  return s
}

After({ tags: "@netns", timeout: 120_000 }, async function(this: object) {
  await scenarios.get(this)?.cluster.stop()
  scenarios.delete(this)
})

const lastBatch = (s: Scenario) => s.batches.at(-1) ?? []
const allTasks = (s: Scenario) => [...s.batches.flat(), ...(s.pending !== undefined ? [s.pending] : [])]
const victimOf = (s: Scenario) => {
  assert.ok(s.victim !== undefined, "no node was picked")
  return s.victim
}

const describeJobs = (rows: ReadonlyArray<JobRow>) =>
  rows.map((r) => `${r.job_id.slice(0, 8)} ${r.status} on ${r.node_slug ?? "-"}${r.error_type !== null ? ` (${r.error_type}: ${r.error})` : ""}`)
    .join("\n")

const submitBatch = async (s: Scenario, count: number, seconds: number) => {
  const ids: Array<string> = []
  // One after another, as one user types them (the gateway names each task; the order keeps names distinct).
  for (let i = 0; i < count; i++) ids.push(await s.cluster.submit(`echo run >> /workspace/runs; sleep ${seconds}; echo done`))
  s.batches.push(ids)
  return ids
}

/** Waits until every job of `tasks` satisfies `done`; fails at once when one ended otherwise than `completed`. */
const waitJobs = async (s: Scenario, tasks: ReadonlyArray<string>, what: string, done: (r: JobRow) => boolean, allowFailed = false) => {
  let last: ReadonlyArray<JobRow> = []
  await s.cluster.waitUntil(what, async () => {
    last = await s.cluster.jobs(tasks)
    const failed = last.filter((r) => r.status === "failed" || r.status === "canceled")
    if (!allowFailed && failed.length > 0) throw new Error(`${what}: a job failed:\n${describeJobs(last)}`)
    return last.length === tasks.length && last.every(done)
  }, 120_000)
  return last
}

Given("a control plane in its own network namespace", LONG, async function(this: object) {
  assert.ok(netnsAvailable(), "ip netns does not work here: this suite needs root and iproute2")
  const cluster = await NetnsCluster.create()
  scenarios.set(this, { cluster, batches: [] })
  await cluster.startControlPlane()
})

Given("nodes {string}, {string} and {string} each in their own namespace reaching it over veth", LONG, async function(this: object, a: string, b: string, c: string) {
    const { cluster } = scenarioOf(this)
    // One after another: three sandbox checks at once can trip the engine on a loaded machine.
    for (const slug of [a, b, c]) await cluster.startNode(slug)
    const rows = await cluster.query<{ node_slug: string; worker_api_target_url: string }>(
      "SELECT node_slug, worker_api_target_url FROM nodes ORDER BY node_slug"
    )
    // Each node is reached at its own namespace's address, not the host's loopback.
    for (const row of rows) assert.equal(row.worker_api_target_url, `http://${cluster.node(row.node_slug).address}:12090`)
  }
)

When("{int} tasks each record their run and take {int} second(s)", LONG, async function(this: object, count: number, seconds: number) {
  await submitBatch(scenarioOf(this), count, seconds)
})

Given("every node is kept busy by {int} tasks of {int} seconds", LONG, async function(this: object, count: number, seconds: number) {
  const s = scenarioOf(this)
  const ids = await submitBatch(s, count, seconds)
  await waitJobs(s, ids, "every busy task running", (r) => r.status === "running")
})

When("a task is submitted that records its run", LONG, async function(this: object) {
  const s = scenarioOf(this)
  s.pending = await s.cluster.submit("echo run >> /workspace/runs; echo late")
})

When("node {string} joins in its own namespace", LONG, async function(this: object, slug: string) {
  await scenarioOf(this).cluster.startNode(slug)
})

Then("that task runs on {string} within {int} second(s) of node-4's config ack", LONG, async function(this: object, slug: string, seconds: number) {
  const s = scenarioOf(this)
  const task = s.pending
  assert.ok(task !== undefined)
  const [job] = await waitJobs(s, [task], `the late task starting on ${slug}`, (r) => r.started_at !== null)
  assert.equal(job?.node_slug, slug, describeJobs([job!]))
  const [gap] = await s.cluster.query<{ ms: number }>(
    `SELECT EXTRACT(EPOCH FROM (j.started_at - a.received_at)) * 1000 AS ms
     FROM jobs j, node_config_acks a JOIN nodes n ON n.id = a.node_id
     WHERE j.task_id = $1 AND n.node_slug = $2 AND a.status = 'applied'
     ORDER BY a.received_at DESC LIMIT 1`,
    [task, slug]
  )
  assert.ok(gap !== undefined && Number(gap.ms) <= seconds * 1000, `started ${gap?.ms} ms after the ack`)
  await waitJobs(s, [task], "the late task completing", (r) => r.status === "completed")
})

Then("every one of those tasks completes", LONG, async function(this: object) {
  const s = scenarioOf(this)
  await waitJobs(s, lastBatch(s), "every task completing", (r) => r.status === "completed")
})

Then("each of {string}, {string} and {string} ran at least one of them", LONG, async function(this: object, a: string, b: string, c: string) {
  const s = scenarioOf(this)
  const rows = await s.cluster.jobs(lastBatch(s))
  for (const slug of [a, b, c]) assert.ok(rows.some((r) => r.node_slug === slug), `${slug} ran none:\n${describeJobs(rows)}`)
})

Then("no job ran twice, by the workers' own records", LONG, async function(this: object) {
  const s = scenarioOf(this)
  const runs = s.cluster.runsByJob()
  const rows = await s.cluster.jobs(allTasks(s))
  for (const row of rows) {
    const ran = runs.get(row.job_id) ?? []
    assert.ok(ran.length <= 1, `job ${row.job_id} ran ${ran.length} times: ${ran.join(", ")}`)
    if (row.status === "completed") assert.deepEqual(ran, [row.node_slug], `job ${row.job_id} completed without one run where stored`)
  }
})

When("every one of those tasks is running", LONG, async function(this: object) {
  const s = scenarioOf(this)
  const rows = await waitJobs(s, lastBatch(s), "every task running", (r) => r.status === "running")
  // Running in its sandbox, not only sent: its run is on the node's disk.
  await s.cluster.waitUntil("every sandbox started", () => {
    const runs = s.cluster.runsByJob()
    return Promise.resolve(rows.every((r) => (runs.get(r.job_id) ?? []).length === 1))
  })
})

const firstJobNode = async (s: Scenario) => {
  const [first] = await s.cluster.jobs([lastBatch(s)[0]!])
  assert.ok(first?.node_slug !== null && first?.node_slug !== undefined)
  return first.node_slug
}

When("a node running exactly one of them is killed with SIGKILL", LONG, async function(this: object) {
  const s = scenarioOf(this)
  // A node with just one of the tasks, so that every other task runs on a node that stays up: on a loaded machine a
  // node can miss the batch's claim (a late heartbeat), and two tasks then share a node.
  const rows = await s.cluster.jobs(lastBatch(s))
  const perNode = new Map<string, number>()
  for (const r of rows) if (r.node_slug !== null) perNode.set(r.node_slug, (perNode.get(r.node_slug) ?? 0) + 1)
  const index = rows.findIndex((r) => r.node_slug !== null && perNode.get(r.node_slug) === 1)
  assert.ok(index >= 0, `no node runs exactly one of the tasks:\n${describeJobs(rows)}`)
  s.victim = rows[index]!.node_slug!
  s.victimTask = rows[index]!.task_id
  await s.cluster.node(s.victim).program.crash()
})

When("the node running the first of them is cut off from the network", LONG, async function(this: object) {
  const s = scenarioOf(this)
  s.victim = await firstJobNode(s)
  s.cluster.partition(s.victim)
})

When("the cut-off node's link comes back", LONG, function(this: object) {
  const s = scenarioOf(this)
  s.cluster.heal(victimOf(s))
})

Then("that node becomes lost", LONG, async function(this: object) {
  const s = scenarioOf(this)
  const slug = victimOf(s)
  await s.cluster.waitUntil(`${slug} lost`, async () => (await s.cluster.nodeRow(slug))?.status === "lost")
})

Then("that node becomes active again", LONG, async function(this: object) {
  const s = scenarioOf(this)
  const slug = victimOf(s)
  await s.cluster.waitUntil(`${slug} active again`, async () => (await s.cluster.nodeRow(slug))?.status === "active")
})

Then("the control plane is still ready", LONG, async function(this: object) {
  const { cluster } = scenarioOf(this)
  // Ready as long as one live dispatchable node is left; a probe can still time out on a loaded machine, so a few
  // tries, but an answer blaming the nodes fails at once.
  let last = { status: 0, body: "" }
  for (let attempt = 0; attempt < 10; attempt++) {
    last = await cluster.hubGet(`${cluster.controlPlaneUrl}/readyz`)
    if (last.status === 200) break
    assert.ok(!last.body.includes("node"), `not ready because of the nodes: ${last.body}`)
    await new Promise((r) => setTimeout(r, 1000))
  }
  assert.deepEqual([last.status, last.body], [200, "ready"], `readiness: ${last.status} ${last.body}\n${cluster.controlPlane?.output().split("\n").filter((l) => /WARN|ERROR|readyz|Readiness/.test(l)).slice(-30).join("\n")}`)
})

Then("the killed node's job ends failed with {string}", LONG, async function(this: object, errorType: string) {
  const s = scenarioOf(this)
  assert.ok(s.victimTask !== undefined, "no node was killed")
  const [job] = await waitJobs(s, [s.victimTask], "the killed node's job ending", (r) => r.status === "failed", true)
  assert.equal(job?.error_type, errorType, describeJobs([job!]))
  assert.ok(job?.error?.includes(victimOf(s)), job?.error ?? "")
})

Then("the other tasks complete", LONG, async function(this: object) {
  const s = scenarioOf(this)
  await waitJobs(s, lastBatch(s).filter((id) => id !== s.victimTask), "the other tasks completing", (r) => r.status === "completed")
})

Then("the first tasks complete", LONG, async function(this: object) {
  const s = scenarioOf(this)
  await waitJobs(s, s.batches[0] ?? [], "the first tasks completing", (r) => r.status === "completed")
})

Then("every one of those tasks completes on a node other than the {word} one", LONG, async function(this: object, _what: string) {
  const s = scenarioOf(this)
  const rows = await waitJobs(s, lastBatch(s), "every task completing", (r) => r.status === "completed")
  for (const row of rows) assert.notEqual(row.node_slug, victimOf(s), describeJobs(rows))
})

Then("every task so far has ended", LONG, async function(this: object) {
  const s = scenarioOf(this)
  await waitJobs(s, allTasks(s), "every task ending", (r) => r.status === "completed" || r.status === "failed", true)
  const rows = await s.cluster.jobs(allTasks(s))
  for (const row of rows.filter((r) => r.status === "failed")) assert.equal(row.error_type, "node_lost", describeJobs(rows))
})

When("the admin drains the node running the first of them through the gateway", LONG, async function(this: object) {
  const s = scenarioOf(this)
  s.victim = await firstJobNode(s)
  await s.cluster.gatewayCall("POST", `/v1/nodes/${s.victim}/drain`)
})

Then("the gateway shows that node {string}", LONG, async function(this: object, state: string) {
  const s = scenarioOf(this)
  const slug = victimOf(s)
  await s.cluster.waitUntil(`${slug} shown ${state}`, async () => {
    const res = await s.cluster.gatewayCall("GET", "/v1/nodes")
    const nodes = (res.json as { nodes: Array<{ node_slug: string; admin_state: string }> }).nodes
    return nodes.find((n) => n.node_slug === slug)?.admin_state === state
  })
})
