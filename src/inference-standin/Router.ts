import { Either, type Schema } from "effect"
import { chatPrompt } from "./Answer.ts"
import { findModel, tagsEntry } from "./Models.ts"
import { chatReply, generateReply, type Completion, type Timing } from "./Replies.ts"
import { ChatRequest, decodeBody, GenerateRequest } from "./Requests.ts"

/** Maps one request to one reply; no I/O, so every route is testable without a socket. */

export const STANDIN_VERSION = "0.0.0-cynode-standin"

export type Reply =
  | { readonly kind: "json"; readonly status: number; readonly body: unknown; readonly headers?: Record<string, string> }
  | { readonly kind: "text"; readonly status: number; readonly body: string }
  | { readonly kind: "ndjson"; readonly lines: ReadonlyArray<unknown> }

export interface Routed {
  readonly reply: Reply
  /** The requested model, for the access log. */
  readonly model?: string
}

export interface RouteContext {
  readonly models: ReadonlyArray<string>
  /** Read when the answer is built, so durations cover the work done. */
  readonly timing: () => Timing
}

export interface IncomingCall {
  readonly method: string
  readonly path: string
  readonly body: string
}

const json = (status: number, body: unknown, headers?: Record<string, string>): Routed => ({
  reply: headers === undefined ? { kind: "json", status, body } : { kind: "json", status, body, headers }
})
const failure = (status: number, error: string, model?: string): Routed =>
  model === undefined ? json(status, { error }) : { ...json(status, { error }), model }

interface CompletionFields {
  readonly model?: string | undefined
  readonly stream?: boolean | undefined
}

/** Shared by generate and chat: decode, check the model, answer as a stream (default) or one object. */
const completionRoute =
  <A extends CompletionFields, I>(
    schema: Schema.Schema<A, I>,
    promptOf: (request: A) => string,
    build: (completion: Completion, timing: Timing, stream: boolean) => ReadonlyArray<unknown>
  ) =>
  (call: IncomingCall, context: RouteContext): Routed => {
    const decoded = decodeBody(schema, call.body)
    if (Either.isLeft(decoded)) return failure(400, decoded.left)
    const request = decoded.right
    const model = request.model ?? ""
    if (model === "") return failure(400, "model is required")
    if (findModel(context.models, model) === undefined) return failure(404, `model '${model}' not found`, model)
    const stream = request.stream ?? true
    const lines = build({ model, prompt: promptOf(request) }, context.timing(), stream)
    return { reply: stream ? { kind: "ndjson", lines } : { kind: "json", status: 200, body: lines[0] }, model }
  }

interface Route {
  readonly method: "GET" | "POST"
  readonly handle: (call: IncomingCall, context: RouteContext) => Routed
}

const routes: Record<string, Route> = {
  "/": { method: "GET", handle: () => ({ reply: { kind: "text", status: 200, body: "CyNode stand-in (not Ollama) is running" } }) },
  "/api/version": { method: "GET", handle: () => json(200, { version: STANDIN_VERSION }) },
  "/api/tags": { method: "GET", handle: (_, context) => json(200, { models: context.models.map(tagsEntry) }) },
  "/api/generate": { method: "POST", handle: completionRoute(GenerateRequest, (r) => r.prompt ?? "", generateReply) },
  "/api/chat": { method: "POST", handle: completionRoute(ChatRequest, (r) => chatPrompt(r.messages ?? []), chatReply) }
}

const allows = (route: Route, method: string): boolean =>
  method === route.method || (route.method === "GET" && method === "HEAD")

export const route = (call: IncomingCall, context: RouteContext): Routed => {
  const found = Object.hasOwn(routes, call.path) ? routes[call.path] : undefined
  if (found === undefined) return failure(404, "not found")
  if (!allows(found, call.method)) return json(405, { error: "method not allowed" }, { allow: found.method === "GET" ? "GET, HEAD" : "POST" })
  return found.handle(call, context)
}
