/**
 * The bench plot: latency percentiles against concurrency, one panel per figure (sandbox tasks end to end versus
 * direct runs; the dispatcher's submit→dispatch in a burst), on a log scale. The chart is built once as a list of
 * drawing primitives and written as SVG; the PNG is that SVG rendered by resvg (a maintained renderer with prebuilt
 * binaries in its npm package, no system tool needed).
 */
import type { Parallel } from "./parallel.ts"
import { Resvg } from "@resvg/resvg-js"
import { type Dispatcher, NODE_SANDBOX_LIMIT } from "./targets.ts"

// A monospace glyph is about 0.6 em wide; text is drawn at 10 px per scale step.
const textWidth = (text: string, scale: number) => [...text].length * 6 * scale

export interface Series {
  readonly label: string
  readonly color: string
  readonly dashed: boolean
  /** (x, y) with x one of the panel's xs; y in ms (> 0). */
  readonly points: ReadonlyArray<readonly [number, number]>
}

export interface Panel {
  readonly title: string
  readonly xLabel: string
  readonly xs: ReadonlyArray<number>
  readonly series: ReadonlyArray<Series>
}

type Primitive =
  | { readonly kind: "rect"; readonly x: number; readonly y: number; readonly w: number; readonly h: number; readonly fill: string }
  | {
    readonly kind: "line"
    readonly x1: number
    readonly y1: number
    readonly x2: number
    readonly y2: number
    readonly color: string
    readonly width: number
    readonly dashed: boolean
  }
  | {
    readonly kind: "text"
    readonly x: number
    readonly y: number
    readonly text: string
    readonly color: string
    readonly scale: number
    readonly anchor: "start" | "middle" | "end"
  }

const PANEL_W = 560
const HEIGHT = 480
const MARGIN = { left: 84, right: 24, top: 56, bottom: 150 }
const INK = "#222222"
const GRID = "#dddddd"

/** 1-2-5 ticks covering [lo, hi]. */
const logTicks = (lo: number, hi: number) => {
  const ticks: Array<number> = []
  for (let decade = Math.floor(Math.log10(lo)); decade <= Math.ceil(Math.log10(hi)); decade++) {
    for (const m of [1, 2, 5]) ticks.push(m * 10 ** decade)
  }
  const below = ticks.filter((t) => t <= lo).at(-1) ?? ticks[0]!
  const above = ticks.find((t) => t >= hi) ?? ticks.at(-1)!
  return ticks.filter((t) => t >= below && t <= above)
}

const tickLabel = (ms: number) => (ms >= 1000 ? `${ms / 1000} s` : ms >= 1 ? `${ms} ms` : `${ms * 1000} µs`)

