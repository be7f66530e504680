import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Schedule, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ContainerRuntime, MANAGED_LABEL, type ContainerRuntimeShape } from "../../layers/ContainerRuntime.ts"
import { parseEndpoint } from "../../layers/container/engineHttp.ts"
import { FrameDemuxer } from "../../layers/container/frames.ts"
import { toCreateOptions } from "../../layers/container/spec.ts"
import { processIsAlive } from "../../layers/EmbeddedPostgres.ts"

const IMAGE = "localhost/cynode-sandbox:latest"
/** Every container of this file carries this label, so "nothing left behind" is checked for our own runs only. */
const TEST_LABEL = { "io.cynode.test": `container-runtime-${randomUUID()}` }
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

const leftovers = (rt: ContainerRuntimeShape) => rt.listByLabel(TEST_LABEL)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "cynode-workspace-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

layer(ContainerRuntime.Live, { excludeTestServices: true, timeout: "30 seconds" })("ContainerRuntime on the real engine", (it) => {
  it.effect("reports the engine it found", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const info = yield* rt.info
      expect(["podman", "docker"]).toContain(info.engine)
      expect(info.endpoint).toBe(rt.endpoint)
      expect(typeof info.rootless).toBe("boolean")
      yield* rt.ping
    }))

  it.scoped("runs a sandbox: exit code, separate stdout and stderr, a workspace file, then removes it", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const workspace = yield* tempDir
      const result = yield* rt.run(
        {
          image: IMAGE,
          cmd: ["sh", "-c", "echo hi; echo err >&2; echo data > /workspace/f; exit 3"],
          workingDir: "/workspace",
          binds: [`${workspace}:/workspace:rw`],
          networkMode: "none",
          labels: TEST_LABEL
        },
        { timeout: "20 seconds" }
      )
      expect(result.exitCode).toBe(3)
      expect(text(result.stdout)).toBe("hi\n")
      expect(text(result.stderr)).toBe("err\n")
      expect(result.timedOut).toBe(false)
      expect(result.stdoutTruncated || result.stderrTruncated).toBe(false)
      expect(result.endedAt.getTime()).toBeGreaterThanOrEqual(result.startedAt.getTime())
      expect(readFileSync(join(workspace, "f"), "utf8")).toBe("data\n")
      expect(yield* leftovers(rt)).toEqual([])
    }))

  it.effect("a sandbox with network none sees only the loopback interface, in /workspace", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const result = yield* rt.run(
        {
          image: IMAGE,
          cmd: ["sh", "-c", "ls /sys/class/net; pwd; id -u"],
          workingDir: "/workspace",
          user: "65532:65532",
          labels: TEST_LABEL
        },
        { timeout: "20 seconds" }
      )
      expect(text(result.stdout)).toBe("lo\n/workspace\n65532\n")
      expect(result.exitCode).toBe(0)
    }))

  it.effect("a timeout stops `sleep 100`, reports it, and leaves nothing behind", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const started = Date.now()
      const result = yield* rt.run(
        { image: IMAGE, cmd: ["sh", "-c", "echo before; sleep 100"], labels: TEST_LABEL },
        { timeout: "1 second", stopGrace: "1 second" }
      )
      expect(result.timedOut).toBe(true)
      expect(result.exitCode).not.toBe(0)
      expect(text(result.stdout)).toBe("before\n")
      expect(Date.now() - started).toBeLessThan(15_000)
      expect(yield* leftovers(rt)).toEqual([])
    }))

  it.effect("interrupting a run removes its container", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const fiber = yield* Effect.fork(rt.run({ image: IMAGE, cmd: ["sleep", "100"], labels: TEST_LABEL }, { timeout: "60 seconds" }))
      // Wait until the container exists, then cancel the run.
      yield* leftovers(rt).pipe(
        Effect.filterOrFail((list) => list.length > 0),
        Effect.retry({ times: 100, schedule: Schedule.spaced("50 millis") })
      )
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* leftovers(rt)).toEqual([])
    }))

  it.effect("a command that cannot start fails with ContainerFailed and leaves nothing behind", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const error = yield* rt.run({ image: IMAGE, cmd: ["/no/such/command"], labels: TEST_LABEL }, { timeout: "20 seconds" }).pipe(
        Effect.flip
      )
      expect(error._tag).toBe("ContainerFailed")
      expect(error.message).toContain("/no/such/command")
      expect(yield* leftovers(rt)).toEqual([])
    }))

  it.effect("caps output: keeps the first bytes, drains the rest, reports truncation", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const result = yield* rt.run(
        { image: IMAGE, cmd: ["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' a; echo err >&2"], labels: TEST_LABEL },
        { timeout: "20 seconds", maxOutputBytes: 1000 }
      )
      expect(result.exitCode).toBe(0)
      expect(text(result.stdout)).toBe("a".repeat(1000))
      expect(result.stdoutTruncated).toBe(true)
      expect(result.stdoutBytes).toBe(100_000)
      expect(text(result.stderr)).toBe("err\n")
      expect(result.stderrTruncated).toBe(false)
    }))

  it.effect("primitives: create, start, wait, logs, inspect, listByLabel, remove", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const id = yield* rt.create({ image: IMAGE, cmd: ["sh", "-c", "echo out; echo err >&2; exit 7"], labels: TEST_LABEL })
      const listed = yield* leftovers(rt)
      expect(listed.map((c) => c.id)).toEqual([id])
      expect(listed[0]?.labels[MANAGED_LABEL]).toBe("true")
      yield* rt.start(id)
      expect(yield* rt.wait(id)).toBe(7)
      const logs = yield* rt.logs(id, { stdout: 100, stderr: 100 })
      expect([text(logs.stdout), text(logs.stderr)]).toEqual(["out\n", "err\n"])
      const details = yield* rt.inspect(id)
      expect(details.running).toBe(false)
      expect(details.exitCode).toBe(7)
      expect(details.raw.HostConfig.NetworkMode).toBe("none")
      yield* rt.remove(id)
      yield* rt.remove(id) // already gone is fine
      const gone = yield* rt.inspect(id).pipe(Effect.flip)
      expect(gone._tag).toBe("ContainerNotFound")
      expect(yield* leftovers(rt)).toEqual([])
    }))

  it.effect("a taken name and killing a container that is not running are conflicts", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const name = `cynode-test-${randomUUID()}`
      const id = yield* rt.create({ image: IMAGE, name, cmd: ["true"], labels: TEST_LABEL })
      yield* Effect.ensuring(
        Effect.gen(function* () {
          expect((yield* rt.inspect(id)).name).toBe(name)
          const taken = yield* rt.create({ image: IMAGE, name, cmd: ["true"], labels: TEST_LABEL }).pipe(Effect.flip)
          expect(taken._tag).toBe("ContainerConflict")
          const notRunning = yield* rt.kill(id).pipe(Effect.flip)
          expect(notRunning._tag).toBe("ContainerConflict")
        }),
        rt.remove(id).pipe(Effect.orDie)
      )
      expect(yield* leftovers(rt)).toEqual([])
    }))

  it.effect("stop ends a running container within the grace period", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const id = yield* rt.create({ image: IMAGE, cmd: ["sleep", "100"], labels: TEST_LABEL })
      yield* Effect.ensuring(
        Effect.gen(function* () {
          yield* rt.start(id)
          expect((yield* rt.inspect(id)).running).toBe(true)
          yield* rt.stop(id, "0 seconds")
          expect(yield* rt.wait(id)).toBe(137)
          yield* rt.stop(id) // already stopped is fine
        }),
        rt.remove(id).pipe(Effect.orDie)
      )
    }))

  it.effect("images: present ones are found with their labels; missing ones fail fast, also with a pull attempt", () =>
    Effect.gen(function* () {
      const rt = yield* ContainerRuntime
      const image = yield* rt.ensureImage(IMAGE)
      expect(image.labels["io.cynode.image"]).toBe("sandbox")
      expect(image.labels["io.cynode.content-hash"]).toMatch(/^sha256:[0-9a-f]{64}$/)

      const missing = yield* rt.ensureImage("localhost/cynode-no-such-image:latest").pipe(Effect.flip)
      expect(missing._tag).toBe("ImageMissing")

      const started = Date.now()
      const unpullable = yield* rt
        .ensureImage("localhost/cynode-no-such-image:latest", { pull: true, pullTimeout: "10 seconds" })
        .pipe(Effect.flip)
      expect(unpullable._tag).toBe("ImageMissing")
      expect(Date.now() - started).toBeLessThan(10_500)

      const createMissing = yield* rt.create({ image: "localhost/cynode-no-such-image:latest", labels: TEST_LABEL }).pipe(Effect.flip)
      expect(createMissing._tag).toBe("ImageMissing")
    }))
})

