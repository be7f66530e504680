import { useState } from "react"
import type { TaskStatus } from "../../../schema/task.ts"
import { api } from "../api.ts"
import { ErrorMessage, Page, StatusBadge, Time } from "../components.tsx"
import { usePolled } from "../hooks.ts"
import { Link } from "../router.tsx"

const STATUSES: ReadonlyArray<TaskStatus> = ["queued", "running", "completed", "failed", "canceled", "superseded"]
const PAGE_SIZE = 20

const isStatus = (s: string): s is TaskStatus => (STATUSES as ReadonlyArray<string>).includes(s)

/** The caller's tasks, newest first, refreshed every few seconds so statuses change in place. */
export const TasksPage = () => {
  const [status, setStatus] = useState<TaskStatus | "">("")
  // Cursors of the pages before this one (for "Previous") and of this one.
  const [cursors, setCursors] = useState<ReadonlyArray<string>>([])
  const cursor = cursors[cursors.length - 1] ?? ""
  const list = usePolled(
    () =>
      api.tasks.list({
        urlParams: {
          limit: PAGE_SIZE,
          ...(cursor === "" ? {} : { cursor }),
          ...(status === "" ? {} : { status })
        }
      }),
    `${status}|${cursor}`,
    { everyMs: 2000 }
  )
  const tasks = list.data?.tasks ?? []
  const next = list.data?.next_cursor ?? ""

  return (
    <Page
      title="Tasks"
      actions={<Link className="button primary" to={{ page: "new-task" }}>New task</Link>}
    >
      <div className="toolbar">
        <label htmlFor="status-filter">Status</label>
        <select
          id="status-filter"
          value={status}
          onChange={(e) => {
            const value = e.target.value
            setStatus(isStatus(value) ? value : "")
            setCursors([])
          }}
        >
          <option value="">all</option>
          {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
      </div>
      <ErrorMessage message={list.error} />
      {list.loading ? <p className="muted">Loading…</p> : tasks.length === 0 ? (
        <p className="empty">No tasks{status === "" ? "" : ` with status ${status}`} yet.</p>
      ) : (
        <table className="table responsive">
          <caption className="visually-hidden">Your tasks, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Command or prompt</th>
            </tr>
          </thead>
          <tbody aria-live="polite">
            {tasks.map((task) => (
              <tr key={task.id}>
                <td data-label="Name">
                  <Link to={{ page: "task", id: task.id }}>{task.task_name}</Link>
                </td>
                <td data-label="Status"><StatusBadge status={task.status} /></td>
                <td data-label="Created"><Time at={task.created_at} /></td>
                <td data-label="Command or prompt" className="prompt-cell">{task.prompt}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav className="pager" aria-label="Pages of tasks">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous
        </button>
        <span className="muted">Page {cursors.length + 1}</span>
        <button type="button" disabled={next === ""} onClick={() => setCursors([...cursors, next])}>
          Next
        </button>
      </nav>
    </Page>
  )
}
