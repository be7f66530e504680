import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Config, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { problemResponse } from "../../layers/Http.ts"
import { problemFor } from "../../schema/problem.ts"

/**
 * The web console at `/console`: the static files `just build` writes to console/dist, served on the gateway's own
 * origin so the pages call the API with the same bearer tokens and no CORS. The files are read once at start into
 * a map, and only those paths are ever answered, so no request can name a file outside the folder.
 */

export const CONSOLE_PATH = "/console"

interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
  /** Vite puts a content hash in every name under assets/: such a file never changes. */
  readonly immutable: boolean
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2"
}

/** Same origin only; no inline script or style, no framing. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY"
}

/** console/dist beside the sources; the bundled gateway (.cynode/dist) sits at the same depth, so one path fits both. */
const defaultDir = fileURLToPath(new URL("../../console/dist/", import.meta.url))

const walk = (dir: string, prefix = ""): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`
    if (entry.isDirectory()) return walk(path.join(dir, entry.name), rel)
    return entry.isFile() ? [rel] : []
  })

export const loadAssets = (dir: string): ReadonlyMap<string, Asset> => {
  if (!fs.existsSync(path.join(dir, "index.html"))) return new Map()
  return new Map(
    walk(dir).map((rel) => [
      rel,
      {
        body: fs.readFileSync(path.join(dir, rel)),
        contentType: CONTENT_TYPES[path.extname(rel)] ?? "application/octet-stream",
        immutable: rel.startsWith("assets/")
      }
    ])
  )
}

const respond = (asset: Asset) =>
  HttpServerResponse.uint8Array(asset.body, {
    contentType: asset.contentType,
    headers: {
      ...SECURITY_HEADERS,
      "cache-control": asset.immutable ? "public, max-age=31536000, immutable" : "no-cache"
    }
  })

const relativePath = (url: string): string | undefined => {
  const pathname = url.split("?")[0] ?? ""
  try {
    return decodeURIComponent(pathname.slice(CONSOLE_PATH.length + 1))
  } catch {
    return undefined
  }
}

/**
 * A known file is served as it is; any other path without a file extension is a page of the single-page app and
 * gets index.html (the app routes on the path); a missing file with an extension is 404.
 */
export const consoleHandler = (assets: ReadonlyMap<string, Asset>) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const index = assets.get("index.html")
    if (index === undefined) {
      return problemResponse(problemFor(404, "the console is not built on this server; run `just build`"))
    }
    // The router treats /console and /console/ alike; relative asset URLs need the slash.
    if ((request.url.split("?")[0] ?? "") === CONSOLE_PATH) {
      return HttpServerResponse.redirect(`${CONSOLE_PATH}/`, { status: 302 })
    }
    const rel = relativePath(request.url)
    if (rel === undefined) return problemResponse(problemFor(400, "malformed path"))
    const asset = assets.get(rel)
    if (asset !== undefined) return respond(asset)
    if (/\.[A-Za-z0-9]+$/.test(rel)) return problemResponse(problemFor(404, `no console file ${rel}`))
    return respond(index)
  })

/** `CYNODE_CONSOLE_DIR` names the built console; by default console/dist of this checkout. */
export const ConsoleHttpLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const dir = yield* Config.string("CYNODE_CONSOLE_DIR").pipe(Config.withDefault(defaultDir), Effect.orDie)
    const assets = loadAssets(dir)
    if (assets.size === 0) {
      yield* Effect.logWarning("web console not built; /console answers 404").pipe(Effect.annotateLogs("dir", dir))
    }
    const handler = consoleHandler(assets)
    yield* router.get(CONSOLE_PATH, handler)
    yield* router.get(`${CONSOLE_PATH}/*`, handler)
  })
)
