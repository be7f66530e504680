import { Command, ValidationError } from "@effect/cli"
import { Console, Effect } from "effect"
import { login, logout, whoami } from "./auth.ts"
import { describe, ExitCode, isCliError } from "./CliError.ts"
import { nodeCommand } from "./node.ts"
import { status } from "./status.ts"
import { taskCommand } from "./task.ts"

/** The `cynode` command tree, runnable in-process (main.ts, the `just up --demo`, tests) and returning an exit code. */

export const VERSION = "0.1.0"

const root = Command.make("cynode").pipe(
  Command.withDescription("CyNode command-line client: log in, run tasks, read results"),
  Command.withSubcommands([login, logout, whoami, taskCommand, nodeCommand, status])
)

const run = Command.run(root, { name: "cynode", version: VERSION })

/**
 * Runs `cynode <args>`: output on stdout, errors as `error: …` on stderr, and the exit code (docs/cli.md).
 * Usage errors were already printed with the help text by @effect/cli.
 */
export const runCli = (args: ReadonlyArray<string>) =>
  run(["node", "cynode", ...args]).pipe(
    Effect.as<number>(ExitCode.ok),
    Effect.catchAll((error) => {
      if (ValidationError.isValidationError(error)) return Effect.succeed<number>(ExitCode.usage)
      if (isCliError(error)) return Console.error(describe(error)).pipe(Effect.as(error.exitCode))
      // A prompt left with Ctrl-C.
      return Console.error("error: canceled").pipe(Effect.as<number>(130))
    })
  )
