import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { httpCall, type HttpResult } from "./http.ts"
import { startServer, type RunningProgram } from "./programs.ts"
import { createTestDatabase } from "./testDatabase.ts"

/**
 * A real control plane for BDD steps and integration tests: the real program spawned with random secrets on a free
 * port, and (`ControlPlaneHarness`) its own fresh database, an HTTP helper, and a SQL helper to assert what was stored.
 */

export interface RequestOptions {
  /** Sent as JSON; a string is sent as-is. */
  readonly body?: unknown
  /** A bearer token for the Authorization header. */
  readonly token?: string
  readonly headers?: Record<string, string>
}

/** Fresh secrets per run, so a leak check cannot pass by accident. */
export const makeSecrets = () => ({
  psk: `psk-${randomBytes(12).toString("hex")}`,
  jwtSecret: `jwt-${randomBytes(24).toString("hex")}`
})

export type Secrets = ReturnType<typeof makeSecrets>

/** A `node_capability_report_v1` like the node manager sends (worker-node.md §4). */
export const capabilityReport = (slug: string, workerUrl = "http://127.0.0.1:12090"): Record<string, unknown> => ({
  version: 1,
  reported_at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
  node: { node_slug: slug, name: "BDD worker", labels: [] },
  platform: { os: "linux", arch: "amd64", kernel_version: "6.8.0" },
  container_runtime: { runtime: "podman", version: "4.9.3", rootless_supported: true, rootless_enabled: false },
  compute: { cpu_model: "test", cpu_cores: 2, ram_mb: 4096, storage_free_mb: 10000 },
  gpu: { present: false },
  sandbox: { supported: true, features: ["netns"], max_concurrency: 2 },
  network: { orchestrator_reachable: true, outbound_policy: "none" },
  tls: { worker_api_server_cert_pem: "-----BEGIN CERTIFICATE-----\nbdd\n-----END CERTIFICATE-----" },
  inference: { supported: true, mode: "allow", existing_service: false, running: false, available_models: [] },
  worker_api: { base_url: workerUrl }
})

/** The control plane on `databaseUrl`, its public URL its own address unless `env` says otherwise; ready on return. */
export const startControlPlane = (
  databaseUrl: string,
  secrets: Secrets,
  env: Record<string, string> = {},
  options: { readonly port?: number } = {}
) =>
  startServer("control-plane", "CONTROL_PLANE_LISTEN_ADDR", (baseUrl) => ({
    DATABASE_URL: databaseUrl,
    ORCHESTRATOR_PUBLIC_URL: baseUrl,
    NODE_REGISTRATION_PSK: secrets.psk,
    JWT_SECRET: secrets.jwtSecret,
    INFERENCE_MODEL: "standin:latest",
    BOOTSTRAP_ADMIN_PASSWORD: `admin-${randomBytes(6).toString("hex")}`,
    ...env
  }), options)

export class ControlPlaneHarness {
  private constructor(
    readonly program: RunningProgram,
    readonly baseUrl: string,
    readonly secrets: Secrets,
    private readonly db: { readonly url: string; drop(): Promise<void> },
    private readonly sql: ManagedRuntime.ManagedRuntime<PgClient.PgClient, unknown>
  ) {}

  /** Starts the program on a fresh migrated database and waits until `/healthz` answers. */
  static async start(options: { readonly env?: Record<string, string>; readonly secrets?: Secrets } = {}) {
    const db = await createTestDatabase()
    const secrets = options.secrets ?? makeSecrets()
    try {
      const { program, baseUrl } = await startControlPlane(db.url, secrets, options.env)
      const sql = ManagedRuntime.make(
        PgClient.layer({ url: Redacted.make(db.url) }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)))
      )
      return new ControlPlaneHarness(program, baseUrl, secrets, db, sql)
    } catch (error) {
      await db.drop()
      throw error
    }
  }

  request(method: string, path: string, { body, ...options }: RequestOptions = {}): Promise<HttpResult> {
    return httpCall(this.baseUrl, method, path, typeof body === "string" ? { ...options, rawBody: body } : { ...options, body })
  }

  register(capability: unknown, psk = this.secrets.psk) {
    return this.request("POST", "/v1/nodes/register", { body: { psk, capability } })
  }

  /** Runs SQL against the program's database (assertions only; the program owns all writes). */
  query<A = Record<string, unknown>>(text: string, params: ReadonlyArray<unknown> = []): Promise<ReadonlyArray<A>> {
    return this.sql.runPromise(
      Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe<A & object>(text, params))
    ) as Promise<ReadonlyArray<A>>
  }

  async stop(): Promise<void> {
    await this.program.stop()
    await this.sql.dispose()
    await this.db.drop()
  }
}
