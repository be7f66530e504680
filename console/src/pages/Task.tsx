import { Effect, Either, Fiber, Schema } from "effect"
import { Identifier } from "../../../schema/ids.ts"
import { useEffect, useRef, useState } from "react"
import { fetchArtifact, formatBytes, saveBlob } from "../artifacts.ts"
import { followOutput, type OutputStream } from "../follow.ts"
import { isTerminal, outcomeOf } from "../../../src/cli/TaskOutcome.ts"
import { api, describeError, run } from "../api.ts"
import { duration, ErrorMessage, Notice, Page, StatusBadge, Time } from "../components.tsx"
import { usePolled } from "../hooks.ts"

/**
 * One task: status, output, exit code, timings, the worker's result, and cancel. Polled until the task ends; the
 * output pane follows what the gateway has so far.
 */
export const TaskPage = ({ id: ref }: { readonly id: string }) => {
  const parsed = decodeRef(ref)
  if (Either.isLeft(parsed)) {
    return (
      <Page title="Task not found">
        <p>{JSON.stringify(ref)} is not a task id or name.</p>
      </Page>
    )
  }
  return <TaskView id={parsed.right} />
}

const decodeRef = Schema.decodeUnknownEither(Identifier)

interface Segment {
  readonly stream: OutputStream
  readonly text: string
}

/** `live` while the output streams in (or once it all arrived), `polled` where the gateway cannot stream. */
type Live = { readonly mode: "connecting" | "live" | "polled"; readonly segments: ReadonlyArray<Segment> }

const useLiveOutput = (id: Identifier, onEnd: () => void): Live => {
  const [live, setLive] = useState<Live>({ mode: "connecting", segments: [] })
  useEffect(() => {
    setLive({ mode: "connecting", segments: [] })
    const fiber = Effect.runFork(
      followOutput(id, {
        onChunk: (stream, text) =>
          setLive((prev) => {
            const last = prev.segments[prev.segments.length - 1]
            const segments = last !== undefined && last.stream === stream
              ? [...prev.segments.slice(0, -1), { stream, text: last.text + text }]
              : [...prev.segments, { stream, text }]
            return { mode: "live", segments }
          }),
        onEnd: () => {
          setLive((prev) => ({ ...prev, mode: "live" }))
          onEnd()
        },
        onUnsupported: () => setLive({ mode: "polled", segments: [] })
      }).pipe(Effect.catchAll(() => Effect.sync(() => setLive((prev) => (prev.mode === "live" ? prev : { mode: "polled", segments: [] })))))
    )
    return () => {
      Effect.runFork(Fiber.interrupt(fiber))
    }
  }, [id])
  return live
}

