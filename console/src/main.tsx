import { Effect } from "effect"
import { StrictMode, useEffect, useState, type ReactNode } from "react"
import { createRoot } from "react-dom/client"
import { api, run } from "./api.ts"
import { Page } from "./components.tsx"
import { LoginPage } from "./pages/Login.tsx"
import { NewTaskPage } from "./pages/NewTask.tsx"
import { NodesPage } from "./pages/Nodes.tsx"
import { TaskPage } from "./pages/Task.tsx"
import { TasksPage } from "./pages/Tasks.tsx"
import { UsersPage } from "./pages/Users.tsx"
import { Link, navigate, useRoute, type Route } from "./router.tsx"
import { clearSession, currentSession, onSessionChange, type Session } from "./session.ts"
import "./styles.css"

/** Admin = the account with handle `admin`, as on the gateway (which checks it again on every admin route). */
const ADMIN_HANDLE = "admin"

const useSession = () => {
  const [session, setSession] = useState<Session | undefined>(currentSession)
  useEffect(() => onSessionChange(setSession), [])
  return session
}

const logout = async (session: Session) => {
  // The server ends the session (both tokens stop working); the local copy goes whatever it answers.
  await run(api.account.logout({ payload: { refresh_token: session.refresh_token } }).pipe(Effect.ignore))
  clearSession()
  navigate({ page: "login" }, { replace: true })
}

const NavLink = ({ to, current, children }: { readonly to: Route; readonly current: Route; readonly children: string }) => (
  <Link to={to} aria-current={to.page === current.page ? "page" : undefined}>{children}</Link>
)

const App = () => {
  const route = useRoute()
  const session = useSession()
  const [ended, setEnded] = useState<string | undefined>(undefined)
  const [wasSignedIn, setWasSignedIn] = useState(session !== undefined)

  useEffect(() => {
    if (session !== undefined) {
      setWasSignedIn(true)
      setEnded(undefined)
      if (route.page === "login") navigate({ page: "tasks" }, { replace: true })
    } else if (wasSignedIn) {
      setWasSignedIn(false)
      setEnded("Your session has ended. Log in again.")
    }
  }, [session, route.page, wasSignedIn])

  if (session === undefined) {
    return (
      <Shell>
        <LoginPage notice={ended} />
      </Shell>
    )
  }
  const admin = session.handle === ADMIN_HANDLE
  return (
    <Shell
      nav={
        <nav aria-label="Main">
          <ul>
            <li><NavLink to={{ page: "tasks" }} current={route}>Tasks</NavLink></li>
            <li><NavLink to={{ page: "new-task" }} current={route}>New task</NavLink></li>
            {admin ? <li><NavLink to={{ page: "nodes" }} current={route}>Nodes</NavLink></li> : null}
            {admin ? <li><NavLink to={{ page: "users" }} current={route}>Users</NavLink></li> : null}
          </ul>
          <div className="who">
            <span aria-label="Signed in as">{session.handle}</span>
            <button type="button" onClick={() => void logout(session)}>Log out</button>
          </div>
        </nav>
      }
    >
      {route.page === "tasks" || route.page === "login" ? <TasksPage /> : null}
      {route.page === "new-task" ? <NewTaskPage /> : null}
      {route.page === "task" ? <TaskPage id={route.id} /> : null}
      {route.page === "users" ? (admin ? <UsersPage self={session.handle} /> : <AdminOnly />) : null}
      {route.page === "nodes" ? (admin ? <NodesPage /> : <AdminOnly />) : null}
      {route.page === "not-found" ? <NotFound /> : null}
    </Shell>
  )
}

const AdminOnly = () => (
  <Page title="Admins only">
    <p>This page is for the admin account.</p>
  </Page>
)

const NotFound = () => (
  <Page title="Page not found">
    <p><Link to={{ page: "tasks" }}>Back to your tasks</Link></p>
  </Page>
)

const Shell = ({ nav, children }: { readonly nav?: ReactNode; readonly children: ReactNode }) => (
  <>
    <a className="skip-link" href="#main">Skip to content</a>
    <header className="top">
      <Link to={{ page: "tasks" }} className="brand">CyNode</Link>
      {nav}
    </header>
    <main id="main">{children}</main>
  </>
)

const root = document.getElementById("root")
if (root !== null) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>
  )
}
