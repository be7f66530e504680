import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Readiness } from "./Readiness.ts"
import { ControlPlaneApi } from "../../api/control-plane.ts"

/** `/healthz` (the process answers) and `/readyz` (Readiness.ts: database, migrations, an inference path). */
export const HealthHttpLive = HttpApiBuilder.group(ControlPlaneApi, "health", (handlers) =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    return handlers
      .handle("healthz", () => Effect.succeed("ok"))
      .handle("readyz", () =>
        Effect.flatMap(readiness.check, ({ ready, reason }) => (ready ? Effect.succeed("ready") : Effect.fail(reason))))
  }))
