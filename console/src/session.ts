/**
 * The signed-in session: the gateway's token pair kept in localStorage, so that a reload (or a second tab) keeps the
 * session until logout or until the refresh token is refused. The page's CSP allows scripts from this origin only.
 */

export interface Session {
  readonly access_token: string
  readonly refresh_token: string
  readonly handle: string
}

const KEY = "cynode.console.session"

const listeners = new Set<(session: Session | undefined) => void>()

const parse = (raw: string | null): Session | undefined => {
  if (raw === null) return undefined
  try {
    const value: unknown = JSON.parse(raw)
    if (
      typeof value === "object" && value !== null &&
      "access_token" in value && typeof value.access_token === "string" &&
      "refresh_token" in value && typeof value.refresh_token === "string" &&
      "handle" in value && typeof value.handle === "string"
    ) {
      return { access_token: value.access_token, refresh_token: value.refresh_token, handle: value.handle }
    }
  } catch {
    return undefined
  }
  return undefined
}

export const currentSession = (): Session | undefined => parse(localStorage.getItem(KEY))

const notify = () => {
  const session = currentSession()
  for (const listener of listeners) listener(session)
}

export const saveSession = (session: Session): void => {
  localStorage.setItem(KEY, JSON.stringify(session))
  notify()
}

export const clearSession = (): void => {
  localStorage.removeItem(KEY)
  notify()
}

export const onSessionChange = (listener: (session: Session | undefined) => void): (() => void) => {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

// Another tab logged in, refreshed or logged out.
window.addEventListener("storage", (event) => {
  if (event.key === KEY) notify()
})
