import { AfterAll, Before } from "@cucumber/cucumber"
import { randomBytes } from "node:crypto"
import type { HttpResult } from "../../test/support/http.ts"
import { startGateway, type RunningGateway } from "../../test/user-gateway/gatewayProcess.ts"
import { stopTestServer } from "../../test/support/testDatabase.ts"

/**
 * State of the @gateway suite (features/orchestrator/auth.feature, tasks_api.feature): one real user-gateway program
 * on a fresh database for the whole suite, started on first use; per-scenario users get unique handles, so
 * scenarios cannot disturb each other's sessions or lockouts.
 */

/** Short lockout settings so a scenario can wait one out. */
export const LOCKOUT = { threshold: 3, windowSeconds: 2, durationSeconds: 2 }

/** A short refresh grace window, so a reuse scenario can wait it out. */
export const REFRESH_GRACE_MS = 500

let running: Promise<RunningGateway> | undefined

export const gateway = (): Promise<RunningGateway> =>
  running ??= startGateway({
    AUTH_LOCKOUT_THRESHOLD: String(LOCKOUT.threshold),
    AUTH_LOCKOUT_WINDOW: `${LOCKOUT.windowSeconds}s`,
    AUTH_LOCKOUT_DURATION: `${LOCKOUT.durationSeconds}s`,
    AUTH_REFRESH_GRACE: `${REFRESH_GRACE_MS}ms`,
    RATE_LIMIT_PER_MINUTE: "100000",
    AUTH_IP_FAILURE_THRESHOLD: "100000"
  })

export interface TokenPairState {
  readonly access_token: string
  readonly refresh_token: string
}

export interface GatewayUser {
  readonly handle: string
  readonly password: string
  id?: string
  tokens?: TokenPairState
  /** Every pair this user held, oldest first (for reuse and logout checks). */
  readonly history: Array<TokenPairState>
}

export interface GatewayScenario {
  /** Makes handles unique to this scenario. */
  readonly suffix: string
  readonly users: Map<string, GatewayUser>
  last?: HttpResult
  taskId?: string
  task?: Record<string, unknown>
}

let scenario: GatewayScenario | undefined

export const current = (): GatewayScenario => {
  if (scenario === undefined) throw new Error("no @gateway scenario is running")
  return scenario
}

/** The scenario's real handle for a name used in the feature file (`admin` stays `admin`). */
export const handleFor = (name: string) => (name === "admin" ? "admin" : `${name}-${current().suffix}`)

Before({ tags: "@gateway", timeout: 60_000 }, async function() {
  scenario = { suffix: randomBytes(4).toString("hex"), users: new Map() }
  await gateway()
})

AfterAll(async function() {
  if (running === undefined) return
  const started = await running
  running = undefined
  await started.stop()
  await stopTestServer()
})
