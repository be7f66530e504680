import { Effect, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { WorkerTokens } from "../../src/control-plane/WorkerTokens.ts"
import { containersOf, docker } from "../../test/support/engine.ts"
import { freePort, startProgram, type RunningProgram } from "../../test/support/programs.ts"
import { ControlPlaneHarness } from "../../test/support/controlPlane.ts"

/**
 * The node-startup suite's world (tag @node_manager): a real control plane on its own database, a recording proxy
 * standing for the control plane's public URL (so the test sees which URLs the node uses after registration), the
 * real node-manager program, and the real container engine to look at what the node started.
 */

/** Forwards every request to `target` and remembers `METHOD path` in order. */
export interface ProxiedCall {
  readonly at: number
  readonly request: string
  readonly status: number
}

export class RecordingProxy {
  readonly seen: Array<string> = []
  /** Completed calls with the control plane's status. */
  readonly calls: Array<ProxiedCall> = []
  private constructor(private readonly server: Server, readonly url: string) {}

  static async startOn(port: number, target: string): Promise<RecordingProxy> {
    let proxy: RecordingProxy | undefined
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const request = `${req.method} ${req.url}`
        proxy?.seen.push(request)
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(req.headers)) {
          if (typeof v === "string" && k !== "host" && k !== "content-length" && k !== "connection") headers[k] = v
        }
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined
        fetch(target + (req.url ?? "/"), { method: req.method ?? "GET", headers, ...(body !== undefined ? { body } : {}) })
          .then(async (upstream) => {
            const text = Buffer.from(await upstream.arrayBuffer())
            const out: Record<string, string> = {}
            upstream.headers.forEach((v, k) => {
              if (k !== "content-length" && k !== "transfer-encoding" && k !== "connection") out[k] = v
            })
            proxy?.calls.push({ at: Date.now(), request, status: upstream.status })
            res.writeHead(upstream.status, out).end(text)
          })
          .catch(() => res.writeHead(502).end())
      })
    })
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
    proxy = new RecordingProxy(server, `http://127.0.0.1:${port}`)
    return proxy
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

export interface NodeUnderTest {
  readonly name: string
  readonly slug: string
  readonly program: RunningProgram
  readonly workerUrl: string
  readonly stateDir: string
  readonly containerName: string
}

export interface StackOptions {
  readonly inferenceImage: string
  readonly jwtDuration?: string
}

/** The control plane (behind the recording proxy as its public URL) and the nodes of one scenario. */
export class NodeStartupStack {
  readonly nodes = new Map<string, NodeUnderTest>()

  private constructor(
    readonly controlPlane: ControlPlaneHarness,
    readonly proxy: RecordingProxy,
    readonly inferencePort: number,
    private readonly proxyPort: number
  ) {}

  static async start(options: StackOptions): Promise<NodeStartupStack> {
    const inferencePort = await freePort()
    const proxyPort = await freePort()
    const controlPlane = await ControlPlaneHarness.start({
      env: {
        ORCHESTRATOR_PUBLIC_URL: `http://127.0.0.1:${proxyPort}`,
        INFERENCE_MODEL: "standin:latest",
        INFERENCE_IMAGE_CPU: options.inferenceImage,
        INFERENCE_PORT: String(inferencePort),
        ...(options.jwtDuration !== undefined ? { JWT_NODE_DURATION: options.jwtDuration } : {})
      }
    })
    const proxy = await RecordingProxy.startOn(proxyPort, controlPlane.baseUrl)
    return new NodeStartupStack(controlPlane, proxy, inferencePort, proxyPort)
  }

  /** Starts the real node-manager program; registration goes straight to the control plane (not the proxy). */
  async startNode(name: string, env: Record<string, string> = {}): Promise<NodeUnderTest> {
    const slug = `${name}-${randomBytes(3).toString("hex")}`
    const workerPort = await freePort()
    const stateDir = mkdtempSync(join(tmpdir(), `cynode-${name}-`))
    const containerName = `cynode-ollama-${slug}`
    const workerUrl = `http://127.0.0.1:${workerPort}`
    const program = startProgram("node-manager", {
      CYNODE_ORCHESTRATOR_URL: this.controlPlane.baseUrl,
      CYNODE_NODE_REGISTRATION_PSK: this.controlPlane.secrets.psk,
      CYNODE_NODE_SLUG: slug,
      CYNODE_NODE_NAME: `BDD ${name}`,
      CYNODE_WORKER_LISTEN_ADDR: `127.0.0.1:${workerPort}`,
      CYNODE_WORKER_PUBLIC_URL: workerUrl,
      CYNODE_STATE_DIR: stateDir,
      CYNODE_OLLAMA_CONTAINER_NAME: containerName,
      CYNODE_OLLAMA_READY_TIMEOUT_SECONDS: "30",
      CYNODE_ORCHESTRATOR_WAIT_SECONDS: "20",
      CYNODE_SHUTDOWN_GRACE_SECONDS: "5",
      ...(process.env.CYNODE_CONTAINER_SOCKET !== undefined ? { CYNODE_CONTAINER_SOCKET: process.env.CYNODE_CONTAINER_SOCKET } : {}),
      ...env
    })
    const node = { name, slug, program, workerUrl, stateDir, containerName }
    this.nodes.set(name, node)
    return node
  }

  node(name: string): NodeUnderTest {
    const node = this.nodes.get(name)
    if (node === undefined) throw new Error(`node manager ${name} was not started`)
    return node
  }

  /** The worker bearer token the control plane holds for a node (decrypted with the control plane's own helper). */
  async workerToken(slug: string): Promise<string> {
    const rows = await this.controlPlane.query<{ worker_api_bearer_token: string }>(
      "SELECT worker_api_bearer_token FROM nodes WHERE node_slug = $1",
      [slug]
    )
    const stored = rows[0]?.worker_api_bearer_token
    if (stored === undefined) throw new Error(`node ${slug} has no worker token`)
    const tokens = WorkerTokens.fromKey(WorkerTokens.deriveKey(Redacted.make(this.controlPlane.secrets.jwtSecret)))
    return Redacted.value(await Effect.runPromise(tokens.decrypt(stored)))
  }

  async stop(): Promise<void> {
    for (const node of this.nodes.values()) {
      await node.program.stop(40_000)
      await removeNodeContainers(node.slug)
      rmSync(node.stateDir, { recursive: true, force: true })
    }
    await this.proxy.stop()
    await this.controlPlane.stop()
  }

  get proxyUrl(): string {
    return `http://127.0.0.1:${this.proxyPort}`
  }
}

/** The suite removes what the node kept (its stopped inference container) after each scenario. */
export const removeNodeContainers = async (slug: string): Promise<void> => {
  // Podman may refuse a removal while a container is between "stopped" and "exited": retry until none is left.
  const deadline = Date.now() + 15_000
  for (;;) {
    const left = await containersOf(slug)
    if (left.length === 0 || Date.now() > deadline) return
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export const eventually = async <A>(what: string, timeoutMs: number, check: () => Promise<A | undefined>): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms${last !== undefined ? `: ${String(last)}` : ""}`)
}
