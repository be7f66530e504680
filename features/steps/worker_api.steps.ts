import { Given, Then, When } from "@cucumber/cucumber"
import { Effect } from "effect"
import { strict as assert } from "node:assert"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { connect } from "node:net"
import { join } from "node:path"
import { ContainerRuntime } from "../../layers/ContainerRuntime.ts"
import { answerText } from "../../src/inference-standin/Answer.ts"
import { SANDBOX_IMAGE } from "../../test/support/engine.ts"
import { hostAddress, hostListener, runtime, scenario, workerUnderTest } from "../support/worker_api.ts"

/** Steps for features/worker_node/worker_api.feature: the real worker-api program over HTTP, real containers. */

const send = async (path: string, init: RequestInit & { readonly token?: string | null } = {}) => {
  const w = await workerUnderTest()
  const token = init.token === undefined ? w.token : init.token
  const res = await fetch(w.baseUrl + path, {
    ...init,
    headers: { "content-type": "application/json", ...(token === null ? {} : { authorization: `Bearer ${token}` }) }
  })
  const text = await res.text()
  scenario.status = res.status
  scenario.headers = res.headers
  scenario.body = text.startsWith("{") ? JSON.parse(text) as Record<string, unknown> : { text }
}

const runJob = (body: unknown, token?: string | null) =>
  send("/v1/worker/jobs:run", { method: "POST", body: JSON.stringify(body), ...(token === undefined ? {} : { token }) })

const sandboxJob = (script: string, extra: Record<string, unknown> = {}) => ({
  version: 1,
  task_id: scenario.taskId,
  job_id: scenario.jobId,
  sandbox: { image: SANDBOX_IMAGE, command: ["sh", "-c", script], ...extra }
})

const reply = () => {
  assert.ok(scenario.body, "the worker API has not answered yet")
  return scenario.body
}
const stdout = () => String(reply().stdout)

Given("the worker API program is running", { timeout: 120_000 }, async function() {
  await workerUnderTest()
})

Then("the worker API \\/healthz answers {int} {string}", async function(status: number, text: string) {
  await send("/healthz", { token: null })
  assert.deepEqual([scenario.status, reply().text], [status, text])
})

Then("the worker API \\/readyz answers {int} {string}", async function(status: number, text: string) {
  await send("/readyz", { token: null })
  assert.deepEqual([scenario.status, reply().text], [status, text])
})

When("the worker API runs the sandbox script {string}", { timeout: 60_000 }, async function(script: string) {
  await runJob(sandboxJob(script))
})

When(
  "the worker API runs the sandbox script {string} with a timeout of {int} second(s)",
  { timeout: 60_000 },
  async function(script: string, seconds: number) {
    await runJob(sandboxJob(script, { timeout_seconds: seconds }))
  }
)

When(
  "the worker API runs the sandbox script {string} with env {string} and the forged {string}",
  { timeout: 60_000 },
  async function(script: string, pair: string, forged: string) {
    const env = Object.fromEntries([pair, forged].map((p) => p.split("=", 2) as [string, string]))
    await runJob(sandboxJob(script, { env }))
  }
)

Then(
  "the worker API answers {int} with job status {string} and exit code {int}",
  function(status: number, jobStatus: string, exitCode: number) {
    assert.equal(scenario.status, status, JSON.stringify(scenario.body))
    assert.equal(reply().status, jobStatus, JSON.stringify(scenario.body))
    assert.equal(reply().exit_code, exitCode, JSON.stringify(scenario.body))
    assert.equal(reply().job_id, scenario.jobId)
    assert.equal(reply().task_id, scenario.taskId)
  }
)

Then("the worker job's stdout is the line {string}", function(line: string) {
  assert.equal(stdout(), `${line}\n`)
})

Then("the worker job's stdout is the lines {string} and {string}", function(a: string, b: string) {
  assert.equal(stdout(), `${a}\n${b}\n`)
})

Then("the worker job's stderr is the line {string}", function(line: string) {
  assert.equal(reply().stderr, `${line}\n`)
})

