import { HttpApi, HttpApiMiddleware } from "@effect/platform"
import * as FindMyWay from "find-my-way-ts"

/**
 * The route table every CyNode server decides authorization and body limits on. It is built from the same HttpApi
 * and matched by the same router library with the same (default) options as HttpApiBuilder's own router, so a path
 * spelt another way (letter case, %-escapes, doubled slashes, an absolute-form request line) finds the same route
 * here as in the handler, and can never reach a protected handler as "no route" or "public".
 */

export interface RouteRule {
  /** `POST /v1/auth/login`, as declared in the HttpApi. */
  readonly key: string
  /** A documented unauthenticated route (health, login, refresh, registration with its PSK). */
  readonly public: boolean
  /** Largest body accepted on this route. */
  readonly maxBodyBytes: number
  /** Called on a timer (a heartbeat, a health probe): a successful answer's access line is DEBUG, not INFO. */
  readonly quiet: boolean
}

export interface RoutePolicy {
  /** Route keys (`METHOD /path` as declared) that need no credential. Everything else needs one. */
  readonly publicRoutes: ReadonlyArray<string>
  /** Body limit of a route not listed in `bodyLimits`. */
  readonly defaultMaxBodyBytes: number
  /** Per-route body limits by route key. */
  readonly bodyLimits?: Readonly<Record<string, number>>
  /**
   * Route keys called on a timer, whose successful answers are logged at DEBUG: at a thousand nodes, an INFO line per
   * heartbeat is 200 lines a second that say nothing, and writing them cost more CPU than answering.
   */
  readonly quietRoutes?: ReadonlyArray<string>
}

export interface RouteTable {
  readonly find: (method: string, url: string) => RouteRule | undefined
  readonly rules: ReadonlyArray<RouteRule>
}

const hasSecurity = (middleware: ReadonlySet<HttpApiMiddleware.TagClassAny>) =>
  [...middleware].some((tag) => HttpApiMiddleware.SecurityTypeId in tag)

/** Builds the table; throws at start when a route would be open by mistake or a policy names an unknown route. */
export const makeRouteTable = (api: HttpApi.HttpApi.Any, policy: RoutePolicy): RouteTable => {
  const router = FindMyWay.make<RouteRule>()
  const publicKeys = new Set(policy.publicRoutes)
  const quietKeys = new Set(policy.quietRoutes ?? [])
  const rules: Array<RouteRule> = []
  HttpApi.reflect(api as HttpApi.HttpApi.AnyWithProps, {
    onGroup: () => undefined,
    onEndpoint: ({ endpoint, middleware }) => {
      const key = `${endpoint.method} ${endpoint.path}`
      const isPublic = publicKeys.has(key)
      // Every route that is not documented as open carries an HttpApi security middleware, which HttpApiBuilder runs
      // on the route it matched and before it reads the body.
      if (!isPublic && !hasSecurity(middleware)) {
        throw new Error(`route ${key} has no credential check and is not a documented public route`)
      }
      const rule: RouteRule = {
        key,
        public: isPublic,
        maxBodyBytes: policy.bodyLimits?.[key] ?? policy.defaultMaxBodyBytes,
        quiet: quietKeys.has(key)
      }
      rules.push(rule)
      router.on(endpoint.method, endpoint.path, rule)
    }
  })
  const known = new Set(rules.map((r) => r.key))
  for (const key of [...publicKeys, ...quietKeys, ...Object.keys(policy.bodyLimits ?? {})]) {
    if (!known.has(key)) throw new Error(`route policy names ${key}, which the API does not declare`)
  }
  return {
    rules,
    // HEAD falls back to GET, as in HttpRouter.
    find: (method, url) =>
      router.find(method, url)?.handler ?? (method === "HEAD" ? router.find("GET", url)?.handler : undefined)
  }
}
