import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { loadAssets } from "../../src/user-gateway/ConsoleHttp.ts"
import { createUser, loginTokens, startGateway, type RunningGateway } from "./gatewayProcess.ts"

/** The gateway serving the built web console at /console, and the admin's user list the console shows. */

const INDEX = "<!doctype html><title>console test page</title>"
const SCRIPT = "console.info('hashed asset')"

let gateway: RunningGateway
let dir: string

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-console-"))
  fs.mkdirSync(path.join(dir, "assets"))
  fs.writeFileSync(path.join(dir, "index.html"), INDEX)
  fs.writeFileSync(path.join(dir, "assets", "index-AbC123.js"), SCRIPT)
  gateway = await startGateway({ CYNODE_CONSOLE_DIR: dir })
}, 120_000)

afterAll(async () => {
  await gateway?.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe("GET /console", () => {
  it("redirects the bare path to the folder, so relative asset URLs resolve", async () => {
    const res = await fetch(`${gateway.baseUrl}/console`, { redirect: "manual" })
    expect(res.status).toBe(302)
    expect(res.headers.get("location")).toBe("/console/")
  })

  it("serves index.html with a same-origin content security policy and no caching", async () => {
    const res = await gateway.call("GET", "/console/")
    expect(res.status).toBe(200)
    expect(res.text).toBe(INDEX)
    expect(res.headers.get("content-type")).toContain("text/html")
    expect(res.headers.get("content-security-policy")).toContain("default-src 'self'")
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'")
    expect(res.headers.get("x-content-type-options")).toBe("nosniff")
    expect(res.headers.get("cache-control")).toBe("no-cache")
  })

  it("answers every page path of the app with index.html", async () => {
    for (const page of ["/console/tasks", "/console/tasks/3f1c2a9e-2c55-4d0e-9a59-4b1c2d3e4f50", "/console/users"]) {
      const res = await gateway.call("GET", page)
      expect(res.status, page).toBe(200)
      expect(res.text, page).toBe(INDEX)
    }
  })

  it("serves hashed assets as immutable, and 404s a file it does not have", async () => {
    const res = await gateway.call("GET", "/console/assets/index-AbC123.js")
    expect(res.status).toBe(200)
    expect(res.text).toBe(SCRIPT)
    expect(res.headers.get("content-type")).toContain("text/javascript")
    expect(res.headers.get("cache-control")).toContain("immutable")
    const missing = await gateway.call("GET", "/console/assets/nope.js")
    expect(missing.status).toBe(404)
    expect(missing.headers.get("content-type")).toContain("application/problem+json")
  })

  it("never serves a file outside the built folder", async () => {
    for (const p of ["/console/..%2f..%2f..%2fetc%2fpasswd", "/console/%2e%2e/%2e%2e/etc/hostname", "/console/../package.json"]) {
      const res = await gateway.call("GET", p)
      expect(res.text, p).not.toContain("root:")
      expect(res.text, p).not.toContain("\"name\"")
    }
  })

  it("reads nothing when the console is not built", () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-console-empty-"))
    expect(loadAssets(empty).size).toBe(0)
    fs.rmSync(empty, { recursive: true })
  })
})

describe("GET /v1/admin/users", () => {
  it("lists every account for the admin, and is 403 for anyone else", async () => {
    await createUser(gateway, "carol", "carol-password-1")
    const admin = await loginTokens(gateway, "admin", gateway.adminPassword)
    const res = await gateway.call("GET", "/v1/admin/users", { token: admin.access_token })
    expect(res.status).toBe(200)
    const users = (res.json as { users: Array<{ handle: string; is_active: boolean }> }).users
    expect(users.map((u) => u.handle)).toEqual(["admin", "carol"])
    expect(users.every((u) => u.is_active)).toBe(true)

    const carol = await loginTokens(gateway, "carol", "carol-password-1")
    const refused = await gateway.call("GET", "/v1/admin/users", { token: carol.access_token })
    expect(refused.status).toBe(403)
    expect((await gateway.call("GET", "/v1/admin/users")).status).toBe(401)
  })
})
