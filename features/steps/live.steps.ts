import { Before, Then, When } from "@cucumber/cucumber"
import { strict as assert } from "node:assert"
import * as fs from "node:fs"
import * as path from "node:path"
import { current, cynode, system, type CliRun } from "../support/e2e.ts"
import { sseEvents } from "../../test/support/sse.ts"

/** Steps of features/e2e/live_output.feature: following a task's output as Server-Sent Events, over HTTP and the CLI. */

interface Event {
  readonly id: string | undefined
  readonly event: string
  readonly data: string
  /** The task's status when the event arrived (asked right after it came). */
  readonly taskStatus?: string
  /** Milliseconds since the follow request was sent. */
  readonly atMs?: number
}

interface LiveState {
  events: Array<Event>
  lastId: string | undefined
  otherStatus?: number
  cli?: CliRun
  cliDir?: string
}

let live: LiveState = { events: [], lastId: undefined }
Before({ tags: "@e2e" }, function() {
  live = { events: [], lastId: undefined }
})

const token = () => {
  const access = current().access
  assert.ok(access, "not logged in over HTTP")
  return access
}

const taskId = () => {
  const id = current().taskId
  assert.ok(id, "no task was created")
  return id
}

const taskStatus = async (id: string, access: string) => {
  const { gatewayUrl } = await system()
  const answer = await fetch(`${gatewayUrl}/v1/tasks/${id}`, { headers: { authorization: `Bearer ${access}` } })
  return ((await answer.json()) as { status: string }).status
}

/**
 * Reads the event stream until `stop` says so (then disconnects) or the stream ends. Events are parsed as the SSE
 * specification says: fields until a blank line.
 */
const follow = async (
  access: string,
  headers: Record<string, string>,
  stop: (event: Event) => boolean,
  onEvent?: (event: Event) => Promise<Event>
) => {
  const { gatewayUrl } = await system()
  const sent = Date.now()
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), 60_000)
  const response = await fetch(`${gatewayUrl}/v1/tasks/${taskId()}/logs?follow=true`, {
    headers: { authorization: `Bearer ${access}`, ...headers },
    signal: controller.signal
  })
  if (response.status !== 200) assert.fail(`follow answered ${response.status}: ${await response.text()}`)
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/)
  try {
    for await (const received of sseEvents(response.body as AsyncIterable<Uint8Array>)) {
      let event: Event = { ...received, atMs: Date.now() - sent }
      if (onEvent) event = await onEvent(event)
      live.events.push(event)
      if (event.id !== undefined) live.lastId = event.id
      if (stop(event)) return
    }
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
}

const textOf = (event: Event) => (JSON.parse(event.data) as { text: string }).text
const streamText = (stream: string) => live.events.filter((e) => e.event === stream).map(textOf).join("")
const unescape = (s: string) => s.replace(/\\n/g, "\n")

When("I follow that task's output until {string} has arrived, then disconnect", { timeout: 90_000 }, async function(line: string) {
  const access = token()
  await follow(
    access,
    {},
    () => streamText("stdout").includes(`${line}\n`),
    async (event) => ({ ...event, taskStatus: await taskStatus(taskId(), access) })
  )
  assert.ok(streamText("stdout").includes(`${line}\n`), `"${line}" never arrived: ${JSON.stringify(live.events)}`)
})

Then("those lines arrived while the task was still running", function() {
  const output = live.events.filter((e) => e.event === "stdout")
  assert.ok(output.length > 0)
  for (const e of output) {
    assert.equal(e.taskStatus, "running", `an output event arrived when the task was ${e.taskStatus}: ${JSON.stringify(live.events)}`)
  }
  assert.ok(!live.events.some((e) => e.event === "end"), "the stream ended before the disconnect")
})

When("I follow that task's output again from the last event id I saw", { timeout: 90_000 }, async function() {
  assert.ok(live.lastId !== undefined, "no event id was seen")
  await follow(token(), { "last-event-id": live.lastId }, (e) => e.event === "end")
})

When("I follow that task's output until it ends", { timeout: 90_000 }, async function() {
  await follow(token(), {}, (e) => e.event === "end")
})

Then("the output stream ends with status {string} and exit code {int}", function(status: string, exitCode: number) {
  const last = live.events.at(-1)
  assert.equal(last?.event, "end", JSON.stringify(live.events))
  assert.deepEqual(JSON.parse(last.data), { status, exit_code: exitCode })
})

