import { Schema } from "effect"
import { Base64, RelativePath } from "./files.ts"
import { Timestamp } from "./time.ts"
import { Uuid } from "./ids.ts"

/**
 * Artifacts: the regular files a sandbox job leaves under /workspace/out, collected by the node after the job
 * ends (at most `MAX_ARTIFACTS` files and `MAX_ARTIFACT_BYTES` in all; symlinks and special files refused), carried
 * to the control plane in the job's response and kept behind the ArtifactStore. `refused` says what was left out
 * and why.
 */

export const MAX_ARTIFACTS = 32
export const MAX_ARTIFACT_BYTES = 8 * 1024 * 1024
export const ARTIFACTS_DIR = "out"

export const RefusedArtifact = Schema.Struct({ path: Schema.String, reason: Schema.String }).annotations({ identifier: "RefusedArtifact" })

/** In the worker's response (and nowhere after the control plane: the content moves into the store). */
export const CollectedArtifact = Schema.Struct({
  path: RelativePath,
  size_bytes: Schema.Int.pipe(Schema.nonNegative()),
  sha256: Schema.String,
  content_base64: Base64
}).annotations({ identifier: "CollectedArtifact" })
export type CollectedArtifact = typeof CollectedArtifact.Type

export const CollectedArtifacts = Schema.Struct({
  files: Schema.Array(CollectedArtifact),
  refused: Schema.Array(RefusedArtifact)
}).annotations({ identifier: "CollectedArtifacts" })
export type CollectedArtifacts = typeof CollectedArtifacts.Type

/** `GET /v1/tasks/{id}/artifacts`. */
export const ArtifactView = Schema.Struct({
  path: Schema.String,
  size_bytes: Schema.Int,
  content_type: Schema.String,
  sha256: Schema.String,
  created_at: Timestamp
}).annotations({ identifier: "Artifact" })
export type ArtifactView = typeof ArtifactView.Type

export const TaskArtifacts = Schema.Struct({
  task_id: Uuid,
  artifacts: Schema.Array(ArtifactView),
  refused: Schema.Array(RefusedArtifact)
}).annotations({ identifier: "TaskArtifacts" })
export type TaskArtifacts = typeof TaskArtifacts.Type

const TYPES: Record<string, string> = {
  txt: "text/plain; charset=utf-8",
  log: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  json: "application/json",
  html: "text/html; charset=utf-8",
  xml: "application/xml",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  pdf: "application/pdf",
  gz: "application/gzip",
  tar: "application/x-tar",
  zip: "application/zip"
}

/** By extension; anything else is `application/octet-stream`. */
export const contentTypeOf = (path: string): string => {
  const dot = path.lastIndexOf(".")
  return (dot > path.lastIndexOf("/") && TYPES[path.slice(dot + 1).toLowerCase()]) || "application/octet-stream"
}
