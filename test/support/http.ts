/** One HTTP call to a program under test, answered as status, headers, text and (when it is JSON) the parsed body. */

export interface HttpResult {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown
}

export interface HttpCallOptions {
  /** A bearer token for the Authorization header. */
  readonly token?: string
  /** Sent as JSON. */
  readonly body?: unknown
  /** A raw body sent as-is (for malformed input). */
  readonly rawBody?: string
  readonly headers?: Record<string, string>
}

/** `method baseUrl+path`; a body gets `content-type: application/json` unless the caller set one. */
export const httpCall = async (
  baseUrl: string,
  method: string,
  path: string,
  options: HttpCallOptions = {}
): Promise<HttpResult> => {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
  if (body !== undefined) headers["content-type"] ??= "application/json"
  const res = await fetch(baseUrl + path, { method, headers, ...(body !== undefined ? { body } : {}) })
  const text = await res.text()
  let json: unknown
  try {
    json = text === "" ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}
