import { Effect, Schema } from "effect"
import { Identifier } from "../../../schema/ids.ts"
import type { NodeView } from "../../../schema/node.ts"
import { api } from "../api.ts"
import { ErrorMessage, Notice, Page, Time } from "../components.tsx"
import { useAction, usePolled } from "../hooks.ts"

const decodeSlug = Schema.decodeUnknown(Identifier)

/** Admins: every node's liveness, the operator's state, load and capabilities; drain, disable, enable. */
export const NodesPage = () => {
  const nodes = usePolled(() => api.nodes.list(), "nodes", { everyMs: 3000 })
  const { busy, error, notice, act } = useAction(nodes.reload)

  const bySlug = <A, E>(node: NodeView, call: (request: { readonly path: { readonly node_slug: Identifier } }) => Effect.Effect<A, E>) =>
    Effect.flatMap(decodeSlug(node.node_slug), (slug) => call({ path: { node_slug: slug } }))

  const row = (node: NodeView) => (
    <tr key={node.node_slug}>
      <td data-label="Node" className="mono">{node.node_slug}</td>
      <td data-label="Status">
        <span className={`badge badge-node-${node.status}`}>{node.status}</span>{" "}
        {node.admin_state === "enabled" ? null : <span className={`badge badge-admin-${node.admin_state}`}>{node.admin_state}</span>}
      </td>
      <td data-label="Last seen"><Time at={node.last_seen_at ?? undefined} /></td>
      <td data-label="Running jobs">{node.running_jobs}</td>
      <td data-label="Free slots">{node.free_slots}</td>
      <td data-label="Capabilities">
        {[
          node.capabilities.cpu_cores === null ? undefined : `${node.capabilities.cpu_cores} CPU`,
          node.capabilities.ram_mb === null ? undefined : `${Math.round(node.capabilities.ram_mb / 1024)} GiB`,
          node.capabilities.inference ? "inference" : undefined,
          node.capabilities.gpu ? "GPU" : undefined,
          ...node.labels
        ].filter((s) => s !== undefined).join(" · ") || <span className="muted">—</span>}
      </td>
      <td data-label="Actions">
        <div className="actions">
        {node.admin_state === "enabled" ? (
          <>
            <button type="button" disabled={busy} aria-label={`Drain ${node.node_slug}`}
              onClick={() => void act(`Draining ${node.node_slug}: running jobs finish, no new ones start.`, bySlug(node, api.nodes.drain))}>
              Drain
            </button>
            <button type="button" disabled={busy} aria-label={`Disable ${node.node_slug}`}
              onClick={() => void act(`Disabled ${node.node_slug}.`, bySlug(node, api.nodes.disable))}>
              Disable
            </button>
          </>
        ) : (
          <button type="button" disabled={busy} aria-label={`Enable ${node.node_slug}`}
            onClick={() => void act(`Enabled ${node.node_slug}.`, bySlug(node, api.nodes.enable))}>
            Enable
          </button>
        )}
        </div>
      </td>
    </tr>
  )

  return (
    <Page title="Nodes">
      <ErrorMessage message={error ?? nodes.error} />
      <Notice message={notice} />
      {nodes.data === undefined ? (nodes.error === undefined ? <p className="muted">Loading…</p> : null) : nodes.data.nodes.length === 0 ? (
        <p className="empty">No node has registered yet.</p>
      ) : (
        <table className="table responsive">
          <caption className="visually-hidden">Worker nodes</caption>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Status</th>
              <th scope="col">Last seen</th>
              <th scope="col">Running jobs</th>
              <th scope="col">Free slots</th>
              <th scope="col">Capabilities</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody aria-live="polite">{nodes.data.nodes.map(row)}</tbody>
        </table>
      )}
    </Page>
  )
}
