import { Given, Then, When } from "@cucumber/cucumber"
import { strict as assert } from "node:assert"
import { completeTaskAsDispatcher, createUser, loginTokens } from "../../test/user-gateway/gatewayProcess.ts"
import { current, gateway, handleFor, LOCKOUT, type GatewayUser, type TokenPairState } from "../support/gateway.ts"

/** Steps for the @gateway suite: thin calls to the real user-gateway over HTTP (and SQL where the dispatcher writes). */

const userFor = async (name: string): Promise<GatewayUser> => {
  const scenario = current()
  let user = scenario.users.get(name)
  if (user === undefined && name === "admin") {
    user = { handle: "admin", password: (await gateway()).adminPassword, history: [] }
    scenario.users.set(name, user)
  }
  assert.ok(user, `no gateway user "${name}" in this scenario`)
  return user
}

const accessOf = (user: GatewayUser) => {
  assert.ok(user.tokens, `${user.handle} is not logged in`)
  return user.tokens.access_token
}

const remember = (user: GatewayUser, pair: TokenPairState) => {
  if (user.tokens !== undefined) user.history.push(user.tokens)
  user.tokens = pair
}

const call = async (...args: Parameters<Awaited<ReturnType<typeof gateway>>["call"]>) => {
  const response = await (await gateway()).call(...args)
  current().last = response
  return response
}

const lastResponse = () => {
  const last = current().last
  assert.ok(last, "no gateway request was made")
  return last
}

const lastJson = <A = Record<string, unknown>>() => lastResponse().json as A

const taskId = () => {
  const id = current().taskId
  assert.ok(id, "no gateway task was created")
  return id
}

/** JSON text with `\n` written in a feature file as a real newline. */
const unescape = (s: string) => s.replace(/\\n/g, "\n")

// --- Users and sessions ---

Given("the user gateway is running", async function() {
  const res = await (await gateway()).call("GET", "/healthz")
  assert.equal(res.status, 200)
})

Given("a gateway user {string} with password {string}", async function(name: string, password: string) {
  const handle = handleFor(name)
  const created = await createUser(await gateway(), handle, password)
  current().users.set(name, { handle, password, id: created.id, history: [] })
})

Given("{string} is logged in to the gateway", async function(name: string) {
  const user = await userFor(name)
  remember(user, await loginTokens(await gateway(), user.handle, user.password))
})

When("{string} logs in to the gateway with password {string}", async function(name: string, password: string) {
  const handle = current().users.get(name)?.handle ?? handleFor(name)
  const res = await call("POST", "/v1/auth/login", { body: { handle, password } })
  const user = current().users.get(name)
  if (res.status === 200 && user !== undefined) remember(user, res.json as TokenPairState)
})

When("{string} fails to log in to the gateway {int} times", async function(name: string, times: number) {
  const user = await userFor(name)
  for (let i = 0; i < times; i++) {
    const res = await call("POST", "/v1/auth/login", { body: { handle: user.handle, password: `wrong-${i}` } })
    assert.equal(res.status, 401)
  }
})

When("the gateway lockout has passed", async function() {
  await new Promise((resolve) => setTimeout(resolve, LOCKOUT.durationSeconds * 1000 + 300))
})

When("{string} refreshes the gateway session", async function(name: string) {
  const user = await userFor(name)
  assert.ok(user.tokens)
  const res = await call("POST", "/v1/auth/refresh", { body: { refresh_token: user.tokens.refresh_token } })
  if (res.status === 200) remember(user, res.json as TokenPairState)
})

When("{string} presents the previous gateway refresh token again", async function(name: string) {
  const user = await userFor(name)
  const previous = user.history.at(-1)
  assert.ok(previous, "no previous token pair")
  await call("POST", "/v1/auth/refresh", { body: { refresh_token: previous.refresh_token } })
})

When("{string} logs out of the gateway", async function(name: string) {
  const user = await userFor(name)
  await call("POST", "/v1/auth/logout", { token: accessOf(user) })
})

When("the gateway admin {word} {string}", async function(action: string, name: string) {
  assert.ok(action === "disables" || action === "enables")
  const user = await userFor(name)
  const admin = await loginTokens(await gateway(), "admin", (await gateway()).adminPassword)
  const res = await call("POST", `/v1/users/${user.id}/${action === "disables" ? "disable" : "enable"}`, { token: admin.access_token })
  assert.equal(res.status, 204, res.text)
})

Then("the gateway answer is a Bearer token pair lasting {int} seconds", function(seconds: number) {
  const pair = lastJson()
  assert.equal(pair.token_type, "Bearer")
  assert.equal(pair.expires_in, seconds)
  assert.match(String(pair.access_token), /^eyJ/)
  assert.match(String(pair.refresh_token), /^eyJ/)
})

Then("{string} is the current gateway user", async function(name: string) {
  const user = await userFor(name)
  const res = await call("GET", "/v1/users/me", { token: accessOf(user) })
  assert.equal(res.status, 200)
  assert.deepEqual(res.json, { id: user.id, handle: user.handle, is_active: true })
})

