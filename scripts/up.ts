import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Deferred, Effect, Exit, Redacted, Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as readline from "node:readline"
import { bundleFile, bundlePrograms, type BundledProgram } from "./bundle.ts"
import { type Child, killNow, type Output, startChild } from "./up/children.ts"
import { runDemo } from "./up/demo.ts"
import { removeLeftoverContainers } from "./up/leftovers.ts"
import { loadOrCreateSecrets, secretsFile } from "./up/secrets.ts"
import { localUrl, readSettings, repoRoot, runFile, SettingsError, type UpSettings } from "./up/settings.ts"

/**
 * `just up`: the whole single-node system on this machine, for people and for the e2e suite.
 *
 *   tsx scripts/up.ts [--demo] [--exit] [--exit-on-failure] [--nodes N]
 *
 * One PostgreSQL (embedded in <state>/pgdata, or DATABASE_URL) migrated once, its URL handed to every program;
 * secrets generated once into <state>/secrets.env (0600); then the control plane, the user gateway and one node
 * (node manager + worker API + the inference container) as child processes with prefixed output. Waits for
 * /readyz, prints where everything listens and how to log in. `--demo` then runs a sandbox task and a prompt task
 * through the CLI; `--exit` stops after that. Ctrl-C / SIGTERM stop the node first (it removes its inference
 * container), then the control plane and gateway, then PostgreSQL; a second Ctrl-C kills everything at once.
 * The three programs run from their bundles (scripts/bundle.ts, rebuilt first when a source changed) with plain node,
 * which halves their memory; CYNODE_UP_FROM_SOURCE=1 runs src/<program>/main.ts through tsx instead.
 * A node that fails (its node manager exits) is reported and the rest stays up, `/readyz` saying why the system is
 * not ready; `--exit-on-failure` (and `--demo`, `--exit`) stop everything instead, as any other program's exit does.
 * Environment: see docs/cli.md ("just up").
 */

const USAGE = "usage: tsx scripts/up.ts [--demo] [--exit] [--exit-on-failure] [--nodes N]"
const FLAGS = ["--demo", "--exit", "--exit-on-failure"]

/**
 * `--nodes N` (default 1): node i (1-based) is slug `<slug>` for the first, `<slug>-<i>` after, worker port
 * `CYNODE_WORKER_PORT + i - 1` and state `<state>/node/<its slug>`. Only the first node runs the inference container
 * (the control plane gives every node the same inference port); the others are sandbox-only.
 */
interface NodePlan {
  readonly slug: string
  readonly workerPort: number
  readonly inference: boolean
}

const nodePlans = (settings: UpSettings, count: number): ReadonlyArray<NodePlan> =>
  Array.from({ length: count }, (_, i) => ({
    slug: i === 0 ? settings.nodeSlug : `${settings.nodeSlug}-${i + 1}`,
    workerPort: settings.workerPort + i,
    inference: i === 0
  }))

/** `--nodes N` / `--nodes=N` out of the arguments: the count, the rest, or an error message. */
const parseNodes = (args: ReadonlyArray<string>): { readonly count: number; readonly rest: ReadonlyArray<string> } | string => {
  const rest: Array<string> = []
  let count = 1
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const value = arg === "--nodes" ? args[++i] : arg.startsWith("--nodes=") ? arg.slice("--nodes=".length) : undefined
    if (value === undefined && arg !== "--nodes") {
      rest.push(arg)
      continue
    }
    if (value === undefined || !/^[1-9][0-9]?$/.test(value)) return "--nodes takes a number of nodes from 1 to 99"
    count = Number(value)
  }
  return { count, rest }
}

class UpFailed extends Error {}

const say = (text: string) => Effect.sync(() => void process.stdout.write(text + "\n"))
const elapsed = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`

/** A path as the user would type it from here: relative inside the current directory, else absolute. */
const shown = (p: string) => {
  const relative = path.relative(process.cwd(), p)
  return relative === "" ? "." : relative.startsWith("..") ? p : relative
}

/** Fails fast with a clear message when a port is taken (another `just up`?), before starting anything. */
const checkPortFree = (host: string, port: number, variable: string) =>
  Effect.async<void, UpFailed>((resume) => {
    const server = net.createServer()
    server.once("error", (error: NodeJS.ErrnoException) =>
      resume(Effect.fail(new UpFailed(`port ${port} on ${host} is not available (${error.code ?? error.message}); is another \`just up\` running? Set ${variable} to use another port`))))
    server.listen(port, host, () => server.close(() => resume(Effect.void)))
  })