Then("the lines {string} to {string} arrived on stdout once each, in order", function(first: string, lastLine: string) {
  const prefix = first.replace(/\d+$/, "")
  const from = Number(first.slice(prefix.length))
  const to = Number(lastLine.slice(prefix.length))
  const expected = Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}\n`).join("")
  assert.equal(streamText("stdout"), expected)
  const ids = live.events.flatMap((e) => (e.id === undefined ? [] : [Number(e.id)]))
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), "event ids are not increasing")
  assert.equal(new Set(ids).size, ids.length, "an event id arrived twice")
})

Then("the followed stdout is {string} and the followed stderr is {string}", function(stdout: string, stderr: string) {
  const seen = JSON.stringify(live.events)
  assert.equal(streamText("stdout"), unescape(stdout), `events: ${seen}`)
  assert.equal(streamText("stderr"), unescape(stderr), `events: ${seen}`)
})

Then("GET logs without follow answers JSON with stdout {string} and stderr {string}", async function(stdout: string, stderr: string) {
  const { gatewayUrl } = await system()
  const answer = await fetch(`${gatewayUrl}/v1/tasks/${taskId()}/logs`, { headers: { authorization: `Bearer ${token()}` } })
  assert.equal(answer.status, 200)
  assert.match(answer.headers.get("content-type") ?? "", /application\/json/)
  assert.deepEqual(await answer.json(), { task_id: taskId(), stdout: unescape(stdout), stderr: unescape(stderr) })
})

/** Creates (once) and logs in another, non-admin user; returns their access token. */
const otherUser = async (handle: string) => {
  const { gatewayUrl } = await system()
  const password = `${handle}-password-123`
  const created = await fetch(`${gatewayUrl}/v1/admin/users`, {
    method: "POST",
    headers: { authorization: `Bearer ${token()}`, "content-type": "application/json" },
    body: JSON.stringify({ handle, password })
  })
  assert.ok(created.status === 201 || created.status === 409, `creating ${handle}: ${created.status}`)
  const login = await fetch(`${gatewayUrl}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ handle, password })
  })
  assert.equal(login.status, 200)
  return ((await login.json()) as { access_token: string }).access_token
}

When("another user {string} follows that task's output", async function(handle: string) {
  const { gatewayUrl } = await system()
  const access = await otherUser(handle)
  const answer = await fetch(`${gatewayUrl}/v1/tasks/${taskId()}/logs?follow=true`, { headers: { authorization: `Bearer ${access}` } })
  live.otherStatus = answer.status
  await answer.body?.cancel()
})

Then("that user's follow request is answered {int}", function(status: number) {
  assert.equal(live.otherStatus, status)
})

Then("following that task with Last-Event-ID {string} is answered {int}", async function(lastEventId: string, status: number) {
  const { gatewayUrl } = await system()
  const answer = await fetch(`${gatewayUrl}/v1/tasks/${taskId()}/logs?follow=true`, {
    headers: { authorization: `Bearer ${token()}`, "last-event-id": lastEventId }
  })
  assert.equal(answer.status, status)
  assert.match(answer.headers.get("content-type") ?? "", /application\/problem\+json/)
  await answer.text()
})

// --- through the CLI ---

const cli = async (args: ReadonlyArray<string>) => {
  const { gatewayUrl, stateDir } = await system()
  live.cliDir ??= current().cliConfigDir ?? fs.mkdtempSync(path.join(stateDir, "cli-"))
  current().cliConfigDir = live.cliDir
  live.cli = await cynode(live.cliDir, gatewayUrl, args)
  return live.cli
}

When("I run cynode task create --command {string} --follow", { timeout: 150_000 }, async function(command: string) {
  const run = await cli(["task", "create", "--command", command, "--follow"])
  const created = /\(([0-9a-f-]{36})\)/.exec(run.stderr)
  assert.ok(created, `no task id in the CLI's stderr: ${run.stderr}`)
  current().taskId = created[1]
})

When("I run cynode task artifacts for that task with --get {string}", { timeout: 150_000 }, async function(path: string) {
  await cli(["task", "artifacts", taskId(), "--get", path])
})

When("I run cynode task logs -f --stream stdout for that task", { timeout: 150_000 }, async function() {
  await cli(["task", "logs", "-f", "--stream", "stdout", taskId()])
})

Then("the CLI exited {int} with stdout {string} and nothing of the task's stderr", function(code: number, stdout: string) {
  const run = live.cli
  assert.ok(run, "the CLI was not run")
  assert.equal(run.code, code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`)
  assert.equal(run.stdout, unescape(stdout))
  assert.ok(!run.stderr.includes("err\n"), run.stderr)
})

When("I run cynode task logs -f for that task", { timeout: 150_000 }, async function() {
  await cli(["task", "logs", "-f", taskId()])
})

Then("the CLI exited {int} with stdout {string} and stderr containing {string}", function(code: number, stdout: string, stderr: string) {
  const run = live.cli
  assert.ok(run, "the CLI was not run")
  assert.equal(run.code, code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`)
  assert.equal(run.stdout, unescape(stdout))
  assert.ok(run.stderr.includes(stderr), run.stderr)
})
