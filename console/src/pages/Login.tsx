import { Effect } from "effect"
import { useState, type FormEvent } from "react"
import { describeError, openApi, run } from "../api.ts"
import { ErrorMessage, Page } from "../components.tsx"
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
    if (!outcome.ok) setError(describeError(outcome.error))
  }

  return (
    <Page title="Log in">
      <form className="card form narrow" onSubmit={(e) => void submit(e)}>
        {notice === undefined ? null : <p className="alert alert-info" role="status">{notice}</p>}
        <ErrorMessage message={error} />
        <label htmlFor="login-handle">Handle</label>
        <input
          id="login-handle"
          name="handle"
          autoComplete="username"
          required
          value={handle}
          onChange={(e) => setHandle(e.target.value)}
        />
        <label htmlFor="login-password">Password</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <button type="submit" className="primary" disabled={busy}>{busy ? "Logging in…" : "Log in"}</button>
      </form>
    </Page>
  )
}