/** Builds the bundles when a source changed (a second or two), unless running from source. */
const prepareBundles = (settings: UpSettings) =>
  Effect.gen(function*() {
    if (settings.fromSource) return yield* say("Running the programs from source (CYNODE_UP_FROM_SOURCE=1, node --import tsx)")
    yield* say("Bundling the programs (scripts/bundle.ts) …")
    const outcome = yield* Effect.tryPromise({
      try: () => bundlePrograms(),
      catch: (error) => new UpFailed(`bundling failed (esbuild's messages are above): ${error instanceof Error ? error.message : String(error)}`)
    })
    yield* say(outcome.built ? `✓ bundles built in ${(outcome.ms / 1000).toFixed(1)} s (${outcome.reason})` : "✓ bundles up to date")
  })

/** What runs a program: its bundle, or its TypeScript entry through tsx. */
const entry = (settings: UpSettings, program: BundledProgram) =>
  settings.fromSource ? `src/${program}/main.ts` : path.relative(repoRoot, bundleFile(program))

/** Fails when any child exits: the system is incomplete. (raceAll ends at the first success, so exits succeed.) */
const anyExit = (children: ReadonlyArray<Child>): Effect.Effect<never, UpFailed> =>
  Effect.raceAll(children.map((child) => Deferred.await(child.exited).pipe(Effect.map((code) => ({ child, code }))))).pipe(
    Effect.flatMap(({ child, code }) =>
      Effect.fail(new UpFailed(`${child.name} exited (${code}) unexpectedly (its output is above); last lines:\n${child.tail(3)}`))
    )
  )

/** Runs `effect` while watching the children. */
const supervised = <A, E>(children: ReadonlyArray<Child>, effect: Effect.Effect<A, E>) =>
  Effect.raceFirst(effect, anyExit(children))

const probe = (url: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) })
    return { status: response.status, body: (await response.text()).trim() }
  }).pipe(Effect.orElseSucceed(() => ({ status: 0, body: "not answering yet" })))

/** Polls the `/readyz` endpoints until all answer 200, printing each change of the reason. */
const waitReady = (endpoints: ReadonlyArray<{ readonly name: string; readonly url: string }>, timeoutMs: number) =>
  Effect.gen(function*() {
    const started = Date.now()
    let last = ""
    for (;;) {
      const answers = yield* Effect.all(endpoints.map((e) => probe(`${e.url}/readyz`)), { concurrency: "unbounded" })
      const waiting = endpoints.flatMap((e, i) => (answers[i]!.status === 200 ? [] : [`${e.name}: ${answers[i]!.body || answers[i]!.status}`]))
      if (waiting.length === 0) return
      const line = waiting.join("; ")
      if (line !== last) {
        yield* say(`… waiting for readiness (${elapsed(started)}): ${line}`)
        last = line
      }
      if (Date.now() - started > timeoutMs) {
        return yield* Effect.fail(new UpFailed(`not ready after ${timeoutMs / 1000} s: ${line}`))
      }
      yield* Effect.sleep("500 millis")
    }
  })

/** Polls `/healthz` until every URL answers 200 (the process serves, ready or not). */
const waitAnswering = (urls: ReadonlyArray<string>, timeoutMs: number) =>
  Effect.gen(function*() {
    const started = Date.now()
    for (;;) {
      const answers = yield* Effect.all(urls.map((url) => probe(`${url}/healthz`)), { concurrency: "unbounded" })
      if (answers.every((a) => a.status === 200)) return
      if (Date.now() - started > timeoutMs) return yield* Effect.fail(new UpFailed(`${urls.join(" and ")} did not answer in ${timeoutMs / 1000} s`))
      yield* Effect.sleep("300 millis")
    }
  })

/**
 * Reports a node manager's exit once, with what `/readyz` now says, and completes `failed`: the control plane and the
 * gateway stay up.
 */
const reportNodeFailure = (node: Child, controlPlaneUrl: string, failed: Deferred.Deferred<string>) =>
  Deferred.await(node.exited).pipe(
    Effect.flatMap((code) =>
      Effect.gen(function*() {
        yield* Effect.sleep("1 second") // the control plane notices the node's absence in its own time
        const readiness = yield* probe(`${controlPlaneUrl}/readyz`)
        yield* say(`✗ the node failed: ${node.name} exited (${code}); the control plane and the user gateway stay up ` +
          `(/readyz: ${readiness.body || readiness.status}). Last lines:\n${node.tail(3)}`)
        yield* Deferred.succeed(failed, code)
      })
    )
  )