Then("the refreshed gateway tokens of {string} differ from the previous ones", async function(name: string) {
  const user = await userFor(name)
  const previous = user.history.at(-1)
  assert.ok(previous && user.tokens)
  assert.notEqual(user.tokens.access_token, previous.access_token)
  assert.notEqual(user.tokens.refresh_token, previous.refresh_token)
})

const meStatus = async (token: string) => (await (await gateway()).call("GET", "/v1/users/me", { token })).status

Then("the gateway access token of {string} works", async function(name: string) {
  assert.equal(await meStatus(accessOf(await userFor(name))), 200)
})

Then("the previous gateway access token of {string} still works", async function(name: string) {
  const previous = (await userFor(name)).history.at(-1)
  assert.ok(previous)
  assert.equal(await meStatus(previous.access_token), 200)
})

Then("the gateway access token of {string} is refused", async function(name: string) {
  assert.equal(await meStatus(accessOf(await userFor(name))), 401)
})

Then("the gateway refresh token of {string} is refused", async function(name: string) {
  const user = await userFor(name)
  assert.ok(user.tokens)
  const res = await (await gateway()).call("POST", "/v1/auth/refresh", { body: { refresh_token: user.tokens.refresh_token } })
  assert.equal(res.status, 401)
})

Then("the gateway audit log records a {string} for {string} with reason {string}", async function(
  event: string,
  name: string,
  reason: string
) {
  const handle = current().users.get(name)?.handle ?? handleFor(name)
  const rows = await (await gateway()).sql((sql) =>
    sql<{ readonly n: number }>`
      SELECT count(*)::int AS n FROM auth_audit_log
      WHERE event_type = ${event} AND subject_handle = ${handle} AND reason = ${reason}`
  )
  assert.ok((rows[0]?.n ?? 0) > 0, `no ${event} audit event for ${handle} with reason ${reason}`)
})

// --- Answers ---

Then("the gateway answers {int}", function(status: number) {
  assert.equal(lastResponse().status, status, lastResponse().text)
})

const assertProblem = (status: number, kind: string) => {
  const res = lastResponse()
  assert.equal(res.status, status, res.text)
  assert.match(res.headers.get("content-type") ?? "", /application\/problem\+json/)
  const problem = lastJson()
  assert.equal(problem.type, `urn:cynodeai:error:${kind}`)
  assert.equal(problem.status, status)
  assert.equal(problem.instance, res.headers.get("x-request-id"))
  return problem
}

Then("the gateway answers {int} with problem {string}", function(status: number, kind: string) {
  assertProblem(status, kind)
})

Then("the gateway answers {int} with problem {string} and detail {string}", function(status: number, kind: string, detail: string) {
  assert.equal(assertProblem(status, kind).detail, detail)
})

Then("the gateway answers {int} with problem {string} and a Retry-After header", function(status: number, kind: string) {
  assertProblem(status, kind)
  const retryAfter = Number(lastResponse().headers.get("retry-after"))
  assert.ok(retryAfter >= 1 && retryAfter <= LOCKOUT.durationSeconds, `Retry-After ${retryAfter}`)
})

Then("the gateway problem names the fields {string} and {string}", function(a: string, b: string) {
  const paths = lastJson<{ errors: Array<{ path: string }> }>().errors.map((e) => e.path)
  assert.ok(paths.includes(a) && paths.includes(b), `errors name ${paths.join(", ")}`)
})

// --- Tasks ---

const createTask = async (name: string, body: unknown) => {
  const res = await call("POST", "/v1/tasks", { token: accessOf(await userFor(name)), body })
  if (res.status === 201) {
    current().task = res.json as Record<string, unknown>
    current().taskId = String(current().task?.id)
  }
  return res
}

When("{string} creates a gateway task:", async function(name: string, body: string) {
  await createTask(name, JSON.parse(body))
})

Given("{string} created a gateway script task {string}", async function(name: string, script: string) {
  const res = await createTask(name, { prompt: script, input_mode: "script" })
  assert.equal(res.status, 201, res.text)
})

Then("the gateway task has status {string} and name {string}", function(status: string, name: string) {
  const task = lastJson()
  assert.equal(task.status, status)
  assert.equal(task.task_name, name)
  assert.equal(task.summary, name)
  assert.equal(task.id, task.task_id)
})

Then("the gateway task echoes the attachments {string}", function(attachment: string) {
  assert.deepEqual(lastJson().attachments, [attachment])
})

Then("the gateway task has exactly one queued job with payload:", async function(payload: string) {
  const id = taskId()
  const jobs = await (await gateway()).sql((sql) =>
    sql<{ readonly status: string; readonly payload: unknown }>`SELECT status, payload FROM jobs WHERE task_id = ${id}`
  )
  assert.deepEqual(jobs, [{ status: "queued", payload: JSON.parse(payload) }])
})

