import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { CreateTaskRequest, TaskResult } from "../../schema/task.ts"
import { TaskStatus } from "../../schema/task.ts"
import { LocalFileError, TaskNotCompleted, UsageError } from "./CliError.ts"
import { endOutcome, followTask, type FollowState } from "./Follow.ts"
import * as Gateway from "./Gateway.ts"
import { common, emit } from "./options.ts"
import { authenticated } from "./Session.ts"
import { outcomeOf, renderOutcome, renderTask } from "./TaskOutcome.ts"
import { waitForResult } from "./Wait.ts"

/** `cynode task create|get|list|result|cancel`. */

const taskArg = Args.text({ name: "task" }).pipe(Args.withDescription("task id or name"))

const wait = Options.boolean("wait").pipe(Options.withAlias("w"), Options.withDescription("wait until the task ends, showing progress"))
const waitTimeout = Options.integer("wait-timeout").pipe(
  Options.withDescription("give up waiting after this many seconds (the task keeps running)"),
  Options.withDefault(600)
)

const follow = Options.boolean("follow").pipe(
  Options.withAlias("f"),
  Options.withDescription("print the output live as the task runs; exit with the task's exit code")
)

/** Raw output straight to this process's streams, as it arrives. */
const writeOutput = (stream: "stdout" | "stderr", text: string) =>
  Effect.async<void>((resume) => {
    const target = stream === "stdout" ? process.stdout : process.stderr
    target.write(text, () => resume(Effect.void))
  })

const followOutput = (gateway: Option.Option<string>, ref: string, label: string, stream: "stdout" | "stderr" | "all" = "all") =>
  Effect.suspend(() => {
    // Outside the authenticated call: a retry after a token refresh resumes from the last event printed.
    const state: FollowState = { lastId: undefined }
    return authenticated(gateway, (url, token) => followTask(url, token, ref, { write: writeOutput, state, stream })).pipe(
      Effect.flatMap((end) => endOutcome(label, end))
    )
  })

/** `LOCAL` or `LOCAL:PATH`: the file's bytes as base64, placed at PATH (default: its base name) under /workspace. */
const readInputFile = (spec: string) =>
  Effect.try({
    try: () => {
      const colon = spec.lastIndexOf(":")
      const local = colon > 0 ? spec.slice(0, colon) : spec
      const target = colon > 0 ? spec.slice(colon + 1) : path.basename(spec)
      return { path: target, content_base64: fs.readFileSync(local).toString("base64") }
    },
    catch: (cause) => new LocalFileError({ path: spec, reason: cause instanceof Error ? cause.message : String(cause) })
  })

const readScript = (source: string) =>
  Effect.try({
    try: () => fs.readFileSync(source === "-" ? 0 : source, "utf8"),
    catch: (cause) => new LocalFileError({ path: source, reason: cause instanceof Error ? cause.message : String(cause) })
  })

/** Waits (with progress) for the task's result; a task that ends other than `completed` fails the command. */
const awaitOutcome = (gateway: Option.Option<string>, ref: string, label: string, timeoutSeconds: number) =>
  waitForResult(
    (waitSeconds) => authenticated(gateway, (url, token) => Gateway.taskResult(url, token, ref, waitSeconds)),
    { label, timeoutSeconds }
  )

const printOutcome = (json: boolean, result: TaskResult, name: string) => {
  const outcome = outcomeOf(result)
  return emit(json, { task_name: name, ...outcome }, () => renderOutcome(outcome, name)).pipe(
    Effect.zipRight(
      result.status === "completed" || result.status === "queued" || result.status === "running"
        ? Effect.void
        : Effect.fail(new TaskNotCompleted({ task: name, status: result.status }))
    )
  )
}

