/**
 * A reference process for the footprint figure: started with `node --import tsx`, it imports nothing, or (with
 * `libs`) the libraries every CyNode program loads, then idles until it is killed. Its RSS is the floor a program
 * built on them starts from.
 */
if (process.argv[2] === "libs") {
  await import("effect")
  await import("@effect/platform/HttpApi")
  await import("@effect/platform-node/NodeHttpServer")
  await import("@effect/platform-node/NodeRuntime")
  await import("@effect/sql-pg/PgClient")
}
process.stdout.write("ready\n")
setInterval(() => undefined, 60_000)