const panelPrimitives = (panel: Panel, offsetX: number): Array<Primitive> => {
  const out: Array<Primitive> = []
  const left = offsetX + MARGIN.left
  const right = offsetX + PANEL_W - MARGIN.right
  const top = MARGIN.top
  const bottom = HEIGHT - MARGIN.bottom
  // The title at double size when it fits its panel.
  const titleScale = textWidth(panel.title, 2) <= PANEL_W - 8 ? 2 : 1
  out.push({ kind: "text", x: offsetX + PANEL_W / 2, y: 16, text: panel.title, color: INK, scale: titleScale, anchor: "middle" })
  const ys = panel.series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => y > 0 && Number.isFinite(y))
  if (ys.length === 0) {
    out.push({ kind: "text", x: (left + right) / 2, y: (top + bottom) / 2, text: "no data", color: INK, scale: 2, anchor: "middle" })
    return out
  }
  const ticks = logTicks(Math.min(...ys), Math.max(...ys))
  const [lo, hi] = [Math.log10(ticks[0]!), Math.log10(ticks.at(-1)!)]
  const yOf = (ms: number) => bottom - ((Math.log10(ms) - lo) / Math.max(hi - lo, 1e-9)) * (bottom - top)
  const xOf = (x: number) => {
    const i = panel.xs.indexOf(x)
    return panel.xs.length === 1 ? (left + right) / 2 : left + 20 + (i * (right - left - 40)) / (panel.xs.length - 1)
  }
  for (const t of ticks) {
    out.push({ kind: "line", x1: left, y1: yOf(t), x2: right, y2: yOf(t), color: GRID, width: 1, dashed: false })
    out.push({ kind: "text", x: left - 6, y: yOf(t) - 3, text: tickLabel(t), color: INK, scale: 1, anchor: "end" })
  }
  out.push({ kind: "line", x1: left, y1: top, x2: left, y2: bottom, color: INK, width: 1, dashed: false })
  out.push({ kind: "line", x1: left, y1: bottom, x2: right, y2: bottom, color: INK, width: 1, dashed: false })
  for (const x of panel.xs) {
    out.push({ kind: "line", x1: xOf(x), y1: bottom, x2: xOf(x), y2: bottom + 5, color: INK, width: 1, dashed: false })
    out.push({ kind: "text", x: xOf(x), y: bottom + 9, text: String(x), color: INK, scale: 2, anchor: "middle" })
  }
  out.push({ kind: "text", x: (left + right) / 2, y: bottom + 30, text: panel.xLabel, color: INK, scale: 1, anchor: "middle" })
  for (const s of panel.series) {
    const pts = s.points.filter(([, y]) => y > 0 && Number.isFinite(y)).map(([x, y]) => [xOf(x), yOf(y)] as const)
    for (let i = 1; i < pts.length; i++) {
      out.push({ kind: "line", x1: pts[i - 1]![0], y1: pts[i - 1]![1], x2: pts[i]![0], y2: pts[i]![1], color: s.color, width: 2, dashed: s.dashed })
    }
    for (const [x, y] of pts) out.push({ kind: "rect", x: x - 3, y: y - 3, w: 7, h: 7, fill: s.color })
  }
  panel.series.forEach((s, i) => {
    const y = bottom + 52 + i * 20
    out.push({ kind: "line", x1: left, y1: y + 6, x2: left + 36, y2: y + 6, color: s.color, width: 2, dashed: s.dashed })
    out.push({ kind: "text", x: left + 46, y: y + 2, text: s.label, color: INK, scale: 1, anchor: "start" })
  })
  return out
}

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const toSvg = (width: number, prims: ReadonlyArray<Primitive>) => {
  const body = prims.map((p) => {
    switch (p.kind) {
      case "rect":
        return `<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" fill="${p.fill}"/>`
      case "line":
        return `<line x1="${p.x1.toFixed(1)}" y1="${p.y1.toFixed(1)}" x2="${p.x2.toFixed(1)}" y2="${p.y2.toFixed(1)}" stroke="${p.color}" stroke-width="${p.width}"${
          p.dashed ? ' stroke-dasharray="6 4"' : ""
        }/>`
      case "text":
        return `<text x="${p.x.toFixed(1)}" y="${(p.y + 7 * p.scale).toFixed(1)}" font-family="monospace" font-size="${10 * p.scale}" fill="${p.color}" text-anchor="${p.anchor}">${
          escapeXml(p.text)
        }</text>`
    }
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEIGHT}" viewBox="0 0 ${width} ${HEIGHT}">\n` +
    `<rect width="100%" height="100%" fill="#ffffff"/>\n${body.join("\n")}\n</svg>\n`
}

const toPng = (svg: string): Buffer =>
  new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans Mono" } }).render().asPng()

/** The panels side by side, as SVG text and PNG bytes. */
export const renderPlot = (panels: ReadonlyArray<Panel>) => {
  const width = PANEL_W * Math.max(1, panels.length)
  const prims = panels.flatMap((panel, i) => panelPrimitives(panel, i * PANEL_W))
  const svg = toSvg(width, prims)
  return { svg, png: toPng(svg) }
}

/** The bench's two panels: figure 3 (sandbox tasks) and figure 2 (dispatcher), whichever were measured. */
export const benchPanels = (parallel: Parallel | undefined, dispatcher: Dispatcher | undefined): ReadonlyArray<Panel> => {
  const panels: Array<Panel> = []
  if (parallel !== undefined) {
    const levels = parallel.levels
    panels.push({
      title: "Sandbox tasks: latency vs concurrency",
      xLabel: `concurrent echo tasks (node limit ${NODE_SANDBOX_LIMIT})`,
      xs: levels.map((l) => l.concurrency),
      series: [
        { label: "end to end p50", color: "#1f77b4", dashed: false, points: levels.map((l) => [l.concurrency, l.endToEnd.latency.medianMs] as const) },
        { label: "end to end p95", color: "#1f77b4", dashed: true, points: levels.map((l) => [l.concurrency, l.endToEnd.latency.p95Ms] as const) },
        { label: "direct run p50", color: "#ff7f0e", dashed: false, points: levels.map((l) => [l.concurrency, l.direct.latency.medianMs] as const) },
        { label: "direct run p95", color: "#ff7f0e", dashed: true, points: levels.map((l) => [l.concurrency, l.direct.latency.p95Ms] as const) },
        { label: "direct run of the worker's sandbox spec p50", color: "#9467bd", dashed: false, points: levels.map((l) => [l.concurrency, l.directSandbox.latency.medianMs] as const) }
      ]
    })
  }
  if (dispatcher !== undefined) {
    const levels = dispatcher.results
    panels.push({
      title: "Dispatcher: submit→dispatch",
      xLabel: `in-flight jobs per node (${dispatcher.jobs} jobs burst, ${dispatcher.paced} paced)`,
      xs: levels.map((l) => l.inflightPerNode),
      series: [
        { label: "burst p50", color: "#2ca02c", dashed: false, points: levels.map((l) => [l.inflightPerNode, l.burst.latencyMs.p50] as const) },
        { label: "burst p95", color: "#2ca02c", dashed: true, points: levels.map((l) => [l.inflightPerNode, l.burst.latencyMs.p95] as const) },
        { label: "paced p50", color: "#d62728", dashed: false, points: levels.map((l) => [l.inflightPerNode, l.paced.latencyMs.p50] as const) },
        { label: "paced p95", color: "#d62728", dashed: true, points: levels.map((l) => [l.inflightPerNode, l.paced.latencyMs.p95] as const) },
        { label: "original design, burst p50 (1 job per 1 s tick)", color: "#7f7f7f", dashed: true, points: levels.map((l) => [l.inflightPerNode, dispatcher.model.burst.latencyMs.p50] as const) }
      ]
    })
  }
  return panels
}