const readReport = (child: Child) =>
  Effect.async<{ readonly url: string; readonly source: string }, UpFailed>((resume) => {
    if (child.report === undefined) return resume(Effect.fail(new UpFailed("the database program has no report channel")))
    const lines = readline.createInterface({ input: child.report })
    lines.once("line", (line) => {
      lines.close()
      try {
        resume(Effect.succeed(JSON.parse(line) as { url: string; source: string }))
      } catch {
        resume(Effect.fail(new UpFailed("the database program reported something unreadable")))
      }
    })
  })

const summary = (settings: UpSettings, readyIn: string, databaseSource: string, nodes: ReadonlyArray<NodePlan>) => {
  const gateway = localUrl(settings, settings.gatewayPort)
  const lines = [
    "",
    `CyNode is up (ready in ${readyIn}).`,
    `  user gateway   ${gateway}   (API docs: ${gateway}/docs)`,
    `  control plane  ${localUrl(settings, settings.controlPlanePort)}`,
    ...nodes.map((n) => `  worker API     ${localUrl(settings, n.workerPort)}   node "${n.slug}"${n.inference ? "" : " (sandbox only)"}`),
    settings.standIn
      ? `  inference      STAND-IN ${settings.inferenceImage}, model ${settings.inferenceModel} on 127.0.0.1:${settings.inferencePort} — deterministic canned answers for tests and the demo, not a real model (set INFERENCE_IMAGE_CPU and INFERENCE_MODEL for Ollama)`
      : `  inference      ${settings.inferenceImage}, model ${settings.inferenceModel} on 127.0.0.1:${settings.inferencePort}`,
    databaseSource === "embedded"
      ? `  database       embedded PostgreSQL on 127.0.0.1:${settings.postgresPort}, data in ${shown(path.join(settings.stateDir, "pgdata"))}`
      : "  database       DATABASE_URL",
    `  secrets        ${shown(secretsFile(settings.stateDir))} (0600)`,
    "",
    "Log in and run a task:",
    `  npx cynode login --gateway ${gateway} --user admin${settings.customAdminPassword ? "        (password: your BOOTSTRAP_ADMIN_PASSWORD)" : "        (password: admin123)"}`,
    `  npx cynode task create --command 'echo hello' --wait`,
    ...(settings.customAdminPassword
      ? []
      : ["  warning: the admin password is the default admin123; set BOOTSTRAP_ADMIN_PASSWORD before the first start to choose another"]),
    "",
    "Stop with Ctrl-C.",
    ""
  ]
  return lines.join("\n")
}

/**
 * The first SIGINT/SIGTERM starts the ordered stop (NodeRuntime interrupts the main fiber). Another one, a second or
 * more later (a terminal's Ctrl-C can arrive twice at once through `just` and tsx), kills everything immediately.
 */
