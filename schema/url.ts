/** The one URL rule: an absolute URL of one of these schemes with a host (`new URL` runs in a browser too). */
export const isHttpUrl = (s: string, schemes: ReadonlyArray<"http:" | "https:"> = ["http:", "https:"]): boolean => {
  try {
    const url = new URL(s)
    return schemes.includes(url.protocol as "http:" | "https:") && url.hostname !== ""
  } catch {
    return false
  }
}
