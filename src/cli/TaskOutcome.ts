import { Option, Schema } from "effect"
import type { TaskResult, TaskStatus, TaskView } from "../../schema/task.ts"

/**
 * What a finished task produced, read from `GET /v1/tasks/{id}/result`: each job's `result` is the worker's response
 * as JSON text (user-gateway.md §4), parsed here into stdout, stderr and the exit code.
 */

/** The worker response fields the CLI shows; others are kept as they are in `--json` output. */
const WorkerOutcome = Schema.Struct({
  status: Schema.optional(Schema.String),
  exit_code: Schema.optional(Schema.Number),
  stdout: Schema.optional(Schema.String),
  stderr: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String),
  error_type: Schema.optional(Schema.String)
})
const decodeOutcome = Schema.decodeUnknownOption(Schema.parseJson(WorkerOutcome))
const decodeJson = Schema.decodeUnknownOption(Schema.parseJson(Schema.Unknown))

export const TERMINAL_STATUSES: ReadonlyArray<TaskStatus> = ["completed", "failed", "canceled", "superseded"]
export const isTerminal = (status: TaskStatus): boolean => TERMINAL_STATUSES.includes(status)

export interface Outcome {
  readonly task_id: string
  readonly status: TaskStatus
  /** From the last job that has a result. */
  readonly exit_code?: number
  readonly stdout: string
  readonly stderr: string
  readonly error?: string
  readonly jobs: ReadonlyArray<{
    readonly id: string
    readonly status: string
    readonly started_at?: string
    readonly ended_at?: string
    /** The worker's response, parsed once more (it arrives as JSON text). */
    readonly result?: unknown
  }>
}

export const outcomeOf = (result: TaskResult): Outcome => {
  let stdout = ""
  let stderr = ""
  let exitCode: number | undefined
  let error: string | undefined
  const jobs = result.jobs.map((job) => {
    const parsed = job.result === undefined ? Option.none() : decodeOutcome(job.result)
    if (Option.isSome(parsed)) {
      stdout += parsed.value.stdout ?? ""
      stderr += parsed.value.stderr ?? ""
      if (parsed.value.exit_code !== undefined) exitCode = parsed.value.exit_code
      if (parsed.value.error !== undefined) {
        error = parsed.value.error_type === undefined ? parsed.value.error : `${parsed.value.error_type}: ${parsed.value.error}`
      }
    }
    const raw = job.result === undefined ? Option.none() : decodeJson(job.result)
    return {
      id: job.id,
      status: job.status,
      ...(job.started_at === undefined ? {} : { started_at: job.started_at }),
      ...(job.ended_at === undefined ? {} : { ended_at: job.ended_at }),
      ...(Option.isSome(raw) ? { result: raw.value } : {})
    }
  })
  return {
    task_id: result.task_id,
    status: result.status,
    ...(exitCode === undefined ? {} : { exit_code: exitCode }),
    stdout,
    stderr,
    ...(error === undefined ? {} : { error }),
    jobs
  }
}

const indent = (text: string) => text.replace(/\n$/, "").split("\n").map((line) => `  ${line}`).join("\n")

const seconds = (from?: string, to?: string): string | undefined => {
  if (from === undefined || to === undefined) return undefined
  const ms = Date.parse(to) - Date.parse(from)
  return Number.isFinite(ms) ? (ms < 1000 ? "<1 s" : `${(ms / 1000).toFixed(0)} s`) : undefined
}

/** Human-readable result block. */
export const renderOutcome = (outcome: Outcome, name?: string): string => {
  const lines = [`task ${name ?? outcome.task_id}: ${outcome.status}`]
  const last = outcome.jobs.at(-1)
  const details = [
    outcome.exit_code === undefined ? undefined : `exit code ${outcome.exit_code}`,
    seconds(last?.started_at, last?.ended_at)
  ].filter((part) => part !== undefined)
  if (details.length > 0) lines.push(details.join(", "))
  if (outcome.error !== undefined) lines.push(`error: ${outcome.error}`)
  if (outcome.stdout !== "") lines.push("stdout:", indent(outcome.stdout))
  if (outcome.stderr !== "") lines.push("stderr:", indent(outcome.stderr))
  if (outcome.jobs.length === 0 || (!isTerminal(outcome.status) && outcome.stdout === "")) lines.push("(no result yet)")
  return lines.join("\n")
}

export const renderTask = (task: TaskView): string =>
  [
    `task ${task.task_name}`,
    `  id       ${task.id}`,
    `  status   ${task.status}`,
    `  created  ${task.created_at}`,
    `  updated  ${task.updated_at}`,
    `  prompt   ${task.prompt.length > 200 ? task.prompt.slice(0, 200) + "…" : task.prompt}`.replace(/\n/g, "\n           "),
    ...(task.attachments === undefined ? [] : [`  attached ${task.attachments.join(", ")}`])
  ].join("\n")
