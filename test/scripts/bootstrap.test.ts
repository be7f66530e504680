import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFile, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"

/**
 * The install decisions of scripts/bootstrap.sh (its `plan` mode), podman-service.sh and images.sh, run against
 * fake PATHs and fake engine sockets: what is installed depends on whether an engine answers, not on which
 * clients exist.
 */

const root = path.resolve(import.meta.dirname, "../..")
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-bootstrap-test-"))
const tools = ["bash", "env", "node", "id", "dirname", "sleep", "seq", "mkdir", "cat", "nohup"]

const which = (tool: string) => execFileSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim()

/** A bin directory holding the basic tools plus the given fake clients. */
const fakePath = (name: string, clients: Readonly<Record<string, string>>) => {
  const bin = path.join(tmp, name, "bin")
  fs.mkdirSync(bin, { recursive: true })
  for (const tool of tools) fs.symlinkSync(which(tool), path.join(bin, tool))
  for (const [client, script] of Object.entries(clients)) {
    fs.writeFileSync(path.join(bin, client), `#!/bin/bash\n${script}\n`, { mode: 0o755 })
  }
  return bin
}

const dockerWithoutDaemon = 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1'
const installed = "exit 0"

/** A stand-in engine answering GET /_ping on a unix socket, as Docker (no Libpod header) or Podman. */
const fakeEngine = (socketPath: string, kind: "docker" | "podman") =>
  new Promise<http.Server>((resolve) => {
    const server = http.createServer((req, res) => {
      const headers: Record<string, string> = { "Api-Version": "1.41" }
      if (kind === "podman") headers["Libpod-Api-Version"] = "4.3.1"
      res.writeHead(req.url === "/_ping" ? 200 : 404, headers).end("OK")
    })
    server.listen(socketPath, () => resolve(server))
  })

const deadSocket = path.join(tmp, "nothing-here.sock")
const dockerSocket = path.join(tmp, "docker.sock")
let dockerEngine: http.Server

beforeAll(async () => {
  dockerEngine = await fakeEngine(dockerSocket, "docker")
})
afterAll(() => {
  dockerEngine.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

// Asynchronous: the fake engine answers from this process, so its event loop must keep running.
// It resolves once the script's stdout and stderr are closed, not merely when the script exits.
const run = (script: string, args: ReadonlyArray<string>, bin: string, sockets: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      "/bin/bash",
      [path.join(root, "scripts", script), ...args],
      { encoding: "utf8", env: { PATH: bin, HOME: tmp, CYNODE_ENGINE_SOCKETS: sockets.join(" "), CYNODE_BUSYBOX: "/bin/true", ...env } },
      (error, stdout, stderr) => resolve({ status: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })
    )
  })

const plan = async (bin: string, sockets: ReadonlyArray<string>) => {
  const result = await run("bootstrap.sh", ["plan"], bin, sockets)
  expect(result.stderr).toBe("")
  expect(result.status).toBe(0)
  const line = (key: string) => result.stdout.split("\n").find((l) => l.startsWith(`${key}: `))?.slice(key.length + 2)
  return { engine: line("engine"), install: line("install"), start: line("start") }
}

describe("bootstrap.sh decides by whether an engine answers", async () => {
  it("a docker client without a daemon: installs podman and runc and starts a podman service", async () => {
    const bin = fakePath("docker-client", { docker: dockerWithoutDaemon })
    expect(await plan(bin, [deadSocket])).toEqual({
      engine: "none answers",
      install: "podman runc",
      start: "podman service at /run/podman/podman.sock"
    })
  })

  it("nothing at all: installs podman and runc and starts a podman service", async () => {
    const bin = fakePath("nothing", {})
    expect(await plan(bin, [deadSocket])).toEqual({
      engine: "none answers",
      install: "podman runc",
      start: "podman service at /run/podman/podman.sock"
    })
  })

  it("podman installed but no service running: installs only what is missing and starts the service", async () => {
    expect(await plan(fakePath("podman-only", { podman: installed }), [deadSocket])).toEqual({
      engine: "none answers",
      install: "runc",
      start: "podman service at /run/podman/podman.sock"
    })
    expect(await plan(fakePath("podman-runc", { podman: installed, runc: installed }), [deadSocket])).toMatchObject({
      install: "nothing",
      start: "podman service at /run/podman/podman.sock"
    })
  })

  it("a docker engine that answers: installs and starts nothing", async () => {
    const bin = fakePath("docker-engine", { docker: installed })
    expect(await plan(bin, [deadSocket, dockerSocket])).toEqual({
      engine: `docker answers at ${dockerSocket}`,
      install: "nothing",
      start: "nothing"
    })
  })

  it("podman-service.sh ensure with only a daemonless docker client says what to run, not the command just run", async () => {
    const bin = fakePath("ensure-docker-client", { docker: dockerWithoutDaemon })
    const result = await run("podman-service.sh", ["ensure"], bin, [deadSocket])
    expect(result.status).toBe(1)
    expect(result.stderr).toContain("no container engine answers and podman is not installed")
  })
})

/** A fake `podman` whose `system service unix://<sock>` serves a Libpod /_ping there, writing its pid to $FAKE_PID. */
const fakePodman = `for a in "$@"; do case "$a" in unix://*) sock="\${a#unix://}" ;; esac; done
echo $$ > "$FAKE_PID"
exec node -e 'require("http").createServer((q, r) => r.writeHead(200, { "Libpod-Api-Version": "4.3.1" }).end("OK")).listen(process.argv[1])' "$sock"`

describe("podman-service.sh ensure", () => {
  it("starts the service and lets go of its caller's output (a CI log behind `| tee` must see the end)", async () => {
    const bin = fakePath("ensure-starts", { podman: fakePodman })
    const socket = path.join(tmp, "own-podman.sock")
    const pidFile = path.join(tmp, "fake-podman.pid")
    const env = { CYNODE_CONTAINER_SOCKET: `unix://${socket}`, FAKE_PID: pidFile, TMPDIR: tmp }
    const timeout = new Promise<"still holding stdout">((resolve) => setTimeout(() => resolve("still holding stdout"), 20_000))
    const result = await Promise.race([run("podman-service.sh", ["ensure"], bin, [], env), timeout])
    const servicePid = Number(fs.readFileSync(pidFile, "utf8"))
    try {
      expect(result).toMatchObject({ status: 0 })
      // The service itself keeps running after the script is gone, and answers.
      expect(() => process.kill(servicePid, 0)).not.toThrow()
      expect((await run("podman-service.sh", ["which"], bin, [], env)).stdout.trim()).toBe(`podman ${socket}`)
    } finally {
      process.kill(servicePid, "SIGKILL")
    }
  })
})

describe("images.sh picks the CLI whose engine answers", async () => {
  it("podman when the docker client has no daemon", async () => {
    const bin = fakePath("images-both", { docker: dockerWithoutDaemon, podman: installed })
    expect((await run("images.sh", ["--which-cli"], bin, [deadSocket])).stdout.trim()).toBe("podman")
  })

  it("docker, pointed at its socket, when the docker engine answers", async () => {
    const bin = fakePath("images-docker", { docker: installed, podman: installed })
    expect((await run("images.sh", ["--which-cli"], bin, [dockerSocket])).stdout.trim()).toBe(`docker unix://${dockerSocket}`)
  })

  it("fails with the setup command when no engine answers and no podman exists", async () => {
    const result = await run("images.sh", ["--which-cli"], fakePath("images-none", { docker: dockerWithoutDaemon }), [deadSocket])
    expect(result.status).not.toBe(0)
    expect(result.stderr).toContain("bootstrap.sh setup")
  })
})