When("{string} reads the gateway task by its id", async function(name: string) {
  await call("GET", `/v1/tasks/${taskId()}`, { token: accessOf(await userFor(name)) })
})

When("{string} reads the gateway task {string}", async function(name: string, taskName: string) {
  await call("GET", `/v1/tasks/${taskName}`, { token: accessOf(await userFor(name)) })
})

Then("the gateway answers 200 with the same task", function() {
  assert.equal(lastResponse().status, 200, lastResponse().text)
  assert.deepEqual(lastJson(), current().task)
})

const listIds = async (name: string) => {
  const res = await call("GET", "/v1/tasks", { token: accessOf(await userFor(name)) })
  assert.equal(res.status, 200)
  const list = res.json as { tasks: Array<{ id: string }>; next_cursor: string }
  assert.equal(typeof list.next_cursor, "string")
  return list.tasks.map((t) => t.id)
}

Then("the gateway task list of {string} contains the task", async function(name: string) {
  assert.ok((await listIds(name)).includes(taskId()))
})

Then("the gateway task list of {string} does not contain the task", async function(name: string) {
  assert.ok(!(await listIds(name)).includes(taskId()))
})

When("{string} asks for the gateway task result", async function(name: string) {
  await call("GET", `/v1/tasks/${taskId()}/result`, { token: accessOf(await userFor(name)) })
})

When("{string} cancels the gateway task", async function(name: string) {
  await call("POST", `/v1/tasks/${taskId()}/cancel`, { token: accessOf(await userFor(name)) })
})

When("{string} reads the gateway task logs", async function(name: string) {
  await call("GET", `/v1/tasks/${taskId()}/logs`, { token: accessOf(await userFor(name)) })
})

When("the dispatcher records the gateway job as completed with stdout {string}", async function(stdout: string) {
  const id = taskId()
  const jobs = await (await gateway()).sql((sql) => sql<{ readonly id: string }>`SELECT id FROM jobs WHERE task_id = ${id}`)
  await completeTaskAsDispatcher(await gateway(), id, {
    version: 1,
    task_id: id,
    job_id: jobs[0]?.id,
    status: "completed",
    exit_code: 0,
    stdout: unescape(stdout),
    stderr: "",
    started_at: "2026-02-19T10:00:01.000Z",
    ended_at: "2026-02-19T10:00:02.000Z",
    truncated: { stdout: false, stderr: false }
  })
})

interface ResultBody {
  readonly task_id: string
  readonly status: string
  readonly jobs: Array<Record<string, unknown>>
}

Then("the gateway result has status {string} and one {string} job without result or timestamps", function(
  status: string,
  jobStatus: string
) {
  const body = lastJson<ResultBody>()
  assert.equal(body.task_id, taskId())
  assert.equal(body.status, status)
  assert.equal(body.jobs.length, 1)
  assert.deepEqual(Object.keys(body.jobs[0] ?? {}).sort(), ["id", "status"])
  assert.equal(body.jobs[0]?.status, jobStatus)
})

Then(
  "the gateway result has status {string} and one {string} job whose result text decodes to exit code {int} and stdout {string}",
  function(status: string, jobStatus: string, exitCode: number, stdout: string) {
    const body = lastJson<ResultBody>()
    assert.equal(body.status, status)
    assert.equal(body.jobs.length, 1)
    const job = body.jobs[0] ?? {}
    assert.equal(job.status, jobStatus)
    assert.equal(typeof job.result, "string", "jobs[].result must be JSON text inside a string")
    const inner = JSON.parse(String(job.result)) as Record<string, unknown>
    assert.equal(inner.version, 1)
    assert.equal(inner.status, "completed")
    assert.equal(inner.exit_code, exitCode)
    assert.equal(inner.stdout, unescape(stdout))
  }
)

Then("the gateway job timestamps are whole-second UTC", function() {
  const job = lastJson<ResultBody>().jobs[0] ?? {}
  for (const key of ["started_at", "ended_at"]) assert.match(String(job[key]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
})

Then("the gateway logs show stdout {string}", function(stdout: string) {
  assert.deepEqual(lastJson(), { task_id: taskId(), stdout: unescape(stdout), stderr: "" })
})

Then("the gateway task is canceled with its job", async function() {
  assert.deepEqual(lastJson(), { task_id: taskId(), canceled: true })
  const id = taskId()
  const rows = await (await gateway()).sql((sql) =>
    sql<{ readonly task_status: string; readonly closed: boolean; readonly job_status: string; readonly ended: boolean }>`
      SELECT t.status AS task_status, t.closed, j.status AS job_status, j.ended_at IS NOT NULL AS ended
      FROM tasks t JOIN jobs j ON j.task_id = t.id WHERE t.id = ${id}`
  )
  assert.deepEqual(rows, [{ task_status: "canceled", closed: true, job_status: "canceled", ended: true }])
})
