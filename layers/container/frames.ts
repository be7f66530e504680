/**
 * The engine's multiplexed output framing (containers created without a TTY): each frame is an 8-byte header
 * (byte 0 the stream, 1 = stdout and 2 = stderr; bytes 4-7 the big-endian payload length) and the payload.
 * Frames may be split anywhere across chunks. Output beyond a cap is drained and counted, never kept.
 */

/** Keeps the first `cap` bytes written, counts the rest. */
export class CappedSink {
  private readonly chunks: Array<Uint8Array> = []
  private kept = 0
  /** Every byte written, kept or not. */
  total = 0

  constructor(readonly cap: number) {}

  /** Returns the part kept (a copy), or undefined when the cap dropped all of it. */
  write(bytes: Uint8Array): Uint8Array | undefined {
    this.total += bytes.length
    const room = this.cap - this.kept
    if (room <= 0 || bytes.length === 0) return undefined
    const part = Uint8Array.from(bytes.length <= room ? bytes : bytes.subarray(0, room))
    this.chunks.push(part)
    this.kept += part.length
    return part
  }

  get truncated(): boolean {
    return this.total > this.cap
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.chunks)
  }
}

export interface CapturedOutput {
  readonly stdout: Uint8Array
  readonly stderr: Uint8Array
  readonly stdoutTruncated: boolean
  readonly stderrTruncated: boolean
  /** Bytes the container wrote to each stream, including what the caps dropped. */
  readonly stdoutBytes: number
  readonly stderrBytes: number
}

const HEADER = 8

export type OutputStreamName = "stdout" | "stderr"

/** Sees each kept piece of output as it arrives (live streaming); never the bytes a cap dropped. */
export type OutputListener = (stream: OutputStreamName, bytes: Uint8Array) => void

/** Incremental demultiplexer: feed it chunks in order, read the capped streams at the end. */
export class FrameDemuxer {
  readonly stdout: CappedSink
  readonly stderr: CappedSink
  private readonly header = new Uint8Array(HEADER)
  private headerFill = 0
  private remaining = 0
  private current: CappedSink | undefined

  constructor(caps: { readonly stdout: number; readonly stderr: number }, private readonly listener?: OutputListener) {
    this.stdout = new CappedSink(caps.stdout)
    this.stderr = new CappedSink(caps.stderr)
  }

  push(chunk: Uint8Array): void {
    let offset = 0
    while (offset < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - offset)
        const kept = this.current?.write(chunk.subarray(offset, offset + take))
        if (kept !== undefined && this.listener !== undefined) {
          this.listener(this.current === this.stderr ? "stderr" : "stdout", kept)
        }
        this.remaining -= take
        offset += take
        continue
      }
      const take = Math.min(HEADER - this.headerFill, chunk.length - offset)
      this.header.set(chunk.subarray(offset, offset + take), this.headerFill)
      this.headerFill += take
      offset += take
      if (this.headerFill === HEADER) {
        this.headerFill = 0
        this.remaining = new DataView(this.header.buffer).getUint32(4)
        // Stream 0 (stdin echo) and 1 are stdout; unknown stream ids are skipped, not guessed at.
        const stream = this.header[0]
        this.current = stream === 2 ? this.stderr : stream === 0 || stream === 1 ? this.stdout : undefined
      }
    }
  }

  /** True when the input stopped in the middle of a frame (the connection was cut). */
  get incomplete(): boolean {
    return this.headerFill > 0 || this.remaining > 0
  }

  output(): CapturedOutput {
    return {
      stdout: this.stdout.bytes(),
      stderr: this.stderr.bytes(),
      stdoutTruncated: this.stdout.truncated,
      stderrTruncated: this.stderr.truncated,
      stdoutBytes: this.stdout.total,
      stderrBytes: this.stderr.total
    }
  }
}