const TaskView = ({ id }: { readonly id: Identifier }) => {
  // While the output streams, polling needs only status and result, not the whole output again every second.
  const streaming = useRef(false)
  const view = usePolled(
    () =>
      Effect.all(
        {
          task: api.tasks.get({ path: { id } }),
          result: api.tasks.result({ path: { id }, urlParams: {} }),
          logs: streaming.current
            ? Effect.succeed({ task_id: "", stdout: "", stderr: "" })
            : api.tasks.logs({ path: { id }, urlParams: {} })
        },
        { concurrency: "unbounded" }
      ),
    id,
    { everyMs: 1000, stop: (d) => isTerminal(d.task.status) }
  )
  const [cancelError, setCancelError] = useState<string | undefined>(undefined)
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const [canceling, setCanceling] = useState(false)
  const live = useLiveOutput(id, view.reload)
  streaming.current = live.mode === "live"

  const cancel = async () => {
    setCanceling(true)
    setCancelError(undefined)
    const outcome = await run(api.tasks.cancel({ path: { id } }))
    setCanceling(false)
    if (Either.isRight(outcome)) {
      setNotice("Cancel requested.")
      view.reload()
    } else setCancelError(describeError(outcome.left))
  }

  if (view.data === undefined) {
    return (
      <Page title="Task">
        <ErrorMessage message={view.error} />
        {view.error === undefined ? <p className="muted">Loading…</p> : null}
      </Page>
    )
  }
  const { task, result, logs } = view.data
  const outcome = outcomeOf(result)
  const job = result.jobs[result.jobs.length - 1]
  const finished = isTerminal(task.status)
  const polled = logs.stdout === "" && logs.stderr === "" ? outcome.stdout + outcome.stderr : logs.stdout + logs.stderr
  const streamed = live.mode === "live" && live.segments.length > 0

  return (
    <Page
      title={task.task_name}
      actions={finished ? null : (
        <button type="button" className="danger" disabled={canceling} onClick={() => void cancel()}>
          {canceling ? "Canceling…" : "Cancel task"}
        </button>
      )}
    >
      <ErrorMessage message={view.error ?? cancelError} />
      <Notice message={notice} />
      <dl className="facts card">
        <div>
          <dt>Status</dt>
          <dd aria-live="polite" data-testid="task-status"><StatusBadge status={task.status} /></dd>
        </div>
        <div>
          <dt>Exit code</dt>
          <dd data-testid="exit-code">{outcome.exit_code === undefined ? <span className="muted">—</span> : outcome.exit_code}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd><Time at={task.created_at} /></dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd><Time at={job?.started_at} /></dd>
        </div>
        <div>
          <dt>Ended</dt>
          <dd><Time at={job?.ended_at} /></dd>
        </div>
        <div>
          <dt>Run time</dt>
          <dd>{duration(job?.started_at, job?.ended_at) ?? <span className="muted">—</span>}</dd>
        </div>
        <div className="wide">
          <dt>Task id</dt>
          <dd className="mono">{task.id}</dd>
        </div>
        <div className="wide">
          <dt>Command or prompt</dt>
          <dd className="mono pre">{task.prompt}</dd>
        </div>
      </dl>
      {outcome.error === undefined ? null : <p className="alert alert-error" role="status">{outcome.error}</p>}
      <section aria-labelledby="output-title">
        <h2 id="output-title">
          Output{" "}
          {live.mode === "live" && !finished ? <span className="badge badge-running">live</span> : null}
        </h2>
        <pre className="output" tabIndex={0} aria-label="Task output" data-testid="task-output">
          {streamed
            ? live.segments.map((segment, i) => (
              <span key={i} className={segment.stream === "stderr" ? "stderr" : undefined}>{segment.text}</span>
            ))
            : polled !== ""
            ? polled
            : finished
            ? "(no output)"
            : "Waiting for output…"}
        </pre>
      </section>
      {finished ? <Artifacts id={id} /> : null}
      <details className="card">
        <summary>Result from the worker</summary>
        <pre className="output small">{JSON.stringify(outcome.jobs, null, 2)}</pre>
      </details>
    </Page>
  )
}

/** The files the task left under /workspace/out, once it has ended; each downloads with the session's token. */
const Artifacts = ({ id }: { readonly id: Identifier }) => {
  const list = usePolled(() => api.tasks.artifacts({ path: { id } }), id)
  const [error, setError] = useState<string | undefined>(undefined)
  const download = async (path: string) => {
    setError(undefined)
    const outcome = await run(fetchArtifact(id, path))
    if (Either.isRight(outcome)) saveBlob(outcome.right, path.split("/").pop() ?? path)
    else setError(describeError(outcome.left))
  }
  return (
    <section aria-labelledby="artifacts-title">
      <h2 id="artifacts-title">Files from the task</h2>
      <ErrorMessage message={error ?? list.error} />
      {list.data === undefined ? (list.error === undefined ? <p className="muted">Loading…</p> : null) : (
        <>
          {list.data.artifacts.length === 0 ? (
            <p className="muted">The task left no files in /workspace/out.</p>
          ) : (
            <table className="table responsive">
              <caption className="visually-hidden">Files the task left in /workspace/out</caption>
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col">Size</th>
                  <th scope="col">Type</th>
                  <th scope="col">Download</th>
                </tr>
              </thead>
              <tbody>
                {list.data.artifacts.map((artifact) => (
                  <tr key={artifact.path}>
                    <td data-label="File" className="mono">{artifact.path}</td>
                    <td data-label="Size">{formatBytes(artifact.size_bytes)}</td>
                    <td data-label="Type">{artifact.content_type}</td>
                    <td data-label="Download">
                      <button type="button" aria-label={`Download ${artifact.path}`} onClick={() => void download(artifact.path)}>
                        Download
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {list.data.refused.length === 0 ? null : (
            <ul className="alert alert-info">
              {list.data.refused.map((r) => <li key={r.path}><span className="mono">{r.path}</span> was not kept: {r.reason}</li>)}
            </ul>
          )}
        </>
      )}
    </section>
  )
}
