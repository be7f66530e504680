import { describe, expect, it } from "@effect/vitest"
import Docker from "dockerode"
import { Effect, Schedule } from "effect"
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { networkInterfaces } from "node:os"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { freePort } from "../support/programs.ts"

/** Builds (or reuses) the stand-in image and runs it as a real container, published on loopback only. */

const BUILD_SCRIPT = fileURLToPath(new URL("../../images/inference-standin/build.sh", import.meta.url))
const SOCKET = process.env["CYNODE_CONTAINER_SOCKET"]?.replace(/^unix:\/\//, "") ?? "/run/podman/podman.sock"

const build = Effect.promise(() => promisify(execFile)(BUILD_SCRIPT, [], { timeout: 180_000 })).pipe(
  Effect.map(({ stdout, stderr }) => ({ image: stdout.trim().split("\n").pop() ?? "", log: stderr }))
)

const get = (url: string) =>
  Effect.tryPromise(async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) })
    return { status: res.status, standin: res.headers.get("x-cynode-standin"), body: (await res.json()) as unknown }
  })

describe("inference stand-in image", () => {
  it.scopedLive("builds idempotently and serves /api/version from a container on 127.0.0.1 only", () =>
    Effect.gen(function*() {
      const docker = new Docker({ socketPath: SOCKET })
      const { image } = yield* build
      expect(image).toBe("localhost/cynode-inference-standin:latest")
      const built = yield* Effect.promise(() => docker.getImage(image).inspect())
      const again = yield* build
      expect(again.log).toContain("up to date")
      expect((yield* Effect.promise(() => docker.getImage(image).inspect())).Id).toBe(built.Id)
      expect(built.Config.Labels?.["io.cynode.standin"]).toBe("true")

      const port = yield* Effect.promise(freePort)
      const container = yield* Effect.acquireRelease(
        Effect.promise(() =>
          docker.createContainer({
            name: `cynode-standin-test-${randomBytes(4).toString("hex")}`,
            Image: image,
            Labels: { "io.cynode.managed": "true", "io.cynode.role": "inference-test" },
            ExposedPorts: { "11434/tcp": {} },
            HostConfig: {
              NetworkMode: "bridge",
              PortBindings: { "11434/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] },
              Ulimits: [
                { Name: "nofile", Soft: 1024, Hard: 1024 },
                { Name: "nproc", Soft: 1024, Hard: 1024 }
              ]
            }
          })
        ),
        (c) => Effect.promise(() => c.remove({ force: true }).catch(() => undefined))
      )
      yield* Effect.promise(() => container.start())

      const version = yield* get(`http://127.0.0.1:${port}/api/version`).pipe(
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("20 seconds")))
      )
      expect(version).toEqual({ status: 200, standin: "true", body: { version: "0.0.0-cynode-standin" } })

      const info = yield* Effect.promise(() => container.inspect())
      expect(info.NetworkSettings.Ports["11434/tcp"]).toEqual([{ HostIp: "127.0.0.1", HostPort: String(port) }])
      // The same port on any other host address must not answer.
      const external = Object.values(networkInterfaces()).flat().filter((a) => a !== undefined && !a.internal && a.family === "IPv4")
      for (const address of external) {
        const reached = yield* get(`http://${address?.address}:${port}/api/version`).pipe(Effect.either)
        expect(reached._tag).toBe("Left")
      }

      // SIGTERM (the image's stop signal) ends the server cleanly.
      yield* Effect.promise(() => container.stop({ t: 5 }))
      expect((yield* Effect.promise(() => container.inspect())).State.ExitCode).toBe(0)
    }), 120_000)
})
