import { HttpApiBuilder } from "@effect/platform"
import { Effect, Option } from "effect"
// The gateway reads and changes the cluster state the control plane defines.
import { NodeAdmin } from "../control-plane/NodeAdmin.ts"
import { Conflict, NotFound } from "../../schema/problem.ts"
import { requireAdmin } from "./Authentication.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"

/** Handlers of the node admin API (NodesAdminApi.ts). */

const noSuchNode = (slug: string) => new NotFound({ detail: `no node ${slug}` })

export const NodesAdminHttpLive = HttpApiBuilder.group(GatewayApi, "nodes", (handlers) =>
  Effect.gen(function*() {
    const admin = yield* NodeAdmin
    const setState = (slug: string, action: "drain" | "disable" | "enable") =>
      Effect.zipRight(
        requireAdmin,
        Effect.flatMap(admin.setState(slug, action), Option.match({ onNone: () => Effect.fail(noSuchNode(slug)), onSome: Effect.succeed }))
      )
    return handlers
      .handle("list", () => Effect.zipRight(requireAdmin, Effect.map(admin.list, (nodes) => ({ nodes }))))
      .handle("drain", ({ path }) => setState(path.node_slug, "drain"))
      .handle("disable", ({ path }) => setState(path.node_slug, "disable"))
      .handle("enable", ({ path }) => setState(path.node_slug, "enable"))
      .handle("remove", ({ path }) =>
        Effect.gen(function*() {
          yield* requireAdmin
          const removed = yield* admin.remove(path.node_slug).pipe(
            Effect.catchTag("NodeBusy", (e) =>
              Effect.fail(new Conflict({ detail: `node ${path.node_slug} still has ${e.running} unfinished jobs; drain it first` })))
          )
          if (!removed) return yield* noSuchNode(path.node_slug)
        }))
  }))
