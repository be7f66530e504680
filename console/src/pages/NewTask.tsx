import { useState, type FormEvent } from "react"
import { MAX_TASK_TIMEOUT_SECONDS } from "../../../schema/task.ts"
import { api, describeError, run } from "../api.ts"
import { ErrorMessage, Page } from "../components.tsx"
import { navigate } from "../router.tsx"

type Mode = "commands" | "script" | "prompt"

const MODES: ReadonlyArray<{ readonly value: Mode; readonly label: string; readonly field: string; readonly hint: string }> = [
  { value: "commands", label: "Command", field: "Commands (one per line)", hint: "Runs in a sandbox on a node." },
  { value: "script", label: "Script", field: "Script body", hint: "A shell script run in a sandbox on a node." },
  { value: "prompt", label: "Prompt", field: "Prompt text", hint: "Sent to the model of a node with inference." }
]

/** Create a task: a command, a script or a prompt, with an optional name and time limit. */
export const NewTaskPage = () => {
  const [mode, setMode] = useState<Mode>("commands")
  const [text, setText] = useState("")
  const [name, setName] = useState("")
  const [timeout, setTimeoutValue] = useState("")
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    const seconds = timeout.trim() === "" ? undefined : Number(timeout)
    if (seconds !== undefined && (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TASK_TIMEOUT_SECONDS)) {
      setError(`Time limit must be a whole number of seconds from 1 to ${MAX_TASK_TIMEOUT_SECONDS}.`)
      return
    }
    setBusy(true)
    setError(undefined)
    const outcome = await run(
      api.tasks.create({
        payload: {
          prompt: text,
          input_mode: mode,
          ...(name.trim() === "" ? {} : { task_name: name.trim() }),
          ...(seconds === undefined ? {} : { timeout_seconds: seconds })
        }
      })
    )
    setBusy(false)
    if (outcome.ok) navigate({ page: "task", id: outcome.value.id })
    else setError(describeError(outcome.error))
  }

  const current = MODES.find((m) => m.value === mode) ?? MODES[0]!
  return (
    <Page title="New task">
      <form className="card form" onSubmit={(e) => void submit(e)}>
        <ErrorMessage message={error} />
        <fieldset className="modes">
          <legend>Kind</legend>
          {MODES.map((m) => (
            <label key={m.value} className="radio">
              <input
                type="radio"
                name="mode"
                value={m.value}
                checked={mode === m.value}
                onChange={() => setMode(m.value)}
              />
              {m.label}
            </label>
          ))}
        </fieldset>
        <label htmlFor="task-text">{current.field}</label>
        <textarea
          id="task-text"
          name="prompt"
          required
          rows={mode === "commands" ? 3 : 8}
          spellCheck={mode === "prompt"}
          className={mode === "prompt" ? "" : "mono"}
          aria-describedby="task-text-hint"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <p id="task-text-hint" className="hint">{current.hint}</p>
        <div className="row">
          <div>
            <label htmlFor="task-name">Name (optional)</label>
            <input id="task-name" name="task_name" value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div>
            <label htmlFor="task-timeout">Time limit in seconds (optional)</label>
            <input
              id="task-timeout"
              name="timeout_seconds"
              inputMode="numeric"
              pattern="[0-9]*"
              value={timeout}
              onChange={(e) => setTimeoutValue(e.target.value)}
            />
          </div>
        </div>
        <button type="submit" className="primary" disabled={busy}>{busy ? "Creating…" : "Create task"}</button>
      </form>
    </Page>
  )
}
