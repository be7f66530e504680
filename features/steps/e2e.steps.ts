import { Given, Then, When } from "@cucumber/cucumber"
import { strict as assert } from "node:assert"
import * as fs from "node:fs"
import * as path from "node:path"
import { answerText } from "../../src/inference-standin/Answer.ts"
import { processIsAlive } from "../../layers/EmbeddedPostgres.ts"
import { containersOf } from "../../test/support/engine.ts"
import { current, cynode, stopSystem, system } from "../support/e2e.ts"

/** Steps of the @e2e suite (features/e2e): a user's view of the whole system, over HTTP and through the CLI. */

const STANDIN_MODEL = "standin:latest"

interface Answer {
  readonly status: number
  readonly json: unknown
}

const http = async (method: string, route: string, options: { token?: string; body?: unknown } = {}): Promise<Answer> => {
  const { gatewayUrl } = await system()
  const headers: Record<string, string> = {}
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers["content-type"] = "application/json"
  const response = await fetch(gatewayUrl + route, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(90_000)
  })
  const text = await response.text()
  return { status: response.status, json: text === "" ? undefined : JSON.parse(text) }
}

const field = (value: unknown, key: string): unknown => (value as Record<string, unknown> | undefined)?.[key]
const text = (value: unknown, key: string): string => {
  const found = field(value, key)
  assert.equal(typeof found, "string", `expected a string "${key}" in ${JSON.stringify(value)}`)
  return found as string
}

const accessToken = () => {
  const token = current().access
  assert.ok(token, "not logged in over HTTP in this scenario")
  return token
}

/** The worker's response inside the task result (JSON text inside a string: parsed twice). */
const workerOutcome = () => {
  const result = current().result
  assert.ok(result, "no task result was read")
  const inner = result.jobs.at(-1)?.result
  assert.ok(inner !== undefined, `the task result has no job result: ${JSON.stringify(result)}`)
  return JSON.parse(inner) as { exit_code?: number; stdout?: string; stderr?: string; status?: string }
}

Given("the CyNode system has been started with just up and is ready", { timeout: 240_000 }, async function() {
  const sys = await system()
  assert.equal(sys.child.exitCode, null, "scripts/up.ts is no longer running")
  for (const url of [sys.gatewayUrl, sys.controlPlaneUrl]) {
    const response = await fetch(`${url}/readyz`)
    assert.equal(response.status, 200, `${url}/readyz answered ${response.status}: ${await response.text()}`)
  }
  assert.match(sys.output(), /inference\s+STAND-IN/, "up.ts did not label the inference stand-in in its output")
})

// --- over HTTP ---

Given("I have logged in over HTTP as the bootstrap admin", async function() {
  const { adminPassword } = await system()
  const answer = await http("POST", "/v1/auth/login", { body: { handle: "admin", password: adminPassword } })
  assert.equal(answer.status, 200, JSON.stringify(answer.json))
  current().access = text(answer.json, "access_token")
  current().refresh = text(answer.json, "refresh_token")
})

const createTask = async (body: Record<string, unknown>) => {
  const answer = await http("POST", "/v1/tasks", { token: accessToken(), body })
  assert.equal(answer.status, 201, JSON.stringify(answer.json))
  assert.equal(field(answer.json, "status"), "queued")
  current().taskId = text(answer.json, "id")
}

When("I create a sandbox task running {string}", async function(command: string) {
  await createTask({ prompt: command, input_mode: "commands" })
})

When("I create a prompt task {string}", async function(prompt: string) {
  await createTask({ prompt, input_mode: "prompt" })
})

When("I wait until that task has finished", { timeout: 150_000 }, async function() {
  const id = current().taskId
  assert.ok(id, "no task was created")
  const deadline = Date.now() + 120_000
  for (;;) {
    // The gateway's long poll: answers as soon as the task ends, or after the wait.
    const answer = await http("GET", `/v1/tasks/${id}/result?wait=30`, { token: accessToken() })
    assert.equal(answer.status, 200, JSON.stringify(answer.json))
    const status = text(answer.json, "status")
    if (["completed", "failed", "canceled", "superseded"].includes(status)) {
      current().result = answer.json as NonNullable<ReturnType<typeof current>["result"]>
      return
    }
    assert.ok(Date.now() < deadline, `the task is still ${status} after 120 s`)
  }
})

Then("that task has status {string}", async function(expected: string) {
  assert.equal(current().result?.status, expected, JSON.stringify(current().result))
  const task = await http("GET", `/v1/tasks/${current().taskId}`, { token: accessToken() })
  assert.equal(field(task.json, "status"), expected)
})

Then("that task's result has exit code {int} and stdout {string}", function(exitCode: number, stdout: string) {
  const outcome = workerOutcome()
  assert.equal(outcome.exit_code, exitCode, JSON.stringify(outcome))
  assert.equal(outcome.stdout, stdout.replace(/\\n/g, "\n"))
})

Then("that task's result has exit code {int} and the stand-in's answer to {string}", function(exitCode: number, prompt: string) {
  const outcome = workerOutcome()
  assert.equal(outcome.exit_code, exitCode, JSON.stringify(outcome))
  assert.equal(outcome.stdout, answerText(STANDIN_MODEL, prompt))
})

When("I refresh my session over HTTP", async function() {
  const scenario = current()
  assert.ok(scenario.refresh, "no refresh token")
  const answer = await http("POST", "/v1/auth/refresh", { body: { refresh_token: scenario.refresh } })
  assert.equal(answer.status, 200, JSON.stringify(answer.json))
  scenario.oldAccess.push(accessToken())
  scenario.oldRefresh.push(scenario.refresh)
  scenario.access = text(answer.json, "access_token")
  scenario.refresh = text(answer.json, "refresh_token")
  assert.notEqual(scenario.access, scenario.oldAccess.at(-1))
  assert.notEqual(scenario.refresh, scenario.oldRefresh.at(-1))
})

