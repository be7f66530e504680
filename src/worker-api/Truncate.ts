/**
 * Bounded, UTF-8-safe job output (worker-node.md §6 "Limits"). The runtime keeps each stream's first `cap` bytes and
 * drains the rest (counting it), so a chatty sandbox never blocks and memory stays bounded. Finishing drops an incomplete
 * trailing sequence left by the cut, decodes with U+FFFD, and re-cuts at a code point if replacements grew the
 * text past the cap.
 */

export interface CappedText {
  readonly text: string
  /** True iff bytes of the original output are missing from `text`. */
  readonly truncated: boolean
}

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: false })

const isContinuation = (byte: number): boolean => (byte & 0xc0) === 0x80

/** Length of the sequence a lead byte announces (0 for a continuation or an invalid lead). */
const sequenceLength = (lead: number): number =>
  lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0

/** How many bytes at the end of `bytes` form the start of a sequence that the cut left incomplete. */
export const incompleteTail = (bytes: Uint8Array): number => {
  const end = bytes.length
  let i = end - 1
  // A sequence has at most 3 continuation bytes after its lead.
  while (i >= 0 && end - i <= 3 && isContinuation(bytes[i]!)) i--
  if (i < 0) return 0
  const need = sequenceLength(bytes[i]!)
  return need > 1 && end - i < need ? end - i : 0
}

/** Largest prefix of valid UTF-8 `bytes` that fits in `cap` bytes without splitting a code point. */
const cutAtCodePoint = (bytes: Uint8Array, cap: number): Uint8Array => {
  if (bytes.length <= cap) return bytes
  let end = cap
  while (end > 0 && isContinuation(bytes[end]!)) end--
  return bytes.subarray(0, end)
}

/**
 * Turns collected bytes into text of at most `cap` UTF-8 bytes. `dropped` says whether the collector already
 * discarded bytes after the cap.
 */
export const finishUtf8 = (collected: Uint8Array, cap: number, dropped: boolean): CappedText => {
  // Only a cut can leave a half sequence behind; an untruncated output is decoded as it is.
  const tail = dropped ? incompleteTail(collected) : 0
  const text = decoder.decode(tail > 0 ? collected.subarray(0, collected.length - tail) : collected)
  const encoded = encoder.encode(text)
  if (encoded.length <= cap) return { text, truncated: dropped || tail > 0 }
  // Invalid input decoded to U+FFFD (3 bytes each) can outgrow the cap: re-cut at a code point.
  return { text: decoder.decode(cutAtCodePoint(encoded, cap)), truncated: true }
}

/** Caps a string already in memory (an inference reply) like sandbox output. */
export const capText = (text: string, cap: number): CappedText => {
  const bytes = encoder.encode(text)
  return bytes.length <= cap
    ? { text, truncated: false }
    : finishUtf8(bytes.subarray(0, cap), cap, true)
}

/**
 * Appends one node-written line (`cynode-worker: …`) to captured stderr, keeping the whole within `cap`: the
 * captured part is cut to make room, so the node's line is never lost and the cap never broken.
 */
export const withNodeLine = (captured: CappedText, line: string, cap: number): CappedText => {
  const note = capText(`${line}\n`, cap)
  // One byte is reserved for the newline that may separate the captured text from the note.
  const room = Math.max(cap - encoder.encode(note.text).length - 1, 0)
  const head = encoder.encode(captured.text)
  const prefix = head.length <= room ? captured : finishUtf8(head.subarray(0, room), room, true)
  const separator = prefix.text === "" || prefix.text.endsWith("\n") ? "" : "\n"
  return { text: `${prefix.text}${separator}${note.text}`, truncated: captured.truncated || prefix.truncated }
}
