import { Effect, Either } from "effect"
import { useState, type FormEvent } from "react"
import { describeError, openApi, run } from "../api.ts"
import { ErrorMessage, Field, Page } from "../components.tsx"
import { saveSession } from "../session.ts"

/** Log in with a handle and password; the token pair is kept so that a reload keeps the session. */
export const LoginPage = ({ notice }: { readonly notice: string | undefined }) => {
  const [handle, setHandle] = useState("")
  const [password, setPassword] = useState("")
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    const outcome = await run(
      openApi.auth.login({ payload: { handle, password } }).pipe(
        Effect.tap((pair) =>
          Effect.sync(() => saveSession({ access_token: pair.access_token, refresh_token: pair.refresh_token, handle }))
        )
      )
    )
    setBusy(false)
    if (Either.isLeft(outcome)) setError(describeError(outcome.left))
  }

  return (
    <Page title="Log in">
      <form className="card form narrow" onSubmit={(e) => void submit(e)}>
        {notice === undefined ? null : <p className="alert alert-info" role="status">{notice}</p>}
        <ErrorMessage message={error} />
        <Field id="login-handle" label="Handle" name="handle" autoComplete="username" value={handle} onValue={setHandle} />
        <Field
          id="login-password"
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onValue={setPassword}
        />
        <button type="submit" className="primary" disabled={busy}>{busy ? "Logging in…" : "Log in"}</button>
      </form>
    </Page>
  )
}
