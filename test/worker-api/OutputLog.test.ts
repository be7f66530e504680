import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as fc from "effect/FastCheck"
import { FrameDemuxer } from "../../layers/container/frames.ts"
import { followOutput } from "../../src/worker-api/OutputFollow.ts"
import { OutputLog } from "../../src/worker-api/OutputLog.ts"

/** The live output log: whole UTF-8 text at every chunk edge, numbered chunks, bounded by the output cap. */

const textOf = (log: OutputLog, stream: "stdout" | "stderr") =>
  log.since(0).filter((c) => c.stream === stream).map((c) => c.text).join("")

/** Cuts `bytes` at the given offsets. */
const cut = (bytes: Uint8Array, offsets: ReadonlyArray<number>) => {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b)
  const pieces: Array<Uint8Array> = []
  let from = 0
  for (const p of [...points, bytes.length]) {
    pieces.push(bytes.subarray(from, p))
    from = p
  }
  return pieces
}

describe("OutputLog", () => {
  it("never splits a code point across chunks, whatever the read boundaries", () => {
    fc.assert(
      // Text without U+FFFD of its own, so any U+FFFD in a chunk can only come from a split code point.
      fc.property(fc.string({ unit: "grapheme", maxLength: 60 }).filter((t) => !t.includes("\uFFFD")), fc.array(fc.nat(400), { maxLength: 12 }), (text, offsets) => {
        const log = new OutputLog()
        const bytes = new TextEncoder().encode(text)
        for (const piece of cut(bytes, offsets)) {
          log.append("stdout", piece)
          // Read after every piece, so no chunk is merged with the next: each must be whole text on its own.
          for (const c of log.since(0)) expect(c.text).not.toContain("\uFFFD")
        }
        log.end()
        expect(textOf(log, "stdout")).toBe(text)
      })
    )
  })

  it("decodes invalid bytes like the final result does (U+FFFD), at the end too", () => {
    const log = new OutputLog()
    log.append("stderr", Uint8Array.of(0x61, 0xff, 0x62, 0xe2, 0x82))
    log.end()
    expect(textOf(log, "stderr")).toBe("a\uFFFDb\uFFFD")
  })

  it("numbers chunks in order, keeps streams apart and merges only what nobody has read", () => {
    const log = new OutputLog()
    const enc = (s: string) => new TextEncoder().encode(s)
    log.append("stdout", enc("a"))
    log.append("stdout", enc("b"))
    expect(log.since(0)).toEqual([{ seq: 1, stream: "stdout", text: "ab" }])
    log.append("stdout", enc("c"))
    log.append("stderr", enc("x"))
    log.append("stdout", enc("d"))
    expect(log.since(1)).toEqual([
      { seq: 2, stream: "stdout", text: "c" },
      { seq: 3, stream: "stderr", text: "x" },
      { seq: 4, stream: "stdout", text: "d" }
    ])
    expect(log.since(3)).toEqual([{ seq: 4, stream: "stdout", text: "d" }])
  })

  it("sees only what the output cap keeps", () => {
    const log = new OutputLog()
    const demuxer = new FrameDemuxer({ stdout: 4, stderr: 4 }, (stream, bytes) => log.append(stream, bytes))
    const frame = (stream: number, text: string) => {
      const payload = new TextEncoder().encode(text)
      const header = new Uint8Array(8)
      header[0] = stream
      new DataView(header.buffer).setUint32(4, payload.length)
      return Uint8Array.from([...header, ...payload])
    }
    demuxer.push(frame(1, "hello world"))
    demuxer.push(frame(2, "oops"))
    demuxer.push(frame(2, "more"))
    log.end()
    expect(textOf(log, "stdout")).toBe("hell")
    expect(textOf(log, "stderr")).toBe("oops")
    expect(demuxer.output().stdoutTruncated).toBe(true)
  })
})

describe("followOutput (the worker's NDJSON output stream)", () => {
  const lines = (log: OutputLog, after: number) =>
    followOutput(log, after, 50).pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runCollect,
      Effect.map(Chunk.toReadonlyArray)
    )

  it.effect("sends what is there, then what comes, then the end line; resumes after a sequence number", () =>
    Effect.gen(function*() {
      const log = new OutputLog()
      log.append("stdout", new TextEncoder().encode("one\n"))
      setTimeout(() => log.append("stderr", new TextEncoder().encode("two\n")), 10)
      setTimeout(() => log.end(), 120)
      const all = yield* lines(log, 0)
      const parsed = all.filter((l) => l !== "").map((l) => JSON.parse(l))
      expect(parsed).toEqual([
        { seq: 1, stream: "stdout", text: "one\n" },
        { seq: 2, stream: "stderr", text: "two\n" },
        { end: true }
      ])
      // Silence longer than the keep-alive interval shows as empty lines.
      expect(all.filter((l) => l === "").length).toBeGreaterThan(0)
      const resumed = (yield* lines(log, 1)).filter((l) => l !== "").map((l) => JSON.parse(l))
      expect(resumed).toEqual([{ seq: 2, stream: "stderr", text: "two\n" }, { end: true }])
    }), { timeout: 10_000 })
})
