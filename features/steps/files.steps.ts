import { Then, When } from "@cucumber/cucumber"
import { strict as assert } from "node:assert"
import { current, system } from "../support/e2e.ts"

/** Steps of features/e2e/files_in_and_out.feature: input files and artifacts over the gateway's HTTP API. */

let refused: { readonly status: number; readonly body: unknown } | undefined

const b64 = (text: string) => Buffer.from(text).toString("base64")
const unescape = (s: string) => s.replace(/\\n/g, "\n")

const post = async (body: unknown) => {
  const { gatewayUrl } = await system()
  const access = current().access
  assert.ok(access, "not logged in over HTTP")
  const answer = await fetch(`${gatewayUrl}/v1/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${access}`, "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  return { status: answer.status, body: (await answer.json()) as unknown }
}

When("I create a sandbox task running {string} with the file {string} holding {string}", async function(
  command: string,
  path: string,
  content: string
) {
  const answer = await post({ prompt: command, input_mode: "commands", files: [{ path, content_base64: b64(unescape(content)) }] })
  assert.equal(answer.status, 201, JSON.stringify(answer.body))
  current().taskId = (answer.body as { id: string }).id
})

When("I create a sandbox task with an input file at {string}", async function(path: string) {
  refused = await post({ prompt: "true", input_mode: "commands", files: [{ path, content_base64: b64("x") }] })
})

When("I create a sandbox task with input files of {int} bytes in all", async function(total: number) {
  const half = Math.floor(total / 2)
  refused = await post({
    prompt: "true",
    input_mode: "commands",
    files: [
      { path: "a.bin", content_base64: Buffer.alloc(half).toString("base64") },
      { path: "b.bin", content_base64: Buffer.alloc(total - half).toString("base64") }
    ]
  })
})

When("I create a prompt task with an input file", async function() {
  refused = await post({ prompt: "hello", input_mode: "prompt", files: [{ path: "a.txt", content_base64: b64("x") }] })
})

Then("the task is refused with {int} and the error names {string}", function(status: number, field: string) {
  assert.ok(refused, "no task was sent")
  assert.equal(refused.status, status, JSON.stringify(refused.body))
  const body = refused.body as { detail?: string; errors?: ReadonlyArray<{ path: string; message: string }> }
  const named = (body.errors ?? []).some((e) => e.path.startsWith(field)) || (body.detail ?? "").includes(field)
  assert.ok(named, `the problem does not name ${field}: ${JSON.stringify(body)}`)
})

// --- artifacts ---

interface ArtifactList {
  readonly artifacts: ReadonlyArray<{ path: string; size_bytes: number; content_type: string; sha256: string }>
  readonly refused: ReadonlyArray<{ path: string; reason: string }>
}

const get = async (route: string, access?: string) => {
  const { gatewayUrl } = await system()
  const token = access ?? current().access
  assert.ok(token, "not logged in over HTTP")
  return fetch(`${gatewayUrl}${route}`, { headers: { authorization: `Bearer ${token}` } })
}

const taskId = () => {
  const id = current().taskId
  assert.ok(id, "no task was created")
  return id
}

const listArtifacts = async (access?: string) => {
  const answer = await get(`/v1/tasks/${taskId()}/artifacts`, access)
  assert.equal(answer.status, 200)
  return (await answer.json()) as ArtifactList
}

const download = (path: string, access?: string) => get(`/v1/tasks/${taskId()}/artifacts/${path}`, access)

Then("the task's artifacts are {string}", async function(paths: string) {
  const list = await listArtifacts()
  assert.deepEqual(list.artifacts.map((a) => a.path), paths.split(", "), JSON.stringify(list))
})

Then("the artifact {string} downloads as {string} with content type {string}", async function(path: string, content: string, type: string) {
  const answer = await download(path)
  assert.equal(answer.status, 200)
  assert.equal(answer.headers.get("content-type"), type)
  const body = Buffer.from(await answer.arrayBuffer())
  assert.equal(answer.headers.get("content-length"), String(body.length))
  assert.match(answer.headers.get("content-disposition") ?? "", /^attachment/)
  assert.equal(body.toString("utf8"), unescape(content))
})

Then("the artifact {string} downloads byte-identical to what the job measured in {string}", async function(path: string, shaPath: string) {
  const measured = Buffer.from(await (await download(shaPath)).arrayBuffer()).toString("utf8").trim()
  const answer = await download(path)
  assert.equal(answer.status, 200)
  assert.equal(answer.headers.get("content-type"), "application/octet-stream")
  const body = Buffer.from(await answer.arrayBuffer())
  const { createHash } = await import("node:crypto")
  const sha = createHash("sha256").update(body).digest("hex")
  assert.equal(sha, measured, "the downloaded bytes differ from the ones the job wrote")
  const listed = (await listArtifacts()).artifacts.find((a) => a.path === path)
  assert.equal(listed?.sha256, sha)
  assert.equal(listed?.size_bytes, body.length)
})

Then("the refused artifacts are {string}, each with its reason", async function(paths: string) {
  const list = await listArtifacts()
  assert.deepEqual(list.refused.map((r) => r.path), paths.split(", "))
  for (const r of list.refused) assert.match(r.reason, /only regular files/)
})

Then("a missing artifact {string} is answered 404", async function(path: string) {
  const answer = await download(path)
  assert.equal(answer.status, 404)
  await answer.text()
})

Then("another user {string} gets 404 for that task's artifacts and for {string}", async function(handle: string, path: string) {
  const { gatewayUrl } = await system()
  const password = `${handle}-password-123`
  const created = await fetch(`${gatewayUrl}/v1/admin/users`, {
    method: "POST",
    headers: { authorization: `Bearer ${current().access}`, "content-type": "application/json" },
    body: JSON.stringify({ handle, password })
  })
  assert.ok(created.status === 201 || created.status === 409)
  const login = await fetch(`${gatewayUrl}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ handle, password })
  })
  const access = ((await login.json()) as { access_token: string }).access_token
  for (const answer of [await get(`/v1/tasks/${taskId()}/artifacts`, access), await download(path, access)]) {
    assert.equal(answer.status, 404)
    await answer.text()
  }
})

Then("the task has {int} artifacts and the refusals name {string}", async function(count: number, reason: string) {
  const list = await listArtifacts()
  assert.equal(list.artifacts.length, count, JSON.stringify(list.artifacts.map((a) => a.path)))
  assert.ok(list.refused.some((r) => r.reason.includes(reason)), JSON.stringify(list.refused))
  assert.ok(list.refused.some((r) => r.path === "zz-big.bin"), JSON.stringify(list.refused))
})
