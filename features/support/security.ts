import { AfterAll } from "@cucumber/cucumber"
import { ControlPlaneHarness } from "../../test/support/controlPlane.ts"
import { startGateway, type RunningGateway } from "../../test/user-gateway/gatewayProcess.ts"

/**
 * The @security suite's control plane: the real program with tight edge limits, so a scenario can watch a slow
 * body, a surplus connection or an oversized head being cut off. The worker API and the user gateway are the
 * suites' shared programs (features/support/worker_api.ts, gateway.ts).
 */
export const EDGE_LIMITS = { readTimeout: "2s", maxConnections: 8, maxHeaderBytes: 4096 }

let running: Promise<ControlPlaneHarness> | undefined

export const edgeControlPlane = (): Promise<ControlPlaneHarness> =>
  running ??= ControlPlaneHarness.start({
    env: {
      READ_TIMEOUT: EDGE_LIMITS.readTimeout,
      MAX_CONNECTIONS: String(EDGE_LIMITS.maxConnections),
      MAX_HEADER_BYTES: String(EDGE_LIMITS.maxHeaderBytes)
    }
  })

/**
 * A gateway whose lockout outlasts any burst of guesses (the shared @gateway one locks for 2 s so that a scenario
 * can wait a lockout out), so that a count of checked guesses cannot include a second lockout period.
 */
export const LOCKOUT_GATEWAY = { threshold: 3 }

let lockout: Promise<RunningGateway> | undefined

export const lockoutGateway = (): Promise<RunningGateway> =>
  lockout ??= startGateway({
    AUTH_LOCKOUT_THRESHOLD: String(LOCKOUT_GATEWAY.threshold),
    AUTH_LOCKOUT_WINDOW: "10m",
    AUTH_LOCKOUT_DURATION: "10m",
    RATE_LIMIT_PER_MINUTE: "100000",
    AUTH_IP_FAILURE_THRESHOLD: "100000"
  })

/** A gateway behind a proxy at 127.0.0.1 (where the tests connect from), locking an address after 3 failures. */
export const PROXIED_GATEWAY = { ipThreshold: 3 }

let proxied: Promise<RunningGateway> | undefined

export const proxiedGateway = (): Promise<RunningGateway> =>
  proxied ??= startGateway({
    TRUST_PROXY_HEADERS: "true",
    TRUSTED_PROXIES: "127.0.0.1",
    AUTH_IP_FAILURE_THRESHOLD: String(PROXIED_GATEWAY.ipThreshold),
    AUTH_LOCKOUT_THRESHOLD: "100000",
    RATE_LIMIT_PER_MINUTE: "100000"
  })

AfterAll({ timeout: 60_000 }, async function() {
  const [harness, gateway, behindProxy] = [running, lockout, proxied]
  running = undefined
  lockout = undefined
  proxied = undefined
  await (await harness?.catch(() => undefined))?.stop()
  await (await gateway?.catch(() => undefined))?.stop()
  await (await behindProxy?.catch(() => undefined))?.stop()
})