describe("ContainerRuntime discovery", () => {
  it.live("a dead socket with auto-start disabled fails with RuntimeUnavailable, not a hang", () =>
    Effect.gen(function* () {
      const socket = join(tmpdir(), `cynode-dead-${randomUUID()}.sock`)
      const started = Date.now()
      const error = yield* ContainerRuntime.pipe(
        Effect.provide(ContainerRuntime.layer({ socket, podmanService: "never" })),
        Effect.flip
      )
      expect(error._tag).toBe("RuntimeUnavailable")
      expect(error.message).toContain(socket)
      expect(error.message).toContain("CYNODE_PODMAN_SERVICE=never")
      expect(Date.now() - started).toBeLessThan(3000)
    }))

  it.live("a malformed socket setting is reported as such", () =>
    Effect.gen(function* () {
      const error = yield* ContainerRuntime.pipe(
        Effect.provide(ContainerRuntime.layer({ socket: "ftp://nowhere", podmanService: "never" })),
        Effect.flip
      )
      expect(error._tag).toBe("RuntimeUnavailable")
      expect(error.message).toContain("CYNODE_CONTAINER_SOCKET must be")
    }))

  it.live(
    "starts its own podman service on a socket nothing serves, runs a container through it, and stops it afterwards",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "cynode-own-service-"))
        const socket = join(dir, "run", "podman.sock")
        const seen = yield* Effect.scoped(
          Effect.gen(function* () {
            const rt = yield* ContainerRuntime
            const info = yield* rt.info
            expect(info.source).toBe("own-podman-service")
            expect(info.endpoint).toBe(`unix://${socket}`)
            const pid = info.ownServicePid ?? -1
            expect(processIsAlive(pid)).toBe(true)
            const result = yield* rt.run({ image: IMAGE, cmd: ["echo", "own service"], labels: TEST_LABEL }, { timeout: "20 seconds" })
            expect(text(result.stdout)).toBe("own service\n")
            expect(yield* leftovers(rt)).toEqual([])
            return pid
          }).pipe(Effect.provide(ContainerRuntime.layer({ socket, podmanService: "auto" })))
        )
        expect(processIsAlive(seen)).toBe(false)
        expect(existsSync(socket)).toBe(false)
        rmSync(dir, { recursive: true, force: true })
      }),
    60_000
  )
})