Then("the worker job reply has millisecond start and end times and nothing truncated", function() {
  const { started_at, ended_at, truncated, version } = reply()
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
  assert.match(String(started_at), ms)
  assert.match(String(ended_at), ms)
  assert.ok(Date.parse(String(ended_at)) >= Date.parse(String(started_at)))
  assert.deepEqual(truncated, { stdout: false, stderr: false })
  assert.equal(version, 1)
})

Then("the worker job's record answers the same reply", async function() {
  const expected = reply()
  await send(`/v1/worker/jobs/${scenario.jobId}`)
  assert.equal(scenario.status, 200)
  assert.deepEqual(reply(), expected)
})

Then("no container of the worker job is left", { timeout: 30_000 }, async function() {
  const w = await workerUnderTest()
  const left = await runtime.runPromise(
    Effect.flatMap(ContainerRuntime, (rt) => rt.listByLabel({ "io.cynode.node": w.nodeSlug, "io.cynode.job_id": scenario.jobId }))
  )
  assert.deepEqual(left, [])
})

Given("a TCP server on the host that the host itself can reach", async function() {
  const listener = await hostListener()
  // Control: the server is reachable from the host, on loopback and (if any) the host's own address.
  for (const host of ["127.0.0.1", hostAddress()].filter((h): h is string => h !== undefined)) {
    await new Promise<void>((resolve, reject) => {
      const socket = connect(listener.port, host, () => {
        socket.end()
        resolve()
      })
      socket.on("error", reject)
    })
  }
  await new Promise((r) => setTimeout(r, 100))
  listener.connections = 0
})

When(
  "the worker API runs a sandbox job probing that server with network policy {string}",
  { timeout: 60_000 },
  async function(policy: string) {
    const { port } = scenario.listeners[0]!
    const targets = ["127.0.0.1", hostAddress()].filter((h): h is string => h !== undefined)
    const probes = targets.map((h) => `if nc -w 2 ${h} ${port} </dev/null; then echo "reached ${h}"; else echo "refused ${h}"; fi`)
    const script = ["cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | sed 's/^/iface /'", ...probes].join("; ")
    await runJob(sandboxJob(script, { network_policy: policy }))
  }
)

Then("the sandbox saw only the loopback interface", function() {
  const ifaces = stdout().split("\n").filter((l) => l.startsWith("iface ")).map((l) => l.slice(6))
  assert.deepEqual(ifaces, ["lo"])
})

Then("every probe from the sandbox was refused", function() {
  const probes = stdout().split("\n").filter((l) => l.startsWith("reached ") || l.startsWith("refused "))
  assert.ok(probes.length >= 1, stdout())
  assert.ok(probes.every((l) => l.startsWith("refused ")), stdout())
})

Then("the host server saw no connection", function() {
  assert.equal(scenario.listeners[0]!.connections, 0)
})

Then("the job's host workspace under the mount root holds {string} with the line {string}", async function(name: string, line: string) {
  const w = await workerUnderTest()
  assert.equal(readFileSync(join(w.mountRoot, scenario.jobId, "workspace", name), "utf8"), `${line}\n`)
})

const sandboxEnv = () =>
  new Map(stdout().split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]))

Then(
  "the sandbox env has CYNODE_TASK_ID, CYNODE_JOB_ID and CYNODE_WORKSPACE_DIR {string} for this job",
  function(workspace: string) {
    const env = sandboxEnv()
    assert.equal(env.get("CYNODE_TASK_ID"), scenario.taskId)
    assert.equal(env.get("CYNODE_JOB_ID"), scenario.jobId)
    assert.equal(env.get("CYNODE_WORKSPACE_DIR"), workspace)
  }
)

Then("the sandbox env has {string}", function(pair: string) {
  const [key, value] = pair.split("=", 2)
  assert.equal(sandboxEnv().get(key!), value)
})

