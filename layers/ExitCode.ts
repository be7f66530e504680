import { Cause, Exit, Option, Predicate } from "effect"

/**
 * How a failure chooses its program's exit code: the error carries it as `exitCode` (a field or a getter), so every
 * program and the CLI read it the same way instead of mapping error tags to numbers.
 */

/** A failure that decides the exit code of the program it ends. */
export interface ExitCoded {
  readonly exitCode: number
}

export const isExitCoded = (error: unknown): error is ExitCoded =>
  Predicate.hasProperty(error, "exitCode") && typeof error.exitCode === "number"

/** The exit code when the program ran without a failure of its own. */
export const CLEAN = 0
/** The exit code of a failure that names none, or of a defect. */
export const FAILED = 1

/**
 * The exit code of a finished program: `clean` after a success or an interrupt (Ctrl-C, SIGTERM), the first
 * failure's own code, else 1.
 */
export const exitCodeOfExit = (exit: Exit.Exit<unknown, unknown>, clean: number = CLEAN): number => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return clean
  return Option.match(Cause.failureOption(exit.cause), {
    onNone: () => FAILED,
    onSome: (error) => (isExitCoded(error) ? error.exitCode : FAILED)
  })
}
