import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from "react"

/** Path routing under /console/ (the gateway answers index.html for every page path); no router package needed. */

export const BASE = "/console"

export type Route =
  | { readonly page: "login" }
  | { readonly page: "tasks" }
  | { readonly page: "new-task" }
  | { readonly page: "task"; readonly id: string }
  | { readonly page: "nodes" }
  | { readonly page: "users" }
  | { readonly page: "not-found" }

export const parseRoute = (pathname: string): Route => {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname
  const parts = rest.split("/").filter((p) => p !== "")
  if (parts.length === 0 || (parts.length === 1 && parts[0] === "tasks")) return { page: "tasks" }
  if (parts.length === 1 && parts[0] === "login") return { page: "login" }
  if (parts.length === 1 && parts[0] === "nodes") return { page: "nodes" }
  if (parts.length === 1 && parts[0] === "users") return { page: "users" }
  if (parts.length === 2 && parts[0] === "tasks" && parts[1] === "new") return { page: "new-task" }
  if (parts.length === 2 && parts[0] === "tasks") return { page: "task", id: decodeURIComponent(parts[1] ?? "") }
  return { page: "not-found" }
}

export const hrefFor = (route: Route): string => {
  switch (route.page) {
    case "tasks":
      return `${BASE}/tasks`
    case "new-task":
      return `${BASE}/tasks/new`
    case "task":
      return `${BASE}/tasks/${encodeURIComponent(route.id)}`
    case "login":
    case "nodes":
    case "users":
      return `${BASE}/${route.page}`
    case "not-found":
      return `${BASE}/`
  }
}

const CHANGE = "cynode:navigate"

export const navigate = (route: Route, options: { readonly replace?: boolean } = {}): void => {
  const href = hrefFor(route)
  if (options.replace === true) window.history.replaceState(null, "", href)
  else window.history.pushState(null, "", href)
  window.dispatchEvent(new Event(CHANGE))
}

export const useRoute = (): Route => {
  const [route, setRoute] = useState(() => parseRoute(window.location.pathname))
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.pathname))
    window.addEventListener("popstate", update)
    window.addEventListener(CHANGE, update)
    return () => {
      window.removeEventListener("popstate", update)
      window.removeEventListener(CHANGE, update)
    }
  }, [])
  return route
}

/** A real link (open in a new tab works) that navigates in place on a plain click. */
export const Link = ({ to, ...rest }: { readonly to: Route } & AnchorHTMLAttributes<HTMLAnchorElement>) => {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    event.preventDefault()
    navigate(to)
  }
  return <a {...rest} href={hrefFor(to)} onClick={onClick} />
}