Then("the sandbox env holds none of the worker's secrets", async function() {
  const w = await workerUnderTest()
  for (const secret of w.secrets) assert.ok(!stdout().includes(secret), "a worker secret reached the sandbox")
  const keys = [...sandboxEnv().keys()]
  for (const key of keys) {
    assert.ok(!/TOKEN|PSK|JWT|SECRET|PASSWORD/i.test(key), `unexpected variable ${key} in the sandbox`)
    assert.ok(!key.startsWith("CYNODE_") || ["CYNODE_TASK_ID", "CYNODE_JOB_ID", "CYNODE_WORKSPACE_DIR"].includes(key), key)
  }
  // The worker's own PATH and HOME are not inherited either.
  assert.notEqual(sandboxEnv().get("PATH"), process.env.PATH)
})

When("a job is posted to the worker API without a bearer token", async function() {
  await runJob(sandboxJob("echo never"), null)
})

When("a job is posted to the worker API with a wrong bearer token", async function() {
  await runJob(sandboxJob("echo never"), "not-the-token")
})

When("the worker job status is read with a wrong bearer token", async function() {
  await send(`/v1/worker/jobs/${scenario.jobId}`, { token: "not-the-token" })
})

Then("the worker API answers {int} with problem {string} and a Bearer challenge", function(status: number, kind: string) {
  assert.equal(scenario.status, status)
  assert.equal(reply().type, `urn:cynodeai:error:${kind}`)
  assert.equal(scenario.headers?.get("www-authenticate"), "Bearer")
  assert.match(scenario.headers?.get("content-type") ?? "", /application\/problem\+json/)
})

Then("the worker API answers {int} with problem {string}", function(status: number, kind: string) {
  assert.equal(scenario.status, status, JSON.stringify(scenario.body))
  assert.equal(reply().type, `urn:cynodeai:error:${kind}`)
  assert.equal(reply().instance, scenario.headers?.get("x-request-id"))
})

When("the worker API is sent a sandbox job whose {word} is {string}", async function(field: string, id: string) {
  await runJob({ ...sandboxJob("echo never"), [field]: id })
})

Then("nothing was created outside the worker's mount root", async function() {
  const w = await workerUnderTest()
  const outside = readdirSync(w.dir).filter((name) => name !== "mounts" && name !== "token")
  assert.deepEqual(outside, [])
  assert.ok(!existsSync(join(w.mountRoot, "..", "etc")))
  assert.ok(readdirSync(w.mountRoot).every((name) => !name.startsWith(".") && !name.startsWith("-")))
})

When("the worker job status of {string} is read", async function(id: string) {
  await send(`/v1/worker/jobs/${encodeURIComponent(id)}`)
})

When("a sandbox job with a body over the worker's limit is posted", async function() {
  await runJob(sandboxJob("echo never", { env: { BIG: "x".repeat(300 * 1024) } }))
})

Given("the node-local inference stand-in is running", async function() {
  const w = await workerUnderTest()
  assert.ok(w.inferenceUrl, "the inference stand-in image localhost/cynode-inference-standin:latest is not built (just images)")
  const res = await fetch(`${w.inferenceUrl}/api/version`)
  assert.equal(res.status, 200)
})

When(
  "the worker API runs the inference job {string} with the prompt {string}",
  { timeout: 60_000 },
  async function(model: string, prompt: string) {
    await runJob({ version: 1, task_id: scenario.taskId, job_id: scenario.jobId, inference: { model, prompt } })
  }
)

Then("the worker job's stdout is the stand-in's answer for {string} and {string}", function(model: string, prompt: string) {
  assert.equal(stdout(), answerText(model, prompt))
  assert.equal(reply().stderr, "")
})

When("the same inference job id is sent again with the prompt {string}", async function(prompt: string) {
  scenario.previous = reply()
  await runJob({ version: 1, task_id: scenario.taskId, job_id: scenario.jobId, inference: { model: "standin:latest", prompt } })
})

Then("the worker API answers the stored reply again", function() {
  assert.equal(scenario.status, 200)
  assert.deepEqual(reply(), scenario.previous)
})
