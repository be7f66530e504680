import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

/**
 * RFC 9457 Problem Details, the one error body every CyNode service answers with
 * (`control-plane.md` §3, `user-gateway.md` §2, `worker-node.md` §6).
 */
export const FieldError = Schema.Struct({ path: Schema.String, message: Schema.String })
export type FieldError = typeof FieldError.Type

export class ProblemDetails extends Schema.Class<ProblemDetails>("ProblemDetails")({
  type: Schema.String,
  title: Schema.String,
  status: Schema.Int,
  detail: Schema.String,
  instance: Schema.optional(Schema.String),
  errors: Schema.optional(Schema.Array(FieldError))
}) {}

export const PROBLEM_CONTENT_TYPE = "application/problem+json"
export const UNSUPPORTED_VERSION_TYPE = "https://cynode.ai/problems/unsupported-payload-version"

/** Problem kinds by status: `type` is `urn:cynodeai:error:<kind>`. */
export const problemKinds: Record<number, { readonly kind: string; readonly title: string }> = {
  400: { kind: "validation", title: "Bad Request" },
  401: { kind: "authentication", title: "Unauthorized" },
  403: { kind: "authorization", title: "Forbidden" },
  404: { kind: "not_found", title: "Not Found" },
  405: { kind: "method_not_allowed", title: "Method Not Allowed" },
  409: { kind: "conflict", title: "Conflict" },
  413: { kind: "payload_too_large", title: "Payload Too Large" },
  415: { kind: "unsupported_media_type", title: "Unsupported Media Type" },
  422: { kind: "image_unavailable", title: "Unprocessable Content" },
  429: { kind: "rate_limit", title: "Too Many Requests" },
  500: { kind: "internal", title: "Internal Server Error" },
  503: { kind: "unavailable", title: "Service Unavailable" }
}

export const problemFor = (status: number, detail: string, extra?: Partial<ProblemDetails>): ProblemDetails => {
  const k = problemKinds[status] ?? problemKinds[500]!
  return new ProblemDetails({ type: `urn:cynodeai:error:${k.kind}`, title: k.title, status, detail, ...extra })
}

// Tagged errors. Each carries its HTTP status; layers/Http.ts turns the encoded error into Problem Details.

export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { detail: Schema.String, errors: Schema.optional(Schema.Array(FieldError)) },
  HttpApiSchema.annotations({ status: 400 })
) {}

export class UnsupportedPayloadVersion extends Schema.TaggedError<UnsupportedPayloadVersion>()(
  "UnsupportedPayloadVersion",
  { detail: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {
  static readonly of = (received: unknown, supported = 1) =>
    new UnsupportedPayloadVersion({
      detail: `payload version ${JSON.stringify(received)} is not supported; supported versions: [${supported}]`
    })
}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { detail: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { detail: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {}

export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { detail: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { detail: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { detail: Schema.String },
  HttpApiSchema.annotations({ status: 413 })
) {}

export class ImageUnavailable extends Schema.TaggedError<ImageUnavailable>()(
  "ImageUnavailable",
  { detail: Schema.String },
  HttpApiSchema.annotations({ status: 422 })
) {}

export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()(
  "TooManyRequests",
  { detail: Schema.String, retry_after_seconds: Schema.Int },
  HttpApiSchema.annotations({ status: 429 })
) {}

export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()(
  "ServiceUnavailable",
  { detail: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** `_tag`s whose encoded bodies the Problem Details middleware rewrites, with their special `type`s. */
export const problemTags: Record<string, { readonly type?: string; readonly title?: string }> = {
  BadRequest: {},
  UnsupportedPayloadVersion: { type: UNSUPPORTED_VERSION_TYPE, title: "Unsupported payload version" },
  Unauthorized: {},
  Forbidden: {},
  NotFound: {},
  Conflict: {},
  PayloadTooLarge: {},
  ImageUnavailable: {},
  TooManyRequests: {},
  ServiceUnavailable: {},
  HttpApiDecodeError: {}
}
