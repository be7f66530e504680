import * as path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * What `just up` starts and where, from the environment (every value has a default; the e2e suite sets ports and
 * the state directory so it can run beside other suites and a developer's own `just up`).
 */

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url))

export const STANDIN_IMAGE = "localhost/cynode-inference-standin:latest"
export const STANDIN_MODEL = "standin:latest"

export interface UpSettings {
  /** Holds pgdata, secrets.env, the node's state and the demo's CLI credentials. */
  readonly stateDir: string
  readonly bindHost: string
  readonly gatewayPort: number
  readonly controlPlanePort: number
  readonly workerPort: number
  readonly inferencePort: number
  readonly postgresPort: number
  readonly nodeSlug: string
  readonly inferenceImage: string
  readonly inferenceModel: string
  /** True when the inference image is the labelled stand-in (tests and demo), not a real Ollama. */
  readonly standIn: boolean
  /** Set: use this database instead of the embedded one. Never printed. */
  readonly externalDatabase: boolean
  /** The bootstrap admin password came from the environment (so it is not printed). */
  readonly customAdminPassword: boolean
  readonly adminPassword: string
  readonly logLevel: string
  /** How long `up` waits for every /readyz. */
  readonly readyTimeoutMs: number
  /** CYNODE_UP_FROM_SOURCE=1: run the programs' TypeScript through tsx instead of the bundles (scripts/bundle.ts). */
  readonly fromSource: boolean
}

export class SettingsError extends Error {}

const port = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const raw = env[name]
  if (raw === undefined || raw.trim() === "") return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new SettingsError(`${name} must be a port number (1-65535), got ${JSON.stringify(raw)}`)
  }
  return value
}

const seconds = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => {
  const raw = env[name]
  if (raw === undefined || raw.trim() === "") return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) throw new SettingsError(`${name} must be a whole number of seconds, got ${JSON.stringify(raw)}`)
  return value
}

const nonEmpty = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const value = env[name]?.trim()
  return value === undefined || value === "" ? undefined : value
}

export const readSettings = (env: NodeJS.ProcessEnv = process.env): UpSettings => {
  const inferenceImage = nonEmpty(env, "INFERENCE_IMAGE_CPU") ?? STANDIN_IMAGE
  const slug = nonEmpty(env, "CYNODE_NODE_SLUG") ?? "local-node"
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(slug) || slug.includes("..")) {
    throw new SettingsError(`CYNODE_NODE_SLUG must be letters, digits, '.', '_' or '-', got ${JSON.stringify(slug)}`)
  }
  const adminPassword = nonEmpty(env, "BOOTSTRAP_ADMIN_PASSWORD")
  return {
    stateDir: path.resolve(repoRoot, nonEmpty(env, "CYNODE_UP_DIR") ?? ".cynode"),
    bindHost: nonEmpty(env, "CYNODE_BIND_HOST") ?? "127.0.0.1",
    gatewayPort: port(env, "CYNODE_GATEWAY_PORT", 12080),
    controlPlanePort: port(env, "CYNODE_CONTROL_PLANE_PORT", 12082),
    workerPort: port(env, "CYNODE_WORKER_PORT", 12090),
    inferencePort: port(env, "CYNODE_INFERENCE_PORT", 11434),
    postgresPort: port(env, "CYNODE_PG_PORT", 15432),
    nodeSlug: slug,
    inferenceImage,
    inferenceModel: nonEmpty(env, "INFERENCE_MODEL") ?? (inferenceImage === STANDIN_IMAGE ? STANDIN_MODEL : "qwen3.5:0.8b"),
    standIn: inferenceImage === STANDIN_IMAGE,
    externalDatabase: nonEmpty(env, "DATABASE_URL") !== undefined,
    customAdminPassword: adminPassword !== undefined,
    adminPassword: adminPassword ?? "admin123",
    logLevel: nonEmpty(env, "CYNODE_LOG_LEVEL") ?? "info",
    readyTimeoutMs: seconds(env, "CYNODE_UP_READY_TIMEOUT_SECONDS", 180) * 1000,
    fromSource: env.CYNODE_UP_FROM_SOURCE === "1"
  }
}

/** A URL on this machine for a port `up` bound (0.0.0.0 is reached through localhost). */
export const localUrl = (settings: UpSettings, port: number): string => {
  const host = settings.bindHost === "0.0.0.0" || settings.bindHost === "::" ? "127.0.0.1" : settings.bindHost
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`
}

/** `<state>/run.json`: this run's pid and its programs' pids (for tools and the e2e suite), removed after a clean stop. */
export const runFile = (settings: Pick<UpSettings, "stateDir">) => path.join(settings.stateDir, "run.json")