const forceOnSecondSignal = (children: ReadonlyArray<Child>) => {
  let first: number | undefined
  const onSignal = () => {
    if (first === undefined) {
      first = Date.now()
      return
    }
    if (Date.now() - first < 1000) return
    process.stderr.write("second interrupt: killing everything now\n")
    killNow(children)
    process.exit(130)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
}

const program = (
  settings: UpSettings,
  flags: { readonly demo: boolean; readonly exit: boolean; readonly exitOnFailure: boolean; readonly nodes: number },
  scope: Scope.Scope
) =>
  Effect.gen(function*() {
    const started = Date.now()
    const nodes = nodePlans(settings, flags.nodes)
    const secrets = yield* Effect.try({
      try: () => loadOrCreateSecrets(settings.stateDir),
      catch: (error) => new UpFailed(`cannot prepare ${secretsFile(settings.stateDir)}: ${error instanceof Error ? error.message : String(error)}`)
    })
    const checks = [
      [settings.gatewayPort, "CYNODE_GATEWAY_PORT"],
      [settings.controlPlanePort, "CYNODE_CONTROL_PLANE_PORT"],
      ...nodes.map((n) => [n.workerPort, "CYNODE_WORKER_PORT"] as const),
      ...(settings.externalDatabase ? [] : [[settings.postgresPort, "CYNODE_PG_PORT"] as const])
    ] as const
    for (const [port, variable] of checks) yield* checkPortFree(settings.bindHost, port, variable)
    yield* prepareBundles(settings)

    const output: Output = {
      write: (line) => void process.stdout.write(line + "\n"),
      color: process.stdout.isTTY === true,
      width: 13,
      accessLog: process.env.CYNODE_UP_ACCESS_LOG === "1"
    }
    const baseEnv: Record<string, string> = {
      ...Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined)),
      CYNODE_LOG_LEVEL: settings.logLevel
    }
    const children: Array<Child> = []
    const start = (name: string, script: string, env: Record<string, string>, stopGraceMs: number, reportChannel = false) =>
      startChild({ name, script, env: { ...baseEnv, ...env }, stopGraceMs, reportChannel }, output).pipe(
        Scope.extend(scope),
        Effect.tap((child) => Effect.sync(() => children.push(child)))
      )
    yield* Effect.sync(() => forceOnSecondSignal(children))

    yield* say(`Starting CyNode (state in ${shown(settings.stateDir)}) …`)
    const database = yield* start("database", "scripts/up/database.ts", {
      CYNODE_DATA_DIR: path.join(settings.stateDir, "pgdata"),
      CYNODE_PG_PORT: String(settings.postgresPort)
    }, 30_000, true)
    const db = yield* supervised([database], readReport(database))
    yield* say(`✓ database ready (${db.source === "embedded" ? "embedded PostgreSQL" : "DATABASE_URL"}, migrations applied) after ${elapsed(started)}`)

    const shared = { DATABASE_URL: db.url, JWT_SECRET: Redacted.value(secrets.JWT_SECRET), BOOTSTRAP_ADMIN_PASSWORD: settings.adminPassword }
    const controlPlaneUrl = localUrl(settings, settings.controlPlanePort)
    const gatewayUrl = localUrl(settings, settings.gatewayPort)
    yield* start("control-plane", entry(settings, "control-plane"), {
      ...shared,
      CONTROL_PLANE_LISTEN_ADDR: `${settings.bindHost}:${settings.controlPlanePort}`,
      ORCHESTRATOR_PUBLIC_URL: controlPlaneUrl,
      NODE_REGISTRATION_PSK: Redacted.value(secrets.NODE_REGISTRATION_PSK),
      INFERENCE_IMAGE_CPU: settings.inferenceImage,
      INFERENCE_MODEL: settings.inferenceModel,
      INFERENCE_PORT: String(settings.inferencePort)
    }, 20_000)
    yield* start("user-gateway", entry(settings, "user-gateway"), {
      ...shared,
      USER_GATEWAY_LISTEN_ADDR: `${settings.bindHost}:${settings.gatewayPort}`
    }, 20_000)
    const nodeChildren: Array<Child> = []
    for (const node of nodes) {
      const nodeChild = yield* start(nodes.length === 1 ? "node-manager" : `node ${node.slug}`, entry(settings, "node-manager"), {
        CYNODE_ORCHESTRATOR_URL: controlPlaneUrl,
        CYNODE_NODE_REGISTRATION_PSK: Redacted.value(secrets.NODE_REGISTRATION_PSK),
        CYNODE_NODE_SLUG: node.slug,
        CYNODE_WORKER_LISTEN_ADDR: `${settings.bindHost}:${node.workerPort}`,
        CYNODE_WORKER_PUBLIC_URL: localUrl(settings, node.workerPort),
        CYNODE_STATE_DIR: path.join(settings.stateDir, "node", node.slug),
        CYNODE_OLLAMA_CONTAINER_NAME: `cynode-ollama-${node.slug}`,
        ...(node.inference ? {} : { CYNODE_INFERENCE_MODE: "disabled" })
      }, 45_000)
      nodeChildren.push(nodeChild)
    }
    // Who is running, for tools and the e2e suite (which checks afterwards that every one of them is gone).
    yield* Effect.sync(() =>
      fs.writeFileSync(runFile(settings), JSON.stringify({ pid: process.pid, children: children.map(({ name, pid }) => ({ name, pid })) }) + "\n")
    )

    // Left running, the system outlives a failed node: its exit is reported, not fatal. A demo or a one-shot start
    // needs its nodes, so there (and with --exit-on-failure) a node's exit ends everything, as any program's does.
    const nodeFatal = flags.exitOnFailure || flags.demo || flags.exit
    const watched = nodeFatal ? children : children.filter((c) => !nodeChildren.includes(c))
    const nodeFailed = yield* Deferred.make<string>()
    if (!nodeFatal) {
      for (const nodeChild of nodeChildren) yield* Effect.forkIn(reportNodeFailure(nodeChild, controlPlaneUrl, nodeFailed), scope)
    }

    const ready = yield* supervised(watched, Effect.raceFirst(
      waitReady([
        { name: "control plane", url: controlPlaneUrl },
        { name: "user gateway", url: gatewayUrl },
        ...nodes.map((n) => ({ name: `worker API ${n.slug}`, url: localUrl(settings, n.workerPort) }))
      ], settings.readyTimeoutMs).pipe(Effect.as(true)),
      Deferred.await(nodeFailed).pipe(Effect.as(false))
    ))
    if (!ready) {
      yield* supervised(watched, waitAnswering([controlPlaneUrl, gatewayUrl], settings.readyTimeoutMs))
      yield* say(`\nCyNode is up without a failed node (${elapsed(started)}): not ready until it runs again; the control ` +
        `plane and the user gateway answer at ${controlPlaneUrl} and ${gatewayUrl}. Stop with Ctrl-C.`)
      return yield* supervised(watched, Effect.never)
    }
    yield* say(summary(settings, elapsed(started), db.source, nodes))

    if (flags.demo) {
      yield* supervised(children, runDemo({
        gatewayUrl,
        stateDir: settings.stateDir,
        adminPassword: settings.adminPassword,
        showPassword: !settings.customAdminPassword
      }))
    }
    if (flags.exit) return
    yield* supervised(watched, Effect.never)
  })

