import { After, Given, Then, When } from "@cucumber/cucumber"
import { strict as assert } from "node:assert"
import type { Socket } from "node:net"
import { capabilityReport } from "../../test/support/controlPlane.ts"
import { SANDBOX_IMAGE } from "../../test/support/engine.ts"
import { openSocket, rawHttp, rawSocketHttp, untilClosed, type RawResult } from "../../test/support/rawHttp.ts"
import { createUser, loginTokens } from "../../test/user-gateway/gatewayProcess.ts"
import { current, gateway, REFRESH_GRACE_MS, type TokenPairState } from "../support/gateway.ts"
import { ScenarioStates } from "../support/scenarioStates.ts"
import { EDGE_LIMITS, edgeControlPlane, LOCKOUT_GATEWAY, lockoutGateway, PROXIED_GATEWAY, proxiedGateway } from "../support/security.ts"
import { scenario as workerScenario, workerUnderTest } from "../support/worker_api.ts"

/** Steps for features/security/http_edge.feature: raw requests to the real programs, spelt as an attacker would. */

interface State {
  last?: RawResult
  nodeJwt?: string
  sockets: Array<Socket>
  closed?: Array<{ readonly closed: boolean; readonly received: string }>
  slow?: { readonly closed: boolean; readonly received: string; readonly sentBytes: number }
  statuses?: Array<number>
  pairs?: Array<TokenPairState>
}

const states = new ScenarioStates<State>(() => ({ sockets: [] }))

After({ tags: "@security" }, function(this: object) {
  for (const socket of states.get(this)?.sockets ?? []) socket.destroy()
  states.delete(this)
})

const last = (world: object) => {
  const res = states.of(world).last
  assert.ok(res, "no request was sent")
  return res
}

const JSON_HEADERS = { "content-type": "application/json" }

const jobBody = (jobId: string) =>
  JSON.stringify({ version: 1, task_id: `task-${jobId}`, job_id: jobId, sandbox: { image: SANDBOX_IMAGE, command: ["true"] } })

const splitRequest = (line: string) => {
  const [method, target] = line.split(" ")
  assert.ok(method && target, `expected "METHOD target", got ${line}`)
  return { method, target }
}

When(
  "{string} is sent to the worker API without a token, with a job body for job {string}",
  { timeout: 60_000 },
  async function(this: object, line: string, jobId: string) {
    const { method, target } = splitRequest(line)
    const w = await workerUnderTest()
    states.of(this).last = await rawHttp(w.baseUrl, {
      method,
      target,
      headers: JSON_HEADERS,
      ...(method === "POST" ? { body: jobBody(jobId) } : {})
    })
  }
)

Then("the worker API never ran job {string}", async function(this: object, jobId: string) {
  const w = await workerUnderTest()
  const res = await rawHttp(w.baseUrl, {
    method: "GET",
    target: `/v1/worker/jobs/${jobId}`,
    headers: { authorization: `Bearer ${w.token}` }
  })
  assert.equal(res.status, 404, `job ${jobId} has a record: ${res.text}`)
})

When("{string} is sent to the user gateway without a token", { timeout: 60_000 }, async function(this: object, line: string) {
  const { method, target } = splitRequest(line)
  const g = await gateway()
  states.of(this).last = await rawHttp(g.baseUrl, {
    method,
    target,
    headers: JSON_HEADERS,
    ...(method === "POST" ? { body: JSON.stringify({ prompt: "echo hi" }) } : {})
  })
})

When("{string} is sent to the control plane without a token", { timeout: 60_000 }, async function(this: object, line: string) {
  const { method, target } = splitRequest(line)
  const cp = await edgeControlPlane()
  states.of(this).last = await rawHttp(cp.baseUrl, {
    method,
    target,
    headers: JSON_HEADERS,
    ...(method === "POST" ? { body: JSON.stringify(capabilityReport("sec-node")) } : {})
  })
})

Then("the answer is {int} with a Bearer challenge", function(this: object, status: number) {
  const res = last(this)
  assert.equal(res.status, status, res.text)
  assert.match(String(res.headers["www-authenticate"]), /^Bearer/)
})

Then("the answer is {int} with problem type {string}", function(this: object, status: number, type: string) {
  const res = last(this)
  assert.equal(res.status, status, res.text)
  assert.equal((JSON.parse(res.text) as { type?: string }).type, type)
})

Then("the answer is {int}", function(this: object, status: number) {
  assert.equal(last(this).status, status, last(this).text)
})

When("an 8 MiB task body is posted to the user gateway without a token", { timeout: 60_000 }, async function(this: object) {
  const g = await gateway()
  const body = JSON.stringify({ prompt: "x".repeat(8 * 1024 * 1024) })
  states.of(this).last = await rawSocketHttp(g.baseUrl, { method: "POST", target: "/v1/tasks", headers: JSON_HEADERS, body })
})

