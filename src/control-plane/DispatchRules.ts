import { Either, ParseResult, Schema } from "effect"
import { type CompletedPayload, isInferenceJob, JobPayload } from "../../schema/job.ts"
import { storableText } from "../../schema/result.ts"

/**
 * The dispatcher's decisions (control-plane.md §9; docs/dispatch.md "Placement"), free of SQL and I/O so that they
 * are tested on their own: what a job needs, which node takes it, when a node cools down, what a task's summary says.
 */

const MAX_SUMMARY_CODE_POINTS = 200

const cut = (s: string) => Array.from(s).slice(0, MAX_SUMMARY_CODE_POINTS).join("")

const firstLine = (s: unknown): string =>
  typeof s === "string" ? (s.split("\n").find((line) => line.trim() !== "") ?? "").trim() : ""

/**
 * `tasks.metadata.result_summary` (control-plane.md §9 step 6): the worker said other than `completed` ⇒
 * `job <status>`; else the first line of stdout, else of stderr (≤200 code points), else `completed`. Our additions:
 * a canceled job reads `job canceled`, a dispatch failure `job failed (<error_type>)`.
 */
export const resultSummary = (result: unknown, jobStatus: string): string => {
  if (jobStatus === "canceled") return "job canceled"
  const r = typeof result === "object" && result !== null ? result as Record<string, unknown> : {}
  if (typeof r.error_type === "string") return `job failed (${r.error_type})`
  if (r.status !== "completed") return `job ${typeof r.status === "string" ? r.status : "failed"}`
  const line = firstLine(r.stdout) || firstLine(r.stderr)
  return line === "" ? "completed" : storableText(cut(line))
}

const decodePayload = Schema.decodeUnknownEither(JobPayload)

export interface PayloadDefaults {
  readonly sandboxImage: string
  readonly inferenceModel: string
}

/** Step 4: the stored payload, completed with the deployment's image or model; invalid ⇒ a readable reason. */
export const completePayload = (payload: unknown, defaults: PayloadDefaults): Either.Either<CompletedPayload, string> =>
  decodePayload(payload).pipe(
    Either.mapLeft((e) => `the job payload is neither a sandbox nor an inference job: ${ParseResult.TreeFormatter.formatErrorSync(e)}`),
    Either.map((p): CompletedPayload =>
      isInferenceJob(p)
        ? {
          _tag: "inference",
          inference: { prompt: p.inference.prompt, model: p.inference.model ?? defaults.inferenceModel },
          ...(p.placement !== undefined ? { placement: p.placement } : {})
        }
        : {
          _tag: "sandbox",
          ...(p.placement !== undefined ? { placement: p.placement } : {}),
          sandbox: {
            image: p.image ?? defaults.sandboxImage,
            command: p.command,
            ...(p.env !== undefined ? { env: p.env } : {}),
            ...(p.timeout_seconds !== undefined ? { timeout_seconds: p.timeout_seconds } : {}),
            ...(p.network_policy !== undefined ? { network_policy: p.network_policy } : {}),
            ...(p.files !== undefined && p.files.length > 0 ? { files: p.files } : {})
          }
        }
    )
  )

/** The payload as stored back on the job (the variant's own shape, defaults filled in). */
export const storedPayload = (p: CompletedPayload): unknown => ({
  ...(p._tag === "inference" ? { inference: p.inference } : p.sandbox),
  ...(p.placement !== undefined ? { placement: p.placement } : {})
})

/** A stored sandbox payload's own timeout, for the deadline of a job taken over after its lease lapsed. */
export const storedTimeoutSeconds = (payload: unknown): number | undefined => {
  const timeout = (payload as { readonly timeout_seconds?: unknown } | null)?.timeout_seconds
  return typeof timeout === "number" && timeout > 0 ? timeout : undefined
}

/** What a job needs of its node: an inference path (inference jobs, or asked for), and these labels. */
export interface NodeNeeds {
  readonly inference: boolean
  readonly labels: ReadonlyArray<string>
}

export const needsOf = (p: CompletedPayload): NodeNeeds => ({
  inference: p._tag === "inference" || p.placement?.inference === true,
  labels: p.placement?.node_selector ?? []
})

/** The labels a node reports (`node.labels` of its capability snapshot); anything else counts as none. */
export const labelsOf = (value: unknown): ReadonlyArray<string> =>
  Array.isArray(value) ? value.filter((l): l is string => typeof l === "string") : []

/** A node as placement sees it: its slug, whether it is an inference path, its labels. */
export interface PlacementNode {
  readonly slug: string
  readonly inferencePath: boolean
  readonly labels: ReadonlyArray<string>
}

/** Whether a node can ever run a job with these needs (free slots aside). */
export const satisfies = (node: Pick<PlacementNode, "inferencePath" | "labels">, needs: NodeNeeds) =>
  (!needs.inference || node.inferencePath) && needs.labels.every((l) => node.labels.includes(l))

