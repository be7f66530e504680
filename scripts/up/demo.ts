import { FetchHttpClient } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { ConfigProvider, Console, Effect, Layer } from "effect"
import * as path from "node:path"
import { runCli } from "../../src/cli/Cli.ts"

/**
 * `just up --demo`: the user path through the real CLI code, in-process — log in as the bootstrap admin, run a
 * sandbox command and a prompt task, each waited for and printed. The CLI keeps its tokens in
 * `<state>/cli/credentials.json`, so the same session works afterwards with `CYNODE_CONFIG_DIR=<state>/cli`.
 */

export interface DemoOptions {
  readonly gatewayUrl: string
  readonly stateDir: string
  readonly adminPassword: string
  readonly showPassword: boolean
}

export interface DemoTiming {
  readonly label: string
  readonly seconds: number
}

export class DemoFailed extends Error {}

const quote = (arg: string) => (/^[A-Za-z0-9_./:=@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`)

export const runDemo = (options: DemoOptions): Effect.Effect<ReadonlyArray<DemoTiming>, DemoFailed> =>
  Effect.gen(function*() {
    const configDir = path.join(options.stateDir, "cli")
    const provider = ConfigProvider.fromMap(new Map([
      ["CYNODE_CONFIG_DIR", configDir],
      ["CYNODE_GATEWAY_URL", options.gatewayUrl],
      ["CYNODE_PASSWORD", options.adminPassword]
    ])).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))
    const timings: Array<DemoTiming> = []

    const step = (label: string, args: ReadonlyArray<string>, shown?: string) =>
      Effect.gen(function*() {
        yield* Console.log(`\n$ ${shown ?? `cynode ${args.map(quote).join(" ")}`}`)
        const started = Date.now()
        const code = yield* runCli(args).pipe(Effect.withConfigProvider(provider))
        const seconds = (Date.now() - started) / 1000
        timings.push({ label, seconds })
        if (code !== 0) return yield* Effect.fail(new DemoFailed(`demo step "${label}" failed (cynode exit code ${code})`))
      })

    yield* Console.log(`\n── demo: the CLI against ${options.gatewayUrl} (CYNODE_CONFIG_DIR=${configDir}) ──`)
    const password = options.showPassword ? options.adminPassword : "$BOOTSTRAP_ADMIN_PASSWORD"
    yield* step("login", ["login", "--user", "admin"], `CYNODE_PASSWORD=${password} cynode login --user admin`)
    yield* step("whoami", ["whoami"])
    yield* step("sandbox task", ["task", "create", "--name", "demo-hello", "--command", "echo hello from CyNode", "--wait"])
    yield* step("prompt task", ["task", "create", "--name", "demo-prompt", "--prompt", "Say hello to CyNode in one sentence.", "--wait"])
    yield* Console.log(
      `\n── demo done: ${timings.filter((t) => t.label.endsWith("task")).map((t) => `${t.label} ${t.seconds.toFixed(1)} s (submit → result)`).join(", ")} ──`
    )
    return timings
  }).pipe(Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer)))
