import { Effect } from "effect"
import { createHash } from "node:crypto"
import { constants, lstat, mkdir, chmod, chown, open, readdir } from "node:fs/promises"
import { join } from "node:path"
import { ARTIFACTS_DIR, MAX_ARTIFACT_BYTES, MAX_ARTIFACTS, type CollectedArtifact, type CollectedArtifacts } from "../../schema/artifacts.ts"
import { checkRelativePath } from "../../schema/files.ts"
import { WorkspaceError } from "./Workspace.ts"

/**
 * Collecting what a finished job left under /workspace/out, from the host side, after its container has exited (so
 * nothing moves underneath). Only regular files are taken, opened with O_NOFOLLOW; a symlink, device, FIFO or socket
 * is refused with its reason and never followed, and so is `out` itself when it is not a real directory. Files
 * past the count or byte cap are refused too, so a job learns what was left out.
 */

const MAX_DEPTH = 8

const parseUser = (user: string) => {
  const [uid, gid] = user.split(":").map(Number)
  return { uid: uid ?? 65532, gid: gid ?? uid ?? 65532 }
}

/** `/workspace/out`, created before the command starts so a job can write there without preparing it. */
export const prepareOutDir = (workspace: string, sandboxUser: string) =>
  Effect.tryPromise({
    try: async () => {
      const dir = join(workspace, ARTIFACTS_DIR)
      await mkdir(dir, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "EEXIST") throw e
      })
      if (process.getuid?.() === 0) {
        const { gid, uid } = parseUser(sandboxUser)
        await chown(dir, uid, gid)
      } else {
        await chmod(dir, 0o777)
      }
    },
    catch: (e) => new WorkspaceError({ message: `cannot prepare /workspace/${ARTIFACTS_DIR}: ${e instanceof Error ? e.message : String(e)}` })
  })

const kindOf = (info: { isSymbolicLink(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }) =>
  info.isSymbolicLink() ? "a symlink" : info.isFIFO() ? "a FIFO" : info.isSocket() ? "a socket" : info.isCharacterDevice() || info.isBlockDevice() ? "a device" : "not a regular file"

export const collectArtifacts = (workspace: string) =>
  Effect.tryPromise({
    try: async (): Promise<CollectedArtifacts> => {
      const files: Array<CollectedArtifact> = []
      const refused: Array<{ path: string; reason: string }> = []
      let total = 0
      const root = join(workspace, ARTIFACTS_DIR)
      const top = await lstat(root).catch(() => undefined)
      if (top === undefined) return { files, refused }
      if (!top.isDirectory()) return { files, refused: [{ path: ARTIFACTS_DIR, reason: `${ARTIFACTS_DIR} is ${kindOf(top)}, not a directory` }] }

      const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
        const entries = (await readdir(dir)).sort()
        for (const name of entries) {
          const path = prefix === "" ? name : `${prefix}/${name}`
          const full = join(dir, name)
          const info = await lstat(full)
          if (info.isDirectory()) {
            if (depth >= MAX_DEPTH) refused.push({ path, reason: `deeper than ${MAX_DEPTH} directories` })
            else await walk(full, path, depth + 1)
            continue
          }
          if (!info.isFile()) {
            refused.push({ path, reason: `${kindOf(info)}: only regular files are collected` })
            continue
          }
          const check = checkRelativePath(path)
          if (check !== true) {
            refused.push({ path, reason: `the path ${check}` })
            continue
          }
          if (files.length >= MAX_ARTIFACTS) {
            refused.push({ path, reason: `more than ${MAX_ARTIFACTS} files` })
            continue
          }
          if (total + info.size > MAX_ARTIFACT_BYTES) {
            refused.push({ path, reason: `over the ${MAX_ARTIFACT_BYTES}-byte cap for all artifacts (${info.size} bytes)` })
            continue
          }
          const handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW)
          try {
            const bytes = await handle.readFile()
            total += bytes.length
            files.push({
              path,
              size_bytes: bytes.length,
              sha256: createHash("sha256").update(bytes).digest("hex"),
              content_base64: bytes.toString("base64")
            })
          } finally {
            await handle.close()
          }
        }
      }
      await walk(root, "", 1)
      return { files, refused }
    },
    catch: (e) => new WorkspaceError({ message: `cannot collect the artifacts: ${e instanceof Error ? e.message : String(e)}` })
  })