When(
  "a 100 KiB login body is posted to the user gateway at {string}",
  { timeout: 60_000 },
  async function(this: object, target: string) {
    const g = await gateway()
    const body = JSON.stringify({ handle: "nobody", password: "p".repeat(100 * 1024) })
    states.of(this).last = await rawHttp(g.baseUrl, { method: "POST", target, headers: JSON_HEADERS, body })
  }
)

Given("a node has registered with the control plane", { timeout: 60_000 }, async function(this: object) {
  const cp = await edgeControlPlane()
  const res = await cp.register(capabilityReport(`sec-${Math.random().toString(16).slice(2, 10)}`))
  assert.ok(res.status === 200 || res.status === 201, res.text)
  states.of(this).nodeJwt = String((res.json as { auth: { node_jwt: string } }).auth.node_jwt)
})

When(
  "the node posts a {string} body to the control plane at {string}",
  { timeout: 30_000 },
  async function(this: object, contentType: string, target: string) {
    const cp = await edgeControlPlane()
    const jwt = states.of(this).nodeJwt
    assert.ok(jwt)
    states.of(this).last = await rawHttp(cp.baseUrl, {
      method: "POST",
      target,
      headers: { "content-type": contentType, authorization: `Bearer ${jwt}` },
      body: "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n",
      // A hang is a failure: the answer must come without waiting for more input.
      timeoutMs: 10_000
    })
  }
)

When(
  "a client sends the control plane a {int}-byte body one byte every {int} ms",
  { timeout: 60_000 },
  async function(this: object, size: number, everyMs: number) {
    const cp = await edgeControlPlane()
    const socket = await openSocket(cp.baseUrl)
    states.of(this).sockets.push(socket)
    socket.write(`POST /v1/nodes/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`)
    let sent = 0
    const timer = setInterval(() => {
      if (socket.destroyed || sent >= size) return
      socket.write(" ")
      sent++
    }, everyMs)
    const outcome = await untilClosed(socket, (size * everyMs) + 10_000)
    clearInterval(timer)
    states.of(this).slow = { ...outcome, sentBytes: sent }
  }
)

Then(
  "the control plane answers 408 and closes the connection before the body is complete",
  function(this: object) {
    const slow = states.of(this).slow
    assert.ok(slow)
    assert.ok(slow.closed, "the connection stayed open")
    assert.ok(slow.sentBytes < 100, `the whole body (${slow.sentBytes} bytes) was sent before the cut`)
    assert.match(slow.received, /^HTTP\/1\.1 408/)
  }
)

When("a client holds MAX_CONNECTIONS open connections to the control plane", { timeout: 30_000 }, async function(this: object) {
  const cp = await edgeControlPlane()
  const state = states.of(this)
  for (let i = 0; i < EDGE_LIMITS.maxConnections; i++) state.sockets.push(await openSocket(cp.baseUrl))
})

Then("one more connection is closed without an answer", { timeout: 30_000 }, async function(this: object) {
  const cp = await edgeControlPlane()
  const state = states.of(this)
  state.sockets.push(await openSocket(cp.baseUrl))
  // Within a second (well before READ_TIMEOUT closes idle heads), at least one of the surplus connections is gone.
  const outcomes = await Promise.all(state.sockets.map((s) => untilClosed(s, 1_000)))
  const dropped = outcomes.filter((o) => o.closed)
  assert.ok(dropped.length >= 1, "every connection beyond the cap stayed open")
  assert.ok(dropped.every((o) => o.received === ""), "a dropped connection got an answer")
})

Then(
  "once those connections close, the control plane answers {string} again",
  { timeout: 30_000 },
  async function(this: object, path: string) {
    const cp = await edgeControlPlane()
    for (const s of states.of(this).sockets) s.destroy()
    const deadline = Date.now() + 10_000
    let status = 0
    while (Date.now() < deadline && status !== 200) {
      status = await rawHttp(cp.baseUrl, { method: "GET", target: path, timeoutMs: 2_000 }).then((r) => r.status, () => 0)
      if (status !== 200) await new Promise((r) => setTimeout(r, 200))
    }
    assert.equal(status, 200)
  }
)

When("a request with an 8 KiB header is sent to the control plane", { timeout: 30_000 }, async function(this: object) {
  const cp = await edgeControlPlane()
  states.of(this).last = await rawHttp(cp.baseUrl, { method: "GET", target: "/healthz", headers: { "x-filler": "f".repeat(8 * 1024) } })
})

When(
  "the admin creates a task whose prompt holds a lone surrogate escape",
  { timeout: 60_000 },
  async function(this: object) {
    const g = await gateway()
    const { access_token } = await loginTokens(g, "admin", g.adminPassword)
    states.of(this).last = await rawHttp(g.baseUrl, {
      method: "POST",
      target: "/v1/tasks",
      headers: { ...JSON_HEADERS, authorization: `Bearer ${access_token}` },
      body: '{"prompt":"echo \\ud800 lone"}'
    })
  }
)

