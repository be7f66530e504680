import { Options } from "@effect/cli"
import { Console, Effect } from "effect"

/** Options every command takes, and the one way commands print (human text, or JSON with `--json`). */

export const gateway = Options.text("gateway").pipe(
  Options.withDescription("user gateway URL (default: CYNODE_GATEWAY_URL, the gateway you logged in to, or http://localhost:12080)"),
  Options.optional
)

export const json = Options.boolean("json").pipe(Options.withDescription("print machine-readable JSON on stdout"))

export const common = { gateway, json }

/** Prints `data` as JSON with `--json`, else the human text. */
export const emit = (asJson: boolean, data: unknown, human: () => string): Effect.Effect<void> =>
  asJson ? Console.log(JSON.stringify(data, null, 2)) : Console.log(human())
