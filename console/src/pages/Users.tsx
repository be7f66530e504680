import { Either, Schema } from "effect"
import { useState, type FormEvent } from "react"
import { Identifier } from "../../../schema/ids.ts"
import type { UserView } from "../../../schema/auth.ts"
import { api, describeError, run } from "../api.ts"
import { ErrorMessage, Notice, Page } from "../components.tsx"
import { usePolled } from "../hooks.ts"

const decodeHandle = Schema.decodeUnknownEither(Identifier)

/** Admins: every account, create one, disable or enable it, end its sessions. */
export const UsersPage = ({ self }: { readonly self: string }) => {
  const users = usePolled(() => api.admin.listUsers(), "users")
  const [handle, setHandle] = useState("")
  const [password, setPassword] = useState("")
  const [error, setError] = useState<string | undefined>(undefined)
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)

  const act = async (label: string, call: () => Promise<{ readonly ok: boolean; readonly error?: unknown }>) => {
    setBusy(true)
    setError(undefined)
    setNotice(undefined)
    const outcome = await call()
    setBusy(false)
    if (outcome.ok) {
      setNotice(label)
      users.reload()
    } else setError(describeError(outcome.error))
    return outcome.ok
  }

  const create = async (event: FormEvent) => {
    event.preventDefault()
    const checked = decodeHandle(handle)
    if (Either.isLeft(checked)) {
      setError('A handle is 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit.')
      return
    }
    const ok = await act(`Created ${handle}.`, () => run(api.admin.createUser({ payload: { handle: checked.right, password } })))
    if (ok) {
      setHandle("")
      setPassword("")
    }
  }

  const row = (user: UserView) => (
    <tr key={user.id}>
      <td data-label="Handle">{user.handle}</td>
      <td data-label="State">
        <span className={`badge ${user.is_active ? "badge-completed" : "badge-canceled"}`}>
          {user.is_active ? "active" : "disabled"}
        </span>
      </td>
      <td data-label="Actions">
        <div className="actions">
        {user.is_active ? (
          <button
            type="button"
            disabled={busy || user.handle === self}
            aria-label={`Disable ${user.handle}`}
            onClick={() => void act(`Disabled ${user.handle}.`, () => run(api.admin.disable({ path: { id: user.id } })))}
          >
            Disable
          </button>
        ) : (
          <button
            type="button"
            disabled={busy}
            aria-label={`Enable ${user.handle}`}
            onClick={() => void act(`Enabled ${user.handle}.`, () => run(api.admin.enable({ path: { id: user.id } })))}
          >
            Enable
          </button>
        )}
        <button
          type="button"
          disabled={busy}
          aria-label={`Revoke sessions of ${user.handle}`}
          onClick={() =>
            void act(`Ended every session of ${user.handle}.`, () => run(api.admin.revokeSessions({ path: { id: user.id } })))}
        >
          Revoke sessions
        </button>
        </div>
      </td>
    </tr>
  )

  return (
    <Page title="Users">
      <ErrorMessage message={error ?? users.error} />
      <Notice message={notice} />
      <form className="card form" onSubmit={(e) => void create(e)} aria-labelledby="new-user-title">
        <h2 id="new-user-title">New user</h2>
        <div className="row">
          <div>
            <label htmlFor="user-handle">Handle</label>
            <input id="user-handle" autoComplete="off" required value={handle} onChange={(e) => setHandle(e.target.value)} />
          </div>
          <div>
            <label htmlFor="user-password">Password</label>
            <input
              id="user-password"
              type="password"
              autoComplete="new-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
        </div>
        <button type="submit" className="primary" disabled={busy}>Create user</button>
      </form>
      {users.data === undefined ? (users.error === undefined ? <p className="muted">Loading…</p> : null) : (
        <table className="table responsive">
          <caption className="visually-hidden">Accounts</caption>
          <thead>
            <tr>
              <th scope="col">Handle</th>
              <th scope="col">State</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>{users.data.users.map(row)}</tbody>
        </table>
      )}
    </Page>
  )
}