Then("the refreshed access token works", async function() {
  const me = await http("GET", "/v1/users/me", { token: accessToken() })
  assert.equal(me.status, 200, JSON.stringify(me.json))
  assert.equal(field(me.json, "handle"), "admin")
})

When("I log out over HTTP", async function() {
  const scenario = current()
  const answer = await http("POST", "/v1/auth/logout", { token: accessToken(), body: { refresh_token: scenario.refresh } })
  assert.equal(answer.status, 204, JSON.stringify(answer.json))
})

Then("my access token from before the logout is refused with 401", async function() {
  const me = await http("GET", "/v1/users/me", { token: accessToken() })
  assert.equal(me.status, 401, JSON.stringify(me.json))
  const refresh = await http("POST", "/v1/auth/refresh", { body: { refresh_token: current().refresh } })
  assert.equal(refresh.status, 401, JSON.stringify(refresh.json))
})

// --- through the CLI ---

const cliConfigDir = async () => {
  const scenario = current()
  if (scenario.cliConfigDir === undefined) {
    const { stateDir } = await system()
    scenario.cliConfigDir = fs.mkdtempSync(path.join(stateDir, "cli-"))
  }
  return scenario.cliConfigDir
}

const runCli = async (args: ReadonlyArray<string>, stdin?: string) => {
  const { gatewayUrl } = await system()
  const run = await cynode(await cliConfigDir(), gatewayUrl, args, stdin)
  current().lastCli = run
  return run
}

const lastCli = () => {
  const run = current().lastCli
  assert.ok(run, "the CLI was not run")
  return run
}

When("I log in with the cynode CLI as the bootstrap admin", { timeout: 60_000 }, async function() {
  const { adminPassword } = await system()
  const run = await runCli(["login", "--user", "admin", "--password-stdin"], `${adminPassword}\n`)
  assert.equal(run.code, 0, run.stderr)
  assert.match(run.stdout, /logged in to .* as admin/)
  assert.ok(!run.stdout.includes(adminPassword) && !run.stderr.includes(adminPassword), "the CLI printed the password")
})

Then("the CLI credentials file exists with mode 0600", async function() {
  const file = path.join(await cliConfigDir(), "credentials.json")
  assert.equal(fs.statSync(file).mode & 0o777, 0o600)
})

Then("{string} prints the handle {string}", { timeout: 60_000 }, async function(command: string, handle: string) {
  assert.equal(command, "cynode whoami")
  const run = await runCli(["whoami"])
  assert.equal(run.code, 0, run.stderr)
  assert.match(run.stdout, new RegExp(`^${handle} \\(`))
})

When("I run cynode task create --command {string} --wait", { timeout: 150_000 }, async function(command: string) {
  const run = await runCli(["task", "create", "--command", command, "--wait", "--json"])
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`)
  current().taskId = text(JSON.parse(run.stdout), "task_id")
})

Then("the CLI exited 0 and printed stdout {string}", function(stdout: string) {
  const run = lastCli()
  assert.equal(run.code, 0)
  assert.equal(field(JSON.parse(run.stdout), "stdout"), stdout.replace(/\\n/g, "\n"))
})

When("I run cynode task result for that task with --json", { timeout: 60_000 }, async function() {
  assert.ok(current().taskId, "no task was created through the CLI")
  await runCli(["task", "result", current().taskId!, "--json"])
})

Then("the CLI JSON result has status {string}, exit code {int} and stdout {string}", function(
  status: string,
  exitCode: number,
  stdout: string
) {
  const run = lastCli()
  assert.equal(run.code, 0, run.stderr)
  const result = JSON.parse(run.stdout) as Record<string, unknown>
  assert.equal(result.status, status)
  assert.equal(result.exit_code, exitCode)
  assert.equal(result.stdout, stdout.replace(/\\n/g, "\n"))
})

When("I log out with the cynode CLI", { timeout: 60_000 }, async function() {
  const run = await runCli(["logout"])
  assert.equal(run.code, 0, run.stderr)
  assert.ok(!fs.existsSync(path.join(await cliConfigDir(), "credentials.json")), "the credentials file is still there")
})

Then("{string} fails with exit code {int}", { timeout: 60_000 }, async function(command: string, code: number) {
  assert.equal(command, "cynode whoami")
  const run = await runCli(["whoami"])
  assert.equal(run.code, code, run.stdout + run.stderr)
  assert.match(run.stderr, /^error: /)
})

// --- stopping ---

When("I stop the CyNode system with Ctrl-C", { timeout: 150_000 }, async function() {
  current().stopped = await stopSystem(await system(), 120_000)
})

Then("it has stopped cleanly within {int} seconds", function(seconds: number) {
  const stopped = current().stopped
  assert.ok(stopped, "the system was not stopped")
  assert.equal(stopped.code, "0", `scripts/up.ts exited ${stopped.code}`)
  assert.ok(stopped.ms <= seconds * 1000, `stopping took ${stopped.ms} ms`)
})

Then("none of the system's processes is alive", async function() {
  const { pids } = await system()
  const alive = pids.filter(({ pid }) => processIsAlive(pid))
  assert.deepEqual(alive, [], `still running: ${JSON.stringify(alive)}`)
})

Then("no container labelled io.cynode.managed=true for this node remains", async function() {
  const { nodeSlug } = await system()
  const left = await containersOf(nodeSlug)
  assert.deepEqual(left.map((c) => `${c.Names.join(",")} ${c.State}`), [])
})
