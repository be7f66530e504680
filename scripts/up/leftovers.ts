import { Effect } from "effect"
import * as ContainerRuntime from "../../layers/ContainerRuntime.ts"

/**
 * After everything stopped: containers this node left behind (label io.cynode.managed=true and its node slug).
 * The node manager removes its own on a clean stop; anything found here is removed and reported. Uses an existing
 * container API only (never starts a podman service just to look).
 */
export const removeLeftoverContainers = (nodeSlug: string): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    const options = yield* ContainerRuntime.discoveryConfig
    const runtime = yield* ContainerRuntime.make({ ...options, podmanService: "never" })
    const found = yield* runtime.listByLabel({ [ContainerRuntime.MANAGED_LABEL]: "true", "io.cynode.node": nodeSlug })
    for (const container of found) yield* runtime.remove(container.id).pipe(Effect.ignore)
    return found.map((container) => `${container.names.join(",") || container.id.slice(0, 12)} (${container.state})`)
  }).pipe(
    Effect.scoped,
    Effect.catchAll((error) =>
      Effect.logWarning(`could not check for leftover containers: ${String(error)}`).pipe(Effect.as([]))
    )
  )
