import { Deferred, Effect, type Scope } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import type { Readable } from "node:stream"
import { prefixer } from "./logFormat.ts"
import { repoRoot } from "./settings.ts"

/**
 * The programs `just up` runs, as scoped child processes: started in their own process group (so a terminal Ctrl-C
 * reaches only `up`, which stops them in order), output prefixed and readable, and stopped when the scope closes:
 * SIGTERM, a grace period, then SIGKILL to the whole group so nothing is left.
 */

export interface ChildSpec {
  readonly name: string
  /** Script path relative to the repository: a `.ts` file runs with `node --import tsx`, anything else with plain node. */
  readonly script: string
  readonly args?: ReadonlyArray<string>
  readonly env: Record<string, string>
  /** How long a graceful stop may take before SIGKILL. */
  readonly stopGraceMs: number
  /** Open fd 3 as a pipe from the child (the database child reports its URL there). */
  readonly reportChannel?: boolean
}

export interface Child {
  readonly name: string
  readonly pid: number
  /** Completes with the exit code (or the signal name) when the process exits. */
  readonly exited: Deferred.Deferred<string>
  /** The last `n` lines it printed, for error messages. */
  readonly tail: (n: number) => string
  readonly report: Readable | undefined
}

export interface Output {
  readonly write: (line: string) => void
  readonly color: boolean
  readonly width: number
  /** Show access logs of successful requests too. */
  readonly accessLog: boolean
}

const PARENT_WATCH = path.join(repoRoot, "scripts/up/parentWatch.mjs")

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0)
    return true
  } catch {
    return false
  }
}

const signalGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {
    // already gone
  }
}

let started = 0

export const startChild = (spec: ChildSpec, output: Output): Effect.Effect<Child, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const exited = yield* Deferred.make<string>()
      const loader = spec.script.endsWith(".ts") ? ["--import", "tsx"] : []
      const child = spawn(process.execPath, [...loader, "--import", PARENT_WATCH, spec.script, ...(spec.args ?? [])], {
        cwd: repoRoot,
        env: spec.env,
        detached: true,
        stdio: ["pipe", "pipe", "pipe", ...(spec.reportChannel === true ? ["pipe" as const] : [])]
      })
      if (child.pid === undefined) {
        return yield* Effect.fail(new Error(`could not start ${spec.name} (${spec.script})`))
      }
      const format = prefixer(spec.name, started++, output.width, output.color, output.accessLog)
      const tail: Array<string> = []
      const onLine = (line: string) => {
        const text = format.format(line)
        if (text === undefined) return
        tail.push(text)
        if (tail.length > 40) tail.shift()
        output.write(text)
      }
      for (const stream of [child.stdout, child.stderr]) {
        if (stream !== null) readline.createInterface({ input: stream }).on("line", onLine)
      }
      child.once("exit", (code, signal) => Deferred.unsafeDone(exited, Effect.succeed(code === null ? String(signal) : String(code))))
      const report = spec.reportChannel === true ? (child.stdio[3] as Readable) : undefined
      return { name: spec.name, pid: child.pid, exited, tail: (n) => tail.slice(-n).join("\n"), report }
    }),
    (child) =>
      Effect.suspend(() => {
        output.write(`… stopping ${child.name}`)
        return stopChild(child, spec.stopGraceMs)
      })
  )

/** SIGTERM to the program, then (after the grace) SIGKILL to its whole group; also sweeps the group afterwards. */
export const stopChild = (child: Child, graceMs: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const done = yield* Deferred.isDone(child.exited)
    if (!done) {
      try {
        process.kill(child.pid, "SIGTERM")
      } catch {
        // exited meanwhile
      }
      const finished = yield* Deferred.await(child.exited).pipe(Effect.timeout(graceMs), Effect.option)
      if (finished._tag === "None") {
        process.stderr.write(`${child.name} did not stop within ${Math.round(graceMs / 1000)} s; killing it\n`)
        signalGroup(child.pid, "SIGKILL")
        yield* Deferred.await(child.exited)
      }
    }
    // Anything it started in its group (none expected) goes too.
    if (groupAlive(child.pid)) signalGroup(child.pid, "SIGKILL")
  })

/** For a second Ctrl-C: kill every group now. */
export const killNow = (children: ReadonlyArray<Child>) => {
  for (const child of children) signalGroup(child.pid, "SIGKILL")
}
