import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Option, Redacted } from "effect"
import { Jwt } from "../../layers/Jwt.ts"
import type { NodeBootstrapPayload, NodeCapabilityReport } from "../../schema/node.ts"
import { BadRequest, Conflict, NotFound, UnsupportedPayloadVersion } from "../../schema/problem.ts"
import { toTimestamp } from "../../schema/time.ts"
import { ConfigDelivery } from "./ConfigDelivery.ts"
import { sha256Hash } from "./ConfigVersion.ts"
import { ControlPlaneConfig } from "./ControlPlaneConfig.ts"
import { DispatchWakeup } from "./DispatchWakeup.ts"
import { LivenessRepo } from "./Liveness.ts"
import { NODE_AUDIENCE } from "./NodeAuth.ts"
import { ControlPlaneApi, CurrentNode } from "../../api/control-plane.ts"
import { NodesRepo, type CapabilityUpdate } from "./NodesRepo.ts"

/** Handlers of registration, capability reports, config delivery and acks (control-plane.md §4-§7). */

const checkVersion = (version: number) =>
  version === 1 ? Effect.void : Effect.fail(UnsupportedPayloadVersion.of(version))

const slugMismatch = new BadRequest({ detail: "node_slug does not match authenticated node" })

/** Responses that carry a secret (node JWT, worker token) must not be cached (§3). */
const noStoreJson = (body: unknown, status = 200) =>
  HttpServerResponse.unsafeJson(body, { status, headers: { "cache-control": "no-store" } })

/** The body exactly as the node sent it (decoding checked it; unknown fields are stored as they came). */
const rawBody = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => request.json).pipe(Effect.orDie)

const capabilityUpdate = (report: NodeCapabilityReport, raw: unknown): CapabilityUpdate => ({
  snapshot: raw,
  hash: sha256Hash(raw),
  reportedAt: new Date(report.reported_at),
  workerApiUrl: report.worker_api?.base_url
})

const isoOrNull = (d: Date | null) => (d === null ? null : toTimestamp(d))

export const NodesHttpLive = HttpApiBuilder.group(ControlPlaneApi, "nodes", (handlers) =>
  Effect.gen(function*() {
    const repo = yield* NodesRepo
    const delivery = yield* ConfigDelivery
    const jwt = yield* Jwt
    const config = yield* ControlPlaneConfig
    const wakeup = yield* DispatchWakeup
    const liveness = yield* LivenessRepo
    const base = config.publicUrl

    return handlers
      .handle("register", ({ payload }) =>
        Effect.gen(function*() {
          const report = payload.capability
          yield* checkVersion(report.version)
          const slug = report.node.node_slug
          const raw = yield* rawBody
          const rawCapability = typeof raw === "object" && raw !== null && "capability" in raw ? raw.capability : report
          const { node, issued } = yield* repo.register(slug, capabilityUpdate(report, rawCapability), (n) =>
            jwt.sign({
              tokenType: "node",
              subject: n.id,
              ttlMs: config.nodeJwtTtlMs,
              audience: NODE_AUDIENCE,
              claims: { node_id: n.id, node_slug: slug }
            }))
          yield* Effect.logInfo(node.created ? "node registered" : "node re-registered").pipe(
            Effect.annotateLogs({ node: slug, node_id: node.id })
          )
          const bootstrap: NodeBootstrapPayload = {
            version: 1,
            issued_at: toTimestamp(new Date()),
            orchestrator: {
              base_url: base,
              endpoints: {
                worker_registration_url: `${base}/v1/nodes/register`,
                node_report_url: `${base}/v1/nodes/capability`,
                node_config_url: `${base}/v1/nodes/config`,
                node_heartbeat_url: `${base}/v1/nodes/heartbeat`
              }
            },
            auth: { node_jwt: Redacted.value(issued.token), expires_at: toTimestamp(issued.expiresAt) }
          }
          return noStoreJson(bootstrap, node.created ? 201 : 200)
        }))
      .handle("capability", ({ payload }) =>
        Effect.gen(function*() {
          const current = yield* CurrentNode
          yield* checkVersion(payload.version)
          if (payload.node.node_slug !== current.node_slug) return yield* slugMismatch
          const update = capabilityUpdate(payload, yield* rawBody)
          yield* repo.storeCapability(current.id, update)
          yield* Effect.logDebug("capability report stored").pipe(
            Effect.annotateLogs({ node: current.node_slug, capability_hash: update.hash })
          )
        }))
      .handle("config", () =>
        Effect.gen(function*() {
          const current = yield* CurrentNode
          const node = yield* repo.findById(current.id)
          if (Option.isNone(node)) return yield* new NotFound({ detail: "Node not found" })
          yield* repo.forgetAck(current.id)
          const payload = yield* delivery.payloadFor(node.value)
          if (Option.isNone(payload)) return yield* new NotFound({ detail: "Node not found" })
          yield* Effect.logInfo("node config delivered").pipe(
            Effect.annotateLogs({ node: current.node_slug, config_version: payload.value.config_version })
          )
          return noStoreJson(payload.value)
        }))
      .handle("ack", ({ payload }) =>
        Effect.gen(function*() {
          const current = yield* CurrentNode
          yield* checkVersion(payload.version)
          if (payload.node_slug !== current.node_slug) return yield* slugMismatch
          const outcome = yield* repo.recordAck(current.id, payload)
          yield* Effect.logInfo("node config ack").pipe(
            Effect.annotateLogs({
              node: current.node_slug,
              config_version: payload.config_version,
              status: payload.status,
              outcome,
              ...(payload.error !== undefined ? { error_type: payload.error.type } : {})
            })
          )
          if (outcome === "conflict") {
            return yield* new Conflict({
              detail: `config_version ${payload.config_version} is not the version currently issued to this node`
            })
          }
          yield* wakeup.wake
        }))
      .handle("heartbeat", () =>
        Effect.gen(function*() {
          const current = yield* CurrentNode
          const beat = yield* liveness.heartbeat(current.id).pipe(Effect.orDie)
          if (Option.isNone(beat)) return yield* new NotFound({ detail: "Node not found" })
          if (beat.value.was === "lost") {
            yield* Effect.logInfo("node back: heartbeat after being lost").pipe(Effect.annotateLogs("node", current.node_slug))
            yield* wakeup.wake
          }
          return { config_version: yield* delivery.versionForHeartbeat(current.id, beat.value) }
        }))
      .handle("list", () =>
        Effect.map(repo.listNodes, (rows) => ({
          nodes: rows.map((n) => ({
            id: n.id,
            node_slug: n.node_slug,
            status: n.status,
            dispatchable: n.dispatchable,
            worker_api_target_url: n.worker_api_target_url,
            capability_hash: n.capability_hash,
            issued_config_version: n.issued_config_version,
            config_version: n.config_version,
            config_ack_status: n.config_ack_status,
            config_ack_error: n.config_ack_error,
            config_ack_at: isoOrNull(n.config_ack_at),
            last_seen_at: isoOrNull(n.last_seen_at),
            last_capability_at: isoOrNull(n.last_capability_at)
          }))
        })))
  }))