/** Why no live node can run the job, for its failure result. */
export const unsatisfiableReason = (needs: NodeNeeds, live: ReadonlyArray<PlacementNode>): string => {
  const wanted = [
    ...(needs.labels.length > 0 ? [`labels ${needs.labels.join(", ")}`] : []),
    ...(needs.inference ? ["inference capability"] : [])
  ].join(" and ")
  const seen = live
    .slice(0, 10)
    .map((n) => `${n.slug} [${[...n.labels, ...(n.inferencePath ? ["inference"] : [])].join(", ") || "no labels"}]`)
    .join("; ")
  return `no live node has ${wanted}; live nodes: ${seen}${live.length > 10 ? `; and ${live.length - 10} more` : ""}`
}

/** A job that found no free node waits, unless it has needs no live node (of at least one) can ever meet. */
export const neverPlaceable = (needs: NodeNeeds, live: ReadonlyArray<PlacementNode>): string | undefined =>
  live.length === 0 || live.some((n) => satisfies(n, needs)) ? undefined : unsatisfiableReason(needs, live)

/** Whether the job asks for anything beyond a free slot (only such a job can be unsatisfiable). */
export const hasNeeds = (needs: NodeNeeds) => needs.labels.length > 0 || needs.inference

export interface NodeCandidate extends PlacementNode {
  readonly id: string
  /** Jobs it may still take now. */
  free: number
  inflight: number
}

/**
 * Placement (docs/dispatch.md "Placement"): among the nodes that satisfy the job's needs and have a free slot, the
 * most free slots first; then the fewest jobs in flight (spread); ties by slug.
 */
export const pickNode = (nodes: ReadonlyArray<NodeCandidate>, needs: NodeNeeds): NodeCandidate | undefined => {
  let best: NodeCandidate | undefined
  for (const n of nodes) {
    if (n.free <= 0 || !satisfies(n, needs)) continue
    if (
      best === undefined || n.free > best.free ||
      (n.free === best.free && (n.inflight < best.inflight || (n.inflight === best.inflight && n.slug < best.slug)))
    ) best = n
  }
  return best
}

/** What placement decided for one queued job, in queue order. */
export type Placement<J> =
  | { readonly _tag: "Invalid"; readonly job: J; readonly reason: string }
  | { readonly _tag: "Placed"; readonly job: J; readonly payload: CompletedPayload; readonly node: NodeCandidate }
  | { readonly _tag: "NoNode"; readonly job: J; readonly needs: NodeNeeds }

/**
 * Places queued jobs (oldest first) on the candidates, at most `slots` of them; each placement takes a slot of its
 * node (the candidates' `free` and `inflight` are updated). Invalid payloads are reported wherever they are met; the
 * jobs after the last slot is taken are not looked at.
 */
export const placeJobs = <J extends { readonly payload: unknown }>(
  jobs: ReadonlyArray<J>,
  candidates: ReadonlyArray<NodeCandidate>,
  slots: number,
  defaults: PayloadDefaults
): Array<Placement<J>> => {
  const placements: Array<Placement<J>> = []
  let left = slots
  for (const job of jobs) {
    const payload = completePayload(job.payload, defaults)
    if (Either.isLeft(payload)) {
      placements.push({ _tag: "Invalid", job, reason: payload.left })
      continue
    }
    if (left <= 0) break
    const needs = needsOf(payload.right)
    const node = pickNode(candidates, needs)
    if (node === undefined) {
      placements.push({ _tag: "NoNode", job, needs })
      continue
    }
    left--
    node.free--
    node.inflight++
    placements.push({ _tag: "Placed", job, payload: payload.right, node })
  }
  return placements
}

// --- Cool-down after a refused connection or a 503 ---

const MAX_COOL_DOWN_S = 30

export interface CoolDown {
  readonly failures: number
  /** When the cool-down started (ms since the epoch). */
  readonly since: number
  readonly until: number
}

/** The next cool-down of a node that refused again: 2^failures s, at most 30 s. */
export const coolDownAfter = (previous: CoolDown | undefined, now: number): CoolDown => {
  const failures = (previous?.failures ?? 0) + 1
  return { failures, since: now, until: now + Math.min(2 ** failures, MAX_COOL_DOWN_S) * 1000 }
}

/** Cooling nodes get no job, unless a new config ack since the cool-down began says the node came back. */
export const isCooling = (
  cool: Pick<CoolDown, "since" | "until"> | undefined,
  configAckAt: Date | null,
  now: number
): boolean => cool !== undefined && cool.until > now && (configAckAt?.getTime() ?? 0) <= cool.since

/** The jobs a node may still take now: its own ceiling (when reported) and the dispatcher's, less those in flight. */
export const freeSlots = (node: { readonly max_concurrency: number | null; readonly inflight: number }, nodeMaxInflight: number) =>
  Math.min(node.max_concurrency ?? Infinity, nodeMaxInflight) - node.inflight