When(
  "{int} wrong passwords for a new user {string} are sent to the gateway at once",
  { timeout: 60_000 },
  async function(this: object, count: number, name: string) {
    const g = await lockoutGateway()
    const handle = `${name}-${Math.random().toString(16).slice(2, 10)}`
    await createUser(g, handle, `${name}-right-password`)
    const answers = await Promise.all(
      Array.from({ length: count }, (_, i) => g.call("POST", "/v1/auth/login", { body: { handle, password: `guess-${i}` } }))
    )
    states.of(this).statuses = answers.map((a) => a.status)
  }
)

Then("at most the lockout threshold of them are answered 401 and all others 429", function(this: object) {
  const statuses = states.of(this).statuses ?? []
  const unauthorized = statuses.filter((s) => s === 401).length
  assert.ok(unauthorized >= 1 && unauthorized <= LOCKOUT_GATEWAY.threshold, `${unauthorized} guesses were checked: ${statuses.join(",")}`)
  assert.equal(statuses.filter((s) => s === 429).length, statuses.length - unauthorized, statuses.join(","))
})

When("{string} refreshes the gateway session twice at once", { timeout: 30_000 }, async function(this: object, name: string) {
  const g = await gateway()
  const user = current().users.get(name)
  assert.ok(user?.tokens, `${name} is not logged in`)
  const body = { refresh_token: user.tokens.refresh_token }
  const answers = await Promise.all([g.call("POST", "/v1/auth/refresh", { body }), g.call("POST", "/v1/auth/refresh", { body })])
  states.of(this).statuses = answers.map((a) => a.status)
  states.of(this).pairs = answers.map((a) => a.json as TokenPairState)
})

Then("both refreshes answer 200 with the same new token pair, whose access token works", async function(this: object) {
  const { statuses, pairs } = states.of(this)
  assert.deepEqual(statuses, [200, 200])
  assert.ok(pairs?.[0] && pairs[1])
  assert.equal(pairs[0].refresh_token, pairs[1].refresh_token)
  const me = await (await gateway()).call("GET", "/v1/users/me", { token: pairs[0].access_token })
  assert.equal(me.status, 200)
})

When("the gateway refresh grace window has passed", async function() {
  await new Promise((resolve) => setTimeout(resolve, REFRESH_GRACE_MS + 200))
})

Then("the sandbox's CPU quota is half a CPU", function() {
  const out = String(workerScenario.body?.stdout ?? "").trim()
  // cgroups v2: "<quota> <period>"; v1: the quota alone, over the default 100000 µs period.
  const [quota = "", period = "100000"] = out.split(/\s+/)
  assert.equal(Number(quota) / Number(period), 0.5, `cpu quota: ${out}`)
})

Then("the worker job's stderr ends with the line {string}", function(line: string) {
  const stderr = String(workerScenario.body?.stderr ?? "")
  assert.ok(stderr.endsWith(`${line}\n`), `stderr: ${stderr}`)
})

When(
  "a client behind the trusted proxy sends {int} wrong logins, each forging a new leftmost X-Forwarded-For entry",
  { timeout: 60_000 },
  async function(this: object, count: number) {
    const g = await proxiedGateway()
    const statuses: Array<number> = []
    for (let i = 0; i < count; i++) {
      // The proxy appends the address it saw (203.0.113.7); whatever the client put in front of it is its own claim.
      const forwarded = `198.51.100.${i + 1}, 203.0.113.7`
      const handle = `forger-${i}-${Math.random().toString(16).slice(2, 8)}`
      const answer = await g.call("POST", "/v1/auth/login", {
        body: { handle, password: "not-the-password" },
        headers: { "x-forwarded-for": forwarded }
      })
      statuses.push(answer.status)
    }
    states.of(this).statuses = statuses
  }
)

Then("the first failures up to the address threshold get 401 and the rest 429", function(this: object) {
  const statuses = states.of(this).statuses ?? []
  const threshold = PROXIED_GATEWAY.ipThreshold
  assert.deepEqual(statuses, statuses.map((_, i) => (i < threshold ? 401 : 429)), statuses.join(","))
})

Then("the audit log names the proxy's hop {string} as the client, never a forged entry", async function(this: object, address: string) {
  const rows = await (await proxiedGateway()).sql((sql) =>
    sql<{ readonly ip: string }>`
      SELECT DISTINCT host(ip_address) AS ip FROM auth_audit_log
      WHERE event_type = 'login_failure' AND subject_handle LIKE 'forger-%'`
  )
  assert.deepEqual(rows.map((r) => r.ip), [address])
})
