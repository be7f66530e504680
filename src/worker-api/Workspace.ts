import { Data, Effect } from "effect"
import { access, chmod, chown, constants, lstat, mkdir, open, realpath } from "node:fs/promises"
import { join, sep } from "node:path"
import { checkRelativePath, type InputFile } from "../../schema/files.ts"
import type { Identifier } from "../../schema/ids.ts"
import type { ExitCoded } from "../../layers/ExitCode.ts"

/**
 * Host-side job directories (worker-node.md §7): `<mount_root>/<job_id>/` (0700, holds `job.json`) and its
 * `workspace/`, bind-mounted at `/workspace`. Job ids are already valid identifiers (no `/`, no `..`); the resolved
 * path is still checked to lie under the mount root, so a planted symlink cannot redirect a mount.
 */

/** A program that cannot prepare its mount root exits 3 (worker-node.md §3). */
export class WorkspaceError extends Data.TaggedError("WorkspaceError")<{ readonly message: string }>
  implements ExitCoded
{
  get exitCode() {
    return 3
  }
}

const fsError = (what: string) => (cause: unknown) =>
  new WorkspaceError({ message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })

/** Creates the mount root (0700) when missing and checks it is writable; returns its real path. */
export const ensureMountRoot = (mountRoot: string) =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(mountRoot, { recursive: true, mode: 0o700 })
      await access(mountRoot, constants.W_OK)
      return realpath(mountRoot)
    },
    catch: fsError(`mount root ${mountRoot} is not usable`)
  })

/** Writable by this process right now (the readiness probe). */
export const mountRootWritable = (mountRoot: string) =>
  Effect.tryPromise({ try: () => access(mountRoot, constants.W_OK), catch: fsError("mount root not writable") })

/** `<mount_root>/<job_id>`, created 0700 if needed; refuses anything that is not a plain directory there. */
export const ensureJobDir = (mountRoot: string, jobId: Identifier) =>
  Effect.tryPromise({
    try: async () => {
      const dir = join(mountRoot, jobId)
      await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "EEXIST") throw e
      })
      const info = await lstat(dir)
      if (!info.isDirectory()) throw new Error(`${dir} is not a directory`)
      return dir
    },
    catch: fsError(`cannot create the job directory for ${jobId}`)
  })

const parseUser = (user: string): { readonly uid: number; readonly gid: number } => {
  const [uid, gid] = user.split(":").map(Number)
  return { uid: uid ?? 65532, gid: gid ?? uid ?? 65532 }
}

/**
 * Creates `<mount_root>/<job_id>/workspace`, writable by the sandbox user (chown when we are root, else 0777), and
 * returns its path after checking that it resolves under the mount root.
 */
export const prepareWorkspace = (mountRoot: string, jobId: Identifier, sandboxUser: string) =>
  Effect.flatMap(ensureJobDir(mountRoot, jobId), (dir) =>
    Effect.tryPromise({
      try: async () => {
        const root = await realpath(mountRoot)
        const workspace = join(dir, "workspace")
        await mkdir(workspace, { mode: 0o700 })
        const resolved = await realpath(workspace)
        if (resolved !== join(root, jobId, "workspace") || !resolved.startsWith(root + sep)) {
          throw new Error(`${workspace} resolves outside the mount root`)
        }
        if (process.getuid?.() === 0) {
          const { gid, uid } = parseUser(sandboxUser)
          await chown(resolved, uid, gid)
        } else {
          await chmod(resolved, 0o777)
        }
        return resolved
      },
      catch: fsError(`cannot prepare the workspace for ${jobId}`)
    }))

/**
 * Writes a job's input files under its fresh workspace, before the container starts: directories as needed, each
 * file created exclusively and never through a symlink (O_EXCL | O_NOFOLLOW), owned by the sandbox user (0644 and
 * 0755 as root; 0666 and 0777 otherwise, like the workspace itself). Paths were checked when decoded; they are
 * checked again here because this is where they become host paths.
 */
export const writeInputFiles = (workspace: string, files: ReadonlyArray<InputFile>, sandboxUser: string) =>
  Effect.tryPromise({
    try: async () => {
      const asRoot = process.getuid?.() === 0
      const { gid, uid } = parseUser(sandboxUser)
      const own = async (path: string, rootMode: number, otherMode: number) => {
        if (asRoot) await chown(path, uid, gid)
        await chmod(path, asRoot ? rootMode : otherMode)
      }
      for (const file of files) {
        const check = checkRelativePath(file.path)
        if (check !== true) throw new Error(`input file ${JSON.stringify(file.path)}: ${check}`)
        const segments = file.path.split("/")
        let dir = workspace
        for (const segment of segments.slice(0, -1)) {
          dir = join(dir, segment)
          const created = await mkdir(dir).then(() => true, (e: NodeJS.ErrnoException) => {
            if (e.code !== "EEXIST") throw e
            return false
          })
          if (!(await lstat(dir)).isDirectory()) throw new Error(`input file ${file.path}: ${segment} is not a directory`)
          if (created) await own(dir, 0o755, 0o777)
        }
        const target = join(dir, segments[segments.length - 1]!)
        const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
        try {
          await handle.writeFile(Buffer.from(file.content_base64, "base64"))
        } finally {
          await handle.close()
        }
        await own(target, 0o644, 0o666)
      }
    },
    catch: fsError("cannot write the input files")
  })