const stopAll = (settings: UpSettings, nodes: number, scope: Scope.CloseableScope) =>
  Effect.gen(function*() {
    const started = Date.now()
    yield* say("Stopping CyNode (node first, then control plane and gateway, then the database) …")
    yield* Scope.close(scope, Exit.void)
    const leftovers = (yield* Effect.forEach(nodePlans(settings, nodes), (n) => removeLeftoverContainers(n.slug))).flat()
    if (leftovers.length > 0) yield* say(`removed the node's stopped containers: ${leftovers.join(", ")}`)
    yield* Effect.sync(() => fs.rmSync(runFile(settings), { force: true }))
    yield* say(`Stopped in ${elapsed(started)}; no CyNode process or container of this run is left.`)
  })

const main = Effect.gen(function*() {
  // A closed terminal must not crash the stop sequence: output errors (EIO, EPIPE) are ignored, and a hang-up
  // stops everything like Ctrl-C does.
  yield* Effect.sync(() => {
    process.stdout.on("error", () => undefined)
    process.stderr.on("error", () => undefined)
    process.once("SIGHUP", () => process.kill(process.pid, "SIGTERM"))
  })
  const parsed = parseNodes(process.argv.slice(2))
  if (typeof parsed === "string") {
    yield* Effect.sync(() => process.stderr.write(`error: ${parsed}\n${USAGE}\n`))
    return 2
  }
  const args = parsed.rest
  const unknown = args.filter((arg) => !FLAGS.includes(arg))
  if (unknown.length > 0) {
    yield* Effect.sync(() => process.stderr.write(`error: unknown argument ${unknown.join(" ")}\n${USAGE}\n`))
    return 2
  }
  const settings = yield* Effect.try({
    try: () => readSettings(),
    catch: (error) => (error instanceof SettingsError ? error : new SettingsError(String(error)))
  }).pipe(Effect.either)
  if (settings._tag === "Left") {
    yield* Effect.sync(() => process.stderr.write(`error: ${settings.left.message}\n`))
    return 2
  }
  const flags = {
    demo: args.includes("--demo"),
    exit: args.includes("--exit"),
    exitOnFailure: args.includes("--exit-on-failure"),
    nodes: parsed.count
  }
  const outcome = yield* Effect.acquireUseRelease(
    Scope.make(),
    (scope) => program(settings.right, flags, scope),
    (scope) => stopAll(settings.right, flags.nodes, scope)
  ).pipe(Effect.exit)
  if (Exit.isSuccess(outcome)) return 0
  if (Cause.isInterruptedOnly(outcome.cause)) return 0
  const failure = Cause.failureOption(outcome.cause)
  const message = failure._tag === "Some" && failure.value instanceof Error ? failure.value.message : Cause.pretty(outcome.cause)
  yield* Effect.sync(() => process.stderr.write(`error: ${message}\n`))
  return 1
})

NodeRuntime.runMain(
  main.pipe(Effect.flatMap((code) => Effect.sync(() => process.exit(code)))),
  { disablePrettyLogger: true, disableErrorReporting: true }
)


