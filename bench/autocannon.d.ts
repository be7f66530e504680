// The part of autocannon 8's programmatic API the bench uses (the package ships no types).
declare module "autocannon" {
  interface Histogram {
    readonly average: number
    readonly total: number
    readonly p50: number
    readonly p90: number
    readonly p99: number
    readonly max: number
  }
  interface Options {
    readonly url: string
    readonly method?: "GET" | "POST"
    readonly headers?: Record<string, string>
    readonly body?: string
    readonly connections?: number
    readonly pipelining?: number
    readonly duration?: number
    readonly timeout?: number
  }
  interface Result {
    readonly requests: Histogram
    readonly latency: Histogram
    readonly duration: number
    readonly errors: number
    readonly timeouts: number
    readonly non2xx: number
    readonly "2xx": number
    readonly statusCodeStats: Record<string, { readonly count: number }>
  }
  function autocannon(options: Options): Promise<Result>
  export default autocannon
}