const create = Command.make(
  "create",
  {
    ...common,
    command: Options.text("command").pipe(
      Options.withAlias("c"),
      Options.withDescription("shell command for the sandbox (repeat for several lines)"),
      Options.repeated
    ),
    script: Options.text("script").pipe(Options.withDescription("shell script file for the sandbox (- for stdin)"), Options.optional),
    prompt: Options.text("prompt").pipe(Options.withAlias("p"), Options.withDescription("prompt for the node's model"), Options.optional),
    name: Options.text("name").pipe(Options.withDescription("task name (default: task_name_N)"), Options.optional),
    timeout: Options.integer("timeout").pipe(Options.withDescription("sandbox time limit in seconds (1-10800)"), Options.optional),
    attach: Options.text("attach").pipe(Options.withDescription("attachment reference (repeatable)"), Options.repeated),
    file: Options.text("file").pipe(
      Options.withDescription("a local file to put under /workspace: LOCAL or LOCAL:PATH (repeatable)"),
      Options.repeated
    ),
    wait,
    waitTimeout,
    follow
  },
  (opts) =>
    Effect.gen(function*() {
      const given = [opts.command.length > 0, Option.isSome(opts.script), Option.isSome(opts.prompt)].filter(Boolean).length
      if (given !== 1) return yield* new UsageError({ message: "give exactly one of --command, --script or --prompt" })
      const body: CreateTaskRequest = {
        ...(opts.command.length > 0
          ? { input_mode: "commands" as const, prompt: opts.command.join("\n") }
          : Option.isSome(opts.script)
          ? { input_mode: "script" as const, prompt: yield* readScript(opts.script.value) }
          : { input_mode: "prompt" as const, prompt: Option.getOrElse(opts.prompt, () => "") }),
        ...(Option.isSome(opts.name) ? { task_name: opts.name.value } : {}),
        ...(Option.isSome(opts.timeout) ? { timeout_seconds: opts.timeout.value } : {}),
        ...(opts.attach.length > 0 ? { attachments: opts.attach } : {}),
        ...(opts.file.length > 0 ? { files: yield* Effect.forEach(opts.file, readInputFile) } : {})
      }
      const task = yield* authenticated(opts.gateway, (url, token) => Gateway.createTask(url, token, body))
      if (opts.follow) {
        if (!opts.json) yield* Console.error(`created task ${task.task_name} (${task.id})`)
        return yield* followOutput(opts.gateway, task.id, task.task_name)
      }
      if (!opts.wait) {
        return yield* emit(opts.json, task, () => `created task ${task.task_name} (${task.id}): ${task.status}`)
      }
      if (!opts.json) yield* Console.error(`created task ${task.task_name} (${task.id})`)
      const result = yield* awaitOutcome(opts.gateway, task.id, task.task_name, opts.waitTimeout)
      yield* printOutcome(opts.json, result, task.task_name)
    })
).pipe(Command.withDescription("create a task: a sandbox command or script, or a prompt for the node's model"))

const get = Command.make("get", { ...common, task: taskArg }, ({ gateway, json, task }) =>
  authenticated(gateway, (url, token) => Gateway.getTask(url, token, task)).pipe(
    Effect.flatMap((view) => emit(json, view, () => renderTask(view)))
  )).pipe(Command.withDescription("show a task"))

const list = Command.make(
  "list",
  {
    ...common,
    status: Options.choice("status", TaskStatus.literals).pipe(Options.withDescription("only tasks in this status"), Options.optional),
    limit: Options.integer("limit").pipe(Options.withDescription("at most this many (1-200, default 50)"), Options.optional),
    cursor: Options.text("cursor").pipe(Options.withDescription("continue from a previous list's next_cursor"), Options.optional)
  },
  ({ cursor, gateway, json, limit, status }) =>
    authenticated(gateway, (url, token) =>
      Gateway.listTasks(url, token, {
        ...(Option.isSome(limit) ? { limit: limit.value } : {}),
        ...(Option.isSome(cursor) ? { cursor: cursor.value } : {}),
        ...(Option.isSome(status) ? { status: status.value } : {})
      })).pipe(
        Effect.flatMap((page) =>
          emit(json, page, () => {
            if (page.tasks.length === 0) return "no tasks"
            const rows = page.tasks.map((t) => `${t.id}  ${t.status.padEnd(10)}  ${t.created_at}  ${t.task_name}`)
            if (page.next_cursor !== "") rows.push(`(more: --cursor ${page.next_cursor})`)
            return rows.join("\n")
          })
        )
      )
).pipe(Command.withDescription("list your tasks, newest first"))

