import { Either, ParseResult, Schema } from "effect"

/** The request fields the stand-in reads; other Ollama fields (options, system, format, …) are accepted and ignored. */

export const GenerateRequest = Schema.Struct({
  model: Schema.optionalWith(Schema.String, { exact: true }),
  prompt: Schema.optionalWith(Schema.String, { exact: true }),
  stream: Schema.optionalWith(Schema.Boolean, { exact: true })
})
export type GenerateRequest = typeof GenerateRequest.Type

export const ChatMessage = Schema.Struct({
  role: Schema.String,
  content: Schema.optionalWith(Schema.String, { exact: true })
})

export const ChatRequest = Schema.Struct({
  model: Schema.optionalWith(Schema.String, { exact: true }),
  messages: Schema.optionalWith(Schema.Array(ChatMessage), { exact: true }),
  stream: Schema.optionalWith(Schema.Boolean, { exact: true })
})
export type ChatRequest = typeof ChatRequest.Type

/** Left carries the `error` text of a 400 answer. */
export const decodeBody = <A, I>(schema: Schema.Schema<A, I>, body: string): Either.Either<A, string> => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch (e) {
    return Either.left(`invalid JSON body: ${e instanceof Error ? e.message : String(e)}`)
  }
  return Schema.decodeUnknownEither(schema)(json).pipe(
    Either.mapLeft((error) => `invalid request body: ${ParseResult.TreeFormatter.formatErrorSync(error)}`)
  )
}
