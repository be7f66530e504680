import { Clock, Effect, Fiber, Ref } from "effect"
import type { TaskResult } from "../../schema/task.ts"
import { WaitTimedOut } from "./CliError.ts"
import { isTerminal } from "./TaskOutcome.ts"

/**
 * `--wait`: long-polls the task's result until it ends, showing progress on stderr (stdout stays clean for
 * `--json`). On a terminal it is one line that updates in place; otherwise a line per status change and every 15 s.
 */

/** How long one long poll asks the gateway to hold the answer (the gateway allows up to 60 s). */
const POLL_SECONDS = 20
const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

export interface WaitOptions {
  readonly label: string
  readonly timeoutSeconds: number
  /** Where progress goes (stderr by default). */
  readonly write?: (text: string) => void
  readonly interactive?: boolean
}

const progressReporter = (options: WaitOptions, status: Ref.Ref<string>, startedAt: number) => {
  const write = options.write ?? ((text: string) => void process.stderr.write(text))
  const interactive = options.interactive ?? process.stderr.isTTY === true
  return Effect.gen(function*() {
    let lastStatus = ""
    let lastLineAt = 0
    let tick = 0
    for (;;) {
      const now = yield* Clock.currentTimeMillis
      const elapsed = Math.round((now - startedAt) / 1000)
      const current = yield* Ref.get(status)
      if (interactive) {
        write(`\r\x1b[2K${SPINNER[tick++ % SPINNER.length]} ${options.label}: ${current} · ${elapsed} s`)
      } else if (current !== lastStatus || now - lastLineAt >= 15_000) {
        write(`… ${options.label}: ${current} (${elapsed} s)\n`)
        lastStatus = current
        lastLineAt = now
      }
      yield* Effect.sleep(interactive ? "100 millis" : "1 second")
    }
  }).pipe(Effect.ensuring(Effect.sync(() => interactive && write("\r\x1b[2K"))))
}

export const waitForResult = <E, R>(
  poll: (waitSeconds: number) => Effect.Effect<TaskResult, E, R>,
  options: WaitOptions
): Effect.Effect<TaskResult, E | WaitTimedOut, R> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    const deadline = startedAt + options.timeoutSeconds * 1000
    const status = yield* Ref.make("queued")
    const reporter = yield* Effect.fork(progressReporter(options, status, startedAt))
    const loop: Effect.Effect<TaskResult, E | WaitTimedOut, R> = Effect.gen(function*() {
      for (;;) {
        const remaining = Math.ceil((deadline - (yield* Clock.currentTimeMillis)) / 1000)
        const result = yield* poll(Math.max(0, Math.min(POLL_SECONDS, remaining)))
        yield* Ref.set(status, result.status)
        if (isTerminal(result.status)) return result
        if (remaining <= 0) {
          return yield* new WaitTimedOut({ task: options.label, status: result.status, seconds: options.timeoutSeconds })
        }
      }
    })
    return yield* loop.pipe(Effect.ensuring(Fiber.interrupt(reporter)))
  })
