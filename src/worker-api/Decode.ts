import { Effect, ParseResult, Schema } from "effect"
import { MAX_JSON_DEPTH, tooDeep } from "../../layers/Http.ts"
import { BadRequest, UnsupportedPayloadVersion } from "../../schema/problem.ts"
import { RunJobRequest, WORKER_PAYLOAD_VERSION } from "../../schema/worker.ts"

/**
 * Decoding a `jobs:run` body, in the documented order (worker-node.md §6): JSON, schema, then version. The body
 * has already passed the size and JSON checks of the HTTP middleware; this never throws, whatever the input.
 */

const decode = Schema.decodeUnknownEither(RunJobRequest, { errors: "all", onExcessProperty: "ignore" })

const fieldErrors = (error: ParseResult.ParseError) =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
    path: issue.path.map(String).join(".") || "(body)",
    message: issue.message
  }))

export const decodeRunRequest = (body: string): Effect.Effect<RunJobRequest, BadRequest | UnsupportedPayloadVersion> => {
  if (body.trim() === "") return Effect.fail(new BadRequest({ detail: "invalid request: a JSON body is required" }))
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return Effect.fail(new BadRequest({ detail: "Invalid request body: malformed JSON" }))
  }
  if (tooDeep(json)) {
    return Effect.fail(new BadRequest({ detail: `Invalid request body: JSON nested deeper than ${MAX_JSON_DEPTH} levels` }))
  }
  const result = decode(json)
  if (result._tag === "Left") {
    const errors = fieldErrors(result.left)
    return Effect.fail(
      new BadRequest({ detail: `invalid request: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`, errors })
    )
  }
  return result.right.version === WORKER_PAYLOAD_VERSION
    ? Effect.succeed(result.right)
    : Effect.fail(UnsupportedPayloadVersion.of(result.right.version, WORKER_PAYLOAD_VERSION))
}
