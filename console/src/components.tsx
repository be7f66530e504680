import { useEffect, useRef, type InputHTMLAttributes, type ReactNode } from "react"

/** Small shared pieces: page frame, status badge, alerts, times. */

export const Page = ({ title, children, actions }: { readonly title: string; readonly children: ReactNode; readonly actions?: ReactNode }) => {
  const heading = useRef<HTMLHeadingElement>(null)
  // Moving focus to the new page's heading tells screen-reader and keyboard users that the page changed.
  useEffect(() => {
    document.title = `${title} · CyNode`
    heading.current?.focus()
  }, [title])
  return (
    <section className="page" aria-labelledby="page-title">
      <div className="page-head">
        <h1 id="page-title" tabIndex={-1} ref={heading}>{title}</h1>
        {actions === undefined ? null : <div className="page-actions">{actions}</div>}
      </div>
      {children}
    </section>
  )
}

/** A labelled text input bound to a string state (the label's `for` is the input's `id`). */
export const Field = ({ id, label, value, onValue, ...input }: {
  readonly id: string
  readonly label: string
  readonly value: string
  readonly onValue: (value: string) => void
} & Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "value" | "onChange">) => (
  <>
    <label htmlFor={id}>{label}</label>
    <input id={id} required value={value} onChange={(e) => onValue(e.target.value)} {...input} />
  </>
)

export const StatusBadge = ({ status }: { readonly status: string }) => (
  <span className={`badge badge-${status}`}>{status}</span>
)

export const ErrorMessage = ({ message }: { readonly message: string | undefined }) =>
  message === undefined ? null : <p className="alert alert-error" role="alert">{message}</p>

export const Notice = ({ message }: { readonly message: string | undefined }) =>
  message === undefined ? null : <p className="alert alert-ok" role="status">{message}</p>

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" })

export const Time = ({ at }: { readonly at: string | undefined }) =>
  at === undefined ? <span className="muted">—</span> : <time dateTime={at} title={at}>{dateFormat.format(new Date(at))}</time>

export const duration = (from: string | undefined, to: string | undefined): string | undefined => {
  if (from === undefined || to === undefined) return undefined
  const ms = new Date(to).getTime() - new Date(from).getTime()
  if (!Number.isFinite(ms) || ms < 0) return undefined
  return ms < 1000 ? "under 1 s" : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`
}