const result = Command.make("result", { ...common, task: taskArg, wait, waitTimeout }, (opts) =>
  Effect.gen(function*() {
    const outcome = opts.wait
      ? yield* awaitOutcome(opts.gateway, opts.task, opts.task, opts.waitTimeout)
      : yield* authenticated(opts.gateway, (url, token) => Gateway.taskResult(url, token, opts.task))
    yield* printOutcome(opts.json, outcome, opts.task)
  })).pipe(Command.withDescription("show a task's result: status, exit code, stdout and stderr"))

const cancel = Command.make("cancel", { ...common, task: taskArg }, ({ gateway, json, task }) =>
  authenticated(gateway, (url, token) => Gateway.cancelTask(url, token, task)).pipe(
    Effect.flatMap((answer) => emit(json, answer, () => `canceled task ${task}`))
  )).pipe(Command.withDescription("cancel a queued or running task"))

const logs = Command.make(
  "logs",
  {
    ...common,
    task: taskArg,
    follow,
    stream: Options.choice("stream", ["stdout", "stderr", "all"] as const).pipe(
      Options.withDescription("only this stream (default all)"),
      Options.withDefault("all" as const)
    )
  },
  (opts) =>
    opts.follow
      ? followOutput(opts.gateway, opts.task, opts.task, opts.stream)
      : authenticated(opts.gateway, (url, token) => Gateway.taskLogs(url, token, opts.task, opts.stream)).pipe(
        Effect.flatMap((logs) =>
          opts.json
            ? emit(true, logs, () => "")
            : Effect.zipRight(writeOutput("stdout", logs.stdout), writeOutput("stderr", logs.stderr))
        )
      )
).pipe(Command.withDescription("print a task's output (stdout and stderr); -f follows it live until the task ends"))

const artifacts = Command.make(
  "artifacts",
  {
    ...common,
    task: taskArg,
    get: Options.text("get").pipe(Options.withDescription("download this artifact (its path under /workspace/out)"), Options.optional),
    output: Options.text("output").pipe(
      Options.withAlias("o"),
      Options.withDescription("with --get: write to this file instead of stdout"),
      Options.optional
    )
  },
  (opts) => {
    const { get: wanted, output } = opts
    if (Option.isNone(wanted)) {
      return authenticated(opts.gateway, (url, token) => Gateway.taskArtifacts(url, token, opts.task)).pipe(
        Effect.flatMap((list) =>
          emit(opts.json, list, () => {
            const rows = list.artifacts.map((a) => `${String(a.size_bytes).padStart(10)}  ${a.content_type.padEnd(28)}  ${a.path}`)
            for (const r of list.refused) rows.push(`refused  ${r.path}: ${r.reason}`)
            return rows.length === 0 ? "no artifacts" : rows.join("\n")
          })
        )
      )
    }
    return authenticated(opts.gateway, (url, token) => Gateway.artifactBytes(url, token, opts.task, wanted.value)).pipe(
      Effect.flatMap((bytes) =>
        Option.isSome(output)
          ? Effect.try({
            try: () => fs.writeFileSync(output.value, bytes),
            catch: (cause) => new LocalFileError({ path: output.value, reason: cause instanceof Error ? cause.message : String(cause) })
          })
          : Effect.async<void>((resume) => {
            process.stdout.write(bytes, () => resume(Effect.void))
          })
      )
    )
  }
).pipe(Command.withDescription("list a task's artifacts (files it left under /workspace/out), or download one with --get"))

export const taskCommand = Command.make("task").pipe(
  Command.withDescription("create and inspect tasks"),
  Command.withSubcommands([create, get, list, result, cancel, logs, artifacts])
)
