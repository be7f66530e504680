import { describe, expect, it } from "@effect/vitest"
import { Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { prefixer } from "../../scripts/up/logFormat.ts"
import { loadOrCreateSecrets, secretsFile } from "../../scripts/up/secrets.ts"
import { readSettings, STANDIN_IMAGE, STANDIN_MODEL } from "../../scripts/up/settings.ts"

describe("just up: secrets", () => {
  it("are generated once into a 0600 file and reused; the environment wins", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-up-test-"))
    const first = loadOrCreateSecrets(dir, {})
    expect(fs.statSync(secretsFile(dir)).mode & 0o777).toBe(0o600)
    expect(Redacted.value(first.JWT_SECRET).length).toBeGreaterThanOrEqual(32)
    expect(Redacted.value(first.NODE_REGISTRATION_PSK).length).toBeGreaterThanOrEqual(16)
    const again = loadOrCreateSecrets(dir, {})
    expect(Redacted.value(again.JWT_SECRET)).toBe(Redacted.value(first.JWT_SECRET))
    expect(Redacted.value(again.NODE_REGISTRATION_PSK)).toBe(Redacted.value(first.NODE_REGISTRATION_PSK))
    const fromEnv = loadOrCreateSecrets(dir, { JWT_SECRET: "x".repeat(40) })
    expect(Redacted.value(fromEnv.JWT_SECRET)).toBe("x".repeat(40))
    // Redacted: printing the secrets shows nothing of them.
    expect(String(first.JWT_SECRET)).not.toContain(Redacted.value(first.JWT_SECRET))
    fs.rmSync(dir, { recursive: true })
  })
})

describe("just up: settings", () => {
  it("default to the documented ports and the explicitly labelled inference stand-in", () => {
    const settings = readSettings({})
    expect(settings).toMatchObject({
      gatewayPort: 12080,
      controlPlanePort: 12082,
      workerPort: 12090,
      inferencePort: 11434,
      postgresPort: 15432,
      bindHost: "127.0.0.1",
      inferenceImage: STANDIN_IMAGE,
      inferenceModel: STANDIN_MODEL,
      standIn: true,
      adminPassword: "admin123",
      customAdminPassword: false
    })
  })

  it("name the variable that is wrong", () => {
    expect(() => readSettings({ CYNODE_GATEWAY_PORT: "80000" })).toThrow("CYNODE_GATEWAY_PORT must be a port number")
    expect(() => readSettings({ CYNODE_NODE_SLUG: "../x" })).toThrow("CYNODE_NODE_SLUG")
  })

  it("a real inference image is not called a stand-in", () => {
    const settings = readSettings({ INFERENCE_IMAGE_CPU: "docker.io/ollama/ollama:latest", INFERENCE_MODEL: "qwen3.5:0.8b" })
    expect(settings.standIn).toBe(false)
    expect(settings.inferenceModel).toBe("qwen3.5:0.8b")
  })
})

describe("just up: output", () => {
  const format = prefixer("control-plane", 0, 13, false).format

  it("turns JSON log lines into short readable lines", () => {
    const line = JSON.stringify({
      program: "control-plane",
      message: "control plane listening",
      logLevel: "INFO",
      timestamp: "2026-02-19T10:00:01.123Z",
      annotations: { address: "http://127.0.0.1:12082", request_id: "r1" }
    })
    expect(format(line)).toBe("10:00:01 control-plane INFO  control plane listening  address=http://127.0.0.1:12082")
  })

  it("leaves out successful access logs and health probes, keeps failed requests and plain lines", () => {
    const access = (path: string, status: number) =>
      JSON.stringify({ message: "http request", logLevel: "INFO", timestamp: "2026-02-19T10:00:01Z", annotations: { path, status } })
    expect(format(access("/readyz", 503))).toBeUndefined()
    expect(format(access("/v1/tasks", 201))).toBeUndefined()
    expect(format(access("/v1/tasks", 400))).toContain("http request  path=/v1/tasks status=400")
    expect(prefixer("x", 0, 1, false, true).format(access("/v1/tasks", 201))).toContain("status=201")
    expect(format("plain text")).toMatch(/control-plane plain text$/)
    expect(format("")).toBeUndefined()
  })
})
