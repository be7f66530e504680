import { type Context, Effect, Option, type Redacted } from "effect"
import type { WorkerTarget } from "./WorkerClient.ts"
import { WorkerTokens } from "./WorkerTokens.ts"

/** A node the dispatcher may call: its own URL and its own token (never a global one). */
export interface NodeTarget extends WorkerTarget {
  readonly id: string
}

/** A node's address and worker token as stored (the token encrypted, see WorkerTokens.ts). */
export interface StoredTarget {
  readonly id: string
  readonly node_slug: string
  readonly url: string
  readonly token: string
}

/** The stored token decrypted; an undecryptable one is logged (the operator must fix the key) and gives none. */
export const decryptOrLog = (tokens: Context.Tag.Service<WorkerTokens>, slug: string, stored: string) =>
  tokens.decrypt(stored).pipe(
    Effect.tapError((e) =>
      Effect.logError("worker token cannot be decrypted; check WORKER_TOKEN_KEY/JWT_SECRET").pipe(
        Effect.annotateLogs({ node: slug, reason: e.reason })
      )
    ),
    Effect.option
  )

/**
 * Worker targets from stored nodes. Decrypted tokens are kept by their stored (encrypted) form: a claim looks at
 * every dispatchable node, and decrypting each of a thousand nodes' tokens on every claim would cost more than the
 * claim itself. A rotated token is a new key.
 */
export const makeWorkerTargets = Effect.gen(function*() {
  const tokens = yield* WorkerTokens
  const decrypted = new Map<string, Redacted.Redacted<string>>()

  const decrypt = (slug: string, stored: string) =>
    Effect.suspend(() => {
      const known = decrypted.get(stored)
      return known !== undefined ? Effect.succeed(Option.some(known)) : decryptOrLog(tokens, slug, stored).pipe(
        Effect.tap(Option.match({
          onNone: () => Effect.void,
          onSome: (token) => Effect.sync(() => {
            if (decrypted.size >= 100_000) decrypted.clear()
            decrypted.set(stored, token)
          })
        }))
      )
    })

  /** The node as the dispatcher calls it (URL without trailing slashes); none when its token cannot be decrypted. */
  const resolve = (node: StoredTarget): Effect.Effect<Option.Option<NodeTarget>> =>
    decrypt(node.node_slug, node.token).pipe(
      Effect.map(Option.map((token) => ({ id: node.id, nodeSlug: node.node_slug, url: node.url.replace(/\/+$/, ""), token })))
    )

  return { resolve }
})
