import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { Jwt } from "../../layers/Jwt.ts"
import { Uuid } from "../../schema/ids.ts"
import { NotFound, Unauthorized } from "../../schema/problem.ts"
import { NodeAuth } from "../../api/control-plane.ts"
import { NodesRepo } from "./NodesRepo.ts"

/** Node JWT authentication (control-plane.md §3, §4): the middleware that provides the current node. */

/** Audience of node tokens, so a node token is never accepted as a user token and vice versa. */
export const NODE_AUDIENCE = "cynode-node"

const isUuid = Schema.is(Uuid)

const invalid = new Unauthorized({ detail: "Invalid or expired token" })

/** Logs why a token was refused (never the token) and answers the one generic 401. */
const refuse = (reason: string) =>
  Effect.logInfo("node token refused").pipe(Effect.annotateLogs("reason", reason), Effect.zipRight(Effect.fail(invalid)))

export const NodeAuthLive = Layer.effect(
  NodeAuth,
  Effect.gen(function*() {
    const jwt = yield* Jwt
    const repo = yield* NodesRepo
    return NodeAuth.of({
      nodeJwt: (token) =>
        Effect.gen(function*() {
          const raw = Redacted.value(token).trim()
          if (raw === "") return yield* new Unauthorized({ detail: "Missing authorization header" })
          const verified = yield* Effect.either(jwt.verify(raw, { tokenType: "node", audience: NODE_AUDIENCE }))
          if (verified._tag === "Left") return yield* refuse(verified.left.reason)
          const claims = verified.right
          const nodeId = claims.node_id
          if (typeof nodeId !== "string" || !isUuid(nodeId) || claims.sub !== nodeId) return yield* refuse("claims")
          const node = yield* repo.findById(nodeId)
          if (Option.isNone(node)) return yield* new NotFound({ detail: "Node not found" })
          // Re-registration rotates the JWT: only the most recently issued one is accepted.
          if (node.value.node_jwt_id !== claims.jti) return yield* refuse("revoked")
          return { id: node.value.id, node_slug: node.value.node_slug }
        }).pipe(Effect.withSpan("NodeAuth.nodeJwt"))
    })
  })
)
