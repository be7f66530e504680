// Preloaded into every program `just up` starts (node --import). The programs run in their own process groups, so
// a Ctrl-C reaches only `up`, which stops them in order. If `up` itself dies (SIGKILL, crash), the pipe on our stdin
// closes: we then stop ourselves gracefully, so nothing is left running.
process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"))
process.stdin.on("error", () => process.kill(process.pid, "SIGTERM"))
process.stdin.resume()
process.stdin.unref()
