import { useCallback, useEffect, useRef, useState } from "react"
import { describeError, run } from "./api.ts"
import { Either, type Effect } from "effect"

export interface Loaded<A> {
  readonly data: A | undefined
  readonly error: string | undefined
  readonly loading: boolean
  readonly reload: () => void
}

/**
 * Loads with `load` when `key` changes, and again every `everyMs` while the page is visible (the live view of task
 * statuses). `stop` ends the polling once the data can no longer change.
 */
export const usePolled = <A, E>(
  load: () => Effect.Effect<A, E>,
  key: string,
  options: { readonly everyMs?: number; readonly stop?: (data: A) => boolean } = {}
): Loaded<A> => {
  const [data, setData] = useState<A | undefined>(undefined)
  const [error, setError] = useState<string | undefined>(undefined)
  const [loading, setLoading] = useState(true)
  const [tick, setTick] = useState(0)
  const loadRef = useRef(load)
  loadRef.current = load
  const stopRef = useRef(options.stop)
  stopRef.current = options.stop

  useEffect(() => {
    setData(undefined)
    setError(undefined)
    setLoading(true)
  }, [key])

  useEffect(() => {
    let cancelled = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const once = async () => {
      const outcome = await run(loadRef.current())
      if (cancelled) return
      setLoading(false)
      if (Either.isRight(outcome)) {
        setData(outcome.right)
        setError(undefined)
        if (stopRef.current?.(outcome.right) === true) return
      } else {
        setError(describeError(outcome.left))
      }
      if (options.everyMs !== undefined) timer = setTimeout(() => void once(), options.everyMs)
    }
    void once()
    return () => {
      cancelled = true
      if (timer !== undefined) clearTimeout(timer)
    }
  }, [key, tick, options.everyMs])

  const reload = useCallback(() => setTick((t) => t + 1), [])
  return { data, error, loading, reload }
}

/**
 * An admin action behind a button: `act` runs the call, then shows `label` and reloads the page's data, or shows why
 * it failed; it resolves true when the call succeeded. `busy` disables the buttons while one runs.
 */
export const useAction = (reload: () => void) => {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | undefined>(undefined)
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const act = async (label: string, call: Effect.Effect<unknown, unknown>) => {
    setBusy(true)
    setError(undefined)
    setNotice(undefined)
    const outcome = await run(call)
    setBusy(false)
    if (Either.isRight(outcome)) {
      setNotice(label)
      reload()
    } else setError(describeError(outcome.left))
    return Either.isRight(outcome)
  }
  return { busy, error, notice, act, setError }
}
