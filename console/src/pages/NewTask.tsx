import { Either, ParseResult, Schema } from "effect"
import { useState, type FormEvent } from "react"
import { InputFiles, MAX_INPUT_FILES, MAX_INPUT_FILES_BYTES } from "../../../schema/files.ts"
import { MAX_TASK_TIMEOUT_SECONDS } from "../../../schema/task.ts"
import { api, describeError, run } from "../api.ts"
import { ErrorMessage, Page } from "../components.tsx"
import { navigate } from "../router.tsx"

type Mode = "commands" | "script" | "prompt"

const decodeFiles = Schema.decodeUnknownEither(InputFiles)

/** Base64 of a file's bytes, in slices so a large file does not overflow the argument list. */
const base64Of = async (file: File): Promise<string> => {
  const bytes = new Uint8Array(await file.arrayBuffer())
  let binary = ""
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

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
  const [files, setFiles] = useState<ReadonlyArray<File>>([])
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    const seconds = timeout.trim() === "" ? undefined : Number(timeout)
    if (seconds !== undefined && (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TASK_TIMEOUT_SECONDS)) {
      setError(`Time limit must be a whole number of seconds from 1 to ${MAX_TASK_TIMEOUT_SECONDS}.`)
      return
    }
    const encoded = await Promise.all(files.map(async (file) => ({ path: file.name, content_base64: await base64Of(file) })))
    const checkedFiles = decodeFiles(encoded)
    if (Either.isLeft(checkedFiles)) {
      setError(`Files: ${ParseResult.ArrayFormatter.formatErrorSync(checkedFiles.left).map((e) => e.message).join("; ")}`)
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
          ...(seconds === undefined ? {} : { timeout_seconds: seconds }),
          ...(mode === "prompt" || checkedFiles.right.length === 0 ? {} : { files: checkedFiles.right })
        }
      })
    )
    setBusy(false)
    if (Either.isRight(outcome)) navigate({ page: "task", id: outcome.right.id })
    else setError(describeError(outcome.left))
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
        {mode === "prompt" ? null : (
          <>
            <label htmlFor="task-files">Files to put in /workspace (optional)</label>
            <input
              id="task-files"
              type="file"
              multiple
              aria-describedby="task-files-hint"
              onChange={(e) => setFiles(Array.from(e.target.files ?? []))}
            />
            <p id="task-files-hint" className="hint">
              Up to {MAX_INPUT_FILES} files, {MAX_INPUT_FILES_BYTES / 1024 / 1024} MiB in all. Files the task writes to
              /workspace/out can be downloaded from its page.
            </p>
          </>
        )}
        <button type="submit" className="primary" disabled={busy}>{busy ? "Creating…" : "Create task"}</button>
      </form>
    </Page>
  )
}
