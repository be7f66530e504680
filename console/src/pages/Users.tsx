import { Either, Schema } from "effect"
import { useState, type FormEvent } from "react"
import { Identifier } from "../../../schema/ids.ts"
import type { UserView } from "../../../schema/auth.ts"
import { api } from "../api.ts"
import { ErrorMessage, Field, Notice, Page } from "../components.tsx"
import { useAction, usePolled } from "../hooks.ts"

const decodeHandle = Schema.decodeUnknownEither(Identifier)

/** Admins: every account, create one, disable or enable it, end its sessions. */
export const UsersPage = ({ self }: { readonly self: string }) => {
  const users = usePolled(() => api.admin.listUsers(), "users")
  const [handle, setHandle] = useState("")
  const [password, setPassword] = useState("")
  const { busy, error, notice, act, setError } = useAction(users.reload)

  const create = async (event: FormEvent) => {
    event.preventDefault()
    const checked = decodeHandle(handle)
    if (Either.isLeft(checked)) {
      setError('A handle is 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit.')
      return
    }
    const ok = await act(`Created ${handle}.`, api.admin.createUser({ payload: { handle: checked.right, password } }))
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
            onClick={() => void act(`Disabled ${user.handle}.`, api.admin.disable({ path: { id: user.id } }))}
          >
            Disable
          </button>
        ) : (
          <button
            type="button"
            disabled={busy}
            aria-label={`Enable ${user.handle}`}
            onClick={() => void act(`Enabled ${user.handle}.`, api.admin.enable({ path: { id: user.id } }))}
          >
            Enable
          </button>
        )}
        <button
          type="button"
          disabled={busy}
          aria-label={`Revoke sessions of ${user.handle}`}
          onClick={() =>
            void act(`Ended every session of ${user.handle}.`, api.admin.revokeSessions({ path: { id: user.id } }))}
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
            <Field id="user-handle" label="Handle" autoComplete="off" value={handle} onValue={setHandle} />
          </div>
          <div>
            <Field id="user-password" label="Password" type="password" autoComplete="new-password" value={password} onValue={setPassword} />
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
