import type { Readable } from "node:stream"
import { FrameDemuxer, type CapturedOutput, type OutputListener } from "./frames.ts"

/** Reads a framed output stream (attach or logs) into capped stdout/stderr buffers as it arrives. */

export interface OutputCaps {
  readonly stdout: number
  readonly stderr: number
}

export interface OutputReader {
  /** Resolves when the engine closes the stream: after the container exited, or the connection broke. */
  readonly closed: Promise<CapturedOutput>
  /** What has arrived so far, for when we stop waiting for the rest. */
  readonly snapshot: () => CapturedOutput
  /** Stops reading and closes the connection. */
  readonly close: () => void
}

export const readFramed = (stream: Readable, caps: OutputCaps, listener?: OutputListener): OutputReader => {
  const demuxer = new FrameDemuxer(caps, listener)
  const closed = new Promise<CapturedOutput>((resolve) => {
    const finish = () => resolve(demuxer.output())
    stream.on("data", (chunk: Buffer) => demuxer.push(chunk))
    stream.once("end", finish)
    stream.once("close", finish)
    // A broken connection ends the output; the exit code comes from the engine, not from this stream.
    stream.on("error", finish)
  })
  return { closed, snapshot: () => demuxer.output(), close: () => stream.destroy() }
}
