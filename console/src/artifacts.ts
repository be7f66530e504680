import { HttpClientRequest } from "@effect/platform"
import { Effect, Schema } from "effect"
import { RelativePath } from "../../schema/files.ts"
import type { Identifier } from "../../schema/ids.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"
import { authedClient, baseUrl } from "./api.ts"

/**
 * Artifact downloads. The route's path ends in a wildcard (an artifact path may hold '/'), which HttpApiClient does
 * not fill in, so the URL is built here from the contract's own path and the signed-in client fetches the bytes;
 * the browser then saves them under the artifact's name.
 */

const decodePath = Schema.decodeUnknown(RelativePath)

const artifactUrl = (id: Identifier, path: string) =>
  baseUrl +
  GatewayApi.groups.tasks.endpoints.artifact.path
    .replace(":id", encodeURIComponent(id))
    .replace("*", path.split("/").map(encodeURIComponent).join("/"))

export const fetchArtifact = (id: Identifier, path: string) =>
  Effect.gen(function*() {
    const checked = yield* decodePath(path)
    const response = yield* authedClient.execute(HttpClientRequest.get(artifactUrl(id, checked)))
    const bytes = yield* response.arrayBuffer
    return new Blob([bytes], { type: response.headers["content-type"] ?? "application/octet-stream" })
  }).pipe(Effect.scoped)

/** Hands the bytes to the browser's own download (a temporary object URL behind a `download` link). */
export const saveBlob = (blob: Blob, name: string): void => {
  const url = URL.createObjectURL(blob)
  const link = document.createElement("a")
  link.href = url
  link.download = name
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 30_000)
}

export const formatBytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`