describe("engine plumbing", () => {
  it("parses endpoint settings", () => {
    expect(parseEndpoint("unix:///run/podman/podman.sock")).toEqual({ _tag: "Unix", socketPath: "/run/podman/podman.sock" })
    expect(parseEndpoint("/var/run/docker.sock")).toEqual({ _tag: "Unix", socketPath: "/var/run/docker.sock" })
    expect(parseEndpoint("tcp://127.0.0.1:2375")).toEqual({ _tag: "Tcp", host: "127.0.0.1", port: 2375 })
    expect(parseEndpoint("tcp://[::1]:2375")).toEqual({ _tag: "Tcp", host: "::1", port: 2375 })
    for (const bad of ["", "unix://relative", "tcp://host", "tcp://host:99999", "ssh://me@host"]) {
      expect(parseEndpoint(bad)).toBeUndefined()
    }
  })

  it("create options always carry the managed label, both ulimits, no TTY and network none by default", () => {
    const options = toCreateOptions({ image: IMAGE, labels: { [MANAGED_LABEL]: "false", role: "x" } })
    expect(options.Labels).toEqual({ [MANAGED_LABEL]: "true", role: "x" })
    expect(options.Tty).toBe(false)
    expect(options.HostConfig?.NetworkMode).toBe("none")
    expect(options.HostConfig?.Ulimits?.map((u) => u.Name).sort()).toEqual(["nofile", "nproc"])
    expect(options.Env).toEqual([])
  })

  const Frame = Schema.Struct({ stream: Schema.Literal(1, 2), payload: Schema.Uint8ArrayFromSelf })
  const encode = (frames: ReadonlyArray<typeof Frame.Type>) =>
    Buffer.concat(
      frames.map(({ stream, payload }) => {
        const header = Buffer.alloc(8)
        header[0] = stream
        header.writeUInt32BE(payload.length, 4)
        return Buffer.concat([header, payload])
      })
    )

  it.prop(
    "demultiplexing is independent of how the stream is chunked, and caps keep exactly the first bytes",
    {
      frames: Schema.Array(Frame),
      cuts: Schema.Array(Schema.Int.pipe(Schema.between(0, 4096))),
      cap: Schema.Int.pipe(Schema.between(0, 64))
    },
    ({ frames, cuts, cap }) => {
      const wire = encode(frames)
      const demuxer = new FrameDemuxer({ stdout: cap, stderr: cap })
      const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b)
      let last = 0
      for (const point of [...points, wire.length]) {
        demuxer.push(wire.subarray(last, point))
        last = point
      }
      const all = (stream: 1 | 2) => Buffer.concat(frames.filter((f) => f.stream === stream).map((f) => f.payload))
      const out = demuxer.output()
      expect(Buffer.from(out.stdout)).toEqual(all(1).subarray(0, cap))
      expect(Buffer.from(out.stderr)).toEqual(all(2).subarray(0, cap))
      expect(out.stdoutBytes).toBe(all(1).length)
      expect(out.stdoutTruncated).toBe(all(1).length > cap)
      expect(demuxer.incomplete).toBe(false)
    }
  )
})
