import { Args, Command } from "@effect/cli"
import { Effect, type Redacted } from "effect"
import { type Identifier, isIdentifier } from "../../schema/ids.ts"
import type { NodeView } from "../../schema/node.ts"
import { UsageError } from "./CliError.ts"
import { gatewayCall } from "./Http.ts"
import { common, emit } from "./options.ts"
import { authenticated } from "./Session.ts"

/** `cynode node list|drain|disable|enable|remove` (admin): the gateway's node admin API. */

const slugArg = Args.text({ name: "node" }).pipe(Args.withDescription("node slug"))

const slugPath = (slug: string): Effect.Effect<{ readonly node_slug: Identifier }, UsageError> =>
  isIdentifier(slug)
    ? Effect.succeed({ node_slug: slug })
    : Effect.fail(new UsageError({ message: `${JSON.stringify(slug)} is not a node slug` }))

/** `active`/`lost` plus the operator's state when it is not `enabled`. */
const stateOf = (n: NodeView) => (n.admin_state === "enabled" ? n.status : `${n.status},${n.admin_state}`)

export const renderNodes = (nodes: ReadonlyArray<NodeView>): string => {
  if (nodes.length === 0) return "no nodes"
  const header = ["NODE", "STATE", "LAST SEEN", "RUNNING", "FREE", "LABELS", "CAPABILITIES"]
  const rows = nodes.map((n) => [
    n.node_slug,
    stateOf(n),
    n.last_seen_at ?? "never",
    String(n.running_jobs),
    String(n.free_slots),
    n.labels.join(",") || "-",
    [
      n.capabilities.inference ? "inference" : "sandbox-only",
      n.capabilities.max_concurrency === null ? undefined : `max ${n.capabilities.max_concurrency}`,
      n.capabilities.cpu_cores === null ? undefined : `${n.capabilities.cpu_cores} cpu`,
      n.capabilities.gpu ? "gpu" : undefined
    ].filter((x) => x !== undefined).join(", ")
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n")
}

const list = Command.make("list", common, ({ gateway, json }) =>
  authenticated(gateway, (url, token) => gatewayCall(url, { token }, (c) => c.nodes.list())).pipe(
    Effect.flatMap((page) => emit(json, page, () => renderNodes(page.nodes)))
  )).pipe(Command.withDescription("every node: liveness, operator state, last seen, running jobs, free slots, labels"))

const action = (name: "drain" | "disable" | "enable", description: string) =>
  Command.make(name, { ...common, node: slugArg }, ({ gateway, json, node }) =>
    Effect.gen(function*() {
      const path = yield* slugPath(node)
      const view = yield* authenticated(gateway, (url, token: Redacted.Redacted<string>) =>
        gatewayCall(url, { token }, (c) => c.nodes[name]({ path })))
      yield* emit(json, view, () => `${view.node_slug}: ${stateOf(view)} (${view.running_jobs} running)`)
    })).pipe(Command.withDescription(description))

const remove = Command.make("remove", { ...common, node: slugArg }, ({ gateway, json, node }) =>
  Effect.gen(function*() {
    const path = yield* slugPath(node)
    yield* authenticated(gateway, (url, token) => gatewayCall(url, { token }, (c) => c.nodes.remove({ path })))
    yield* emit(json, { node_slug: node, removed: true }, () => `${node}: removed`)
  })).pipe(Command.withDescription("forget a node with nothing running (it comes back if it registers again)"))

export const nodeCommand = Command.make("node").pipe(
  Command.withDescription("operate nodes (admin)"),
  Command.withSubcommands([
    list,
    action("drain", "no new jobs; running ones finish, then the node is drained"),
    action("disable", "no new jobs, at once"),
    action("enable", "take new jobs again"),
    remove
  ])
)
