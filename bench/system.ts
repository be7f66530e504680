/**
 * The whole system for the bench, started the way a user starts it: `scripts/up.ts` (what `just up` runs) as a child
 * process, on free ports, in a temporary state directory, with its embedded PostgreSQL. Nothing is wired by hand;
 * the bench only chooses the ports, the secrets (so that it can start extra node managers for the startup figure)
 * and the gateway's login rate limit (so that login/s measures Argon2, not the throttle).
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { startUpSystem, stopUpSystem } from "../test/support/upSystem.ts"
import { profileEnv } from "./profileEnv.ts"

export interface Program {
  readonly name: string
  readonly pid: number
}

export interface BenchSystem {
  readonly gatewayUrl: string
  readonly controlPlaneUrl: string
  readonly adminPassword: string
  readonly psk: string
  readonly nodeSlug: string
  readonly stateDir: string
  /** The programs up.ts started (database, control-plane, user-gateway, node-manager), from its run.json. */
  readonly programs: ReadonlyArray<Program>
  /** Everything up.ts printed so far (its children's log lines, prefixed). */
  readonly output: () => string
  /** Milliseconds from spawning up.ts to "CyNode is up". */
  readonly readyMs: number
  readonly stop: () => Promise<void>
}

export const startSystem = async (): Promise<BenchSystem> => {
  const psk = randomBytes(32).toString("base64url")
  const sys = await startUpSystem({
    prefix: "bench",
    // CYNODE_UP_FROM_SOURCE=1 measures the programs run through tsx instead of their bundles.
    passThrough: ["CYNODE_UP_FROM_SOURCE"],
    env: {
      NODE_REGISTRATION_PSK: psk,
      // Login/s is meant to measure Argon2; the default 60 logins per minute per IP would measure the throttle.
      RATE_LIMIT_PER_MINUTE: "1000000",
      // Opt-in CPU profiles of every program (written when each one exits), to see where time goes.
      ...profileEnv()
    }
  })
  const stop = async () => {
    await stopUpSystem(sys, 90_000)
    fs.rmSync(sys.stateDir, { recursive: true, force: true })
  }
  return {
    gatewayUrl: sys.gatewayUrl,
    controlPlaneUrl: sys.controlPlaneUrl,
    adminPassword: sys.adminPassword,
    psk,
    nodeSlug: sys.nodeSlug,
    stateDir: sys.stateDir,
    programs: sys.run.children,
    output: sys.output,
    readyMs: sys.readyMs,
    stop
  }
}
