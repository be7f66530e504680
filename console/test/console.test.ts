import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createCommandTask, logIn, newPage, PHONE, startWorld, stopWorld, waitForStatus, type World } from "./browser.ts"

/** What a person sees in the console, against the real gateway, control plane, node and sandbox. */

let world: World | undefined
const the = (): World => {
  if (world === undefined) throw new Error("the system did not start")
  return world
}

beforeAll(async () => {
  world = await startWorld()
})

afterAll(async () => {
  await stopWorld(world)
})

const suffix = () => randomBytes(3).toString("hex")

describe("signing in", () => {
  it("refuses a wrong password with a readable message, then logs in and keeps the session over a reload", async () => {
    const { context, page } = await newPage(the())
    await page.goto(the().console)
    await page.getByLabel("Handle").fill("admin")
    await page.getByLabel("Password").fill("not-the-password")
    await page.getByRole("button", { name: "Log in" }).click()
    const alert = page.getByRole("alert")
    await alert.waitFor()
    expect(await alert.innerText()).toMatch(/invalid|credentials|password/i)

    await page.getByLabel("Password").fill(the().system.adminPassword)
    await page.getByRole("button", { name: "Log in" }).click()
    await page.getByRole("heading", { name: "Tasks" }).waitFor()
    expect(await page.getByRole("navigation", { name: "Main" }).innerText()).toContain("admin")

    await page.reload()
    await page.getByRole("heading", { name: "Tasks" }).waitFor()
    expect(await page.getByRole("heading", { name: "Log in" }).count()).toBe(0)
    await context.close()
  })

  it("refreshes an expired access token without asking again, and logs out", async () => {
    const { context, page } = await newPage(the())
    await logIn(page, the())
    // An access token the gateway refuses, as after its 15 minutes: the console must refresh, not log out.
    await page.evaluate(() => {
      const key = "cynode.console.session"
      const stored = JSON.parse(localStorage.getItem(key) ?? "{}") as Record<string, string>
      localStorage.setItem(key, JSON.stringify({ ...stored, access_token: "expired.token.value" }))
    })
    await page.reload()
    await page.getByRole("heading", { name: "Tasks" }).waitFor()
    await page.getByRole("link", { name: "New task" }).first().click()
    await page.getByRole("heading", { name: "New task" }).waitFor()
    const token = await page.evaluate(() => localStorage.getItem("cynode.console.session") ?? "")
    expect(token).not.toContain("expired.token.value")

    await page.getByRole("button", { name: "Log out" }).click()
    await page.getByRole("heading", { name: "Log in" }).waitFor()
    await page.reload()
    await page.getByRole("heading", { name: "Log in" }).waitFor()
    await context.close()
  })
})

describe("tasks", () => {
  it("creates a command task and shows its output, exit code and status", async () => {
    const { context, page } = await newPage(the())
    await logIn(page, the())
    const name = `hello-${suffix()}`
    await createCommandTask(page, "echo hello from the console && echo to-stderr >&2", name)
    await waitForStatus(page, "completed")
    const output = page.getByTestId("task-output")
    await output.getByText(/hello from the console/).waitFor()
    expect(await output.innerText()).toContain("to-stderr")
    expect((await page.getByTestId("exit-code").innerText()).trim()).toBe("0")

    // The list shows it with its final status; the status filter keeps it under "completed" only.
    await page.getByRole("link", { name: "Tasks" }).first().click()
    const row = page.getByRole("row").filter({ hasText: name })
    await row.getByText("completed", { exact: true }).waitFor()
    await page.getByLabel("Status").selectOption("failed")
    await page.getByText("No tasks with status failed yet.").waitFor()
    expect(await page.getByRole("row").filter({ hasText: name }).count()).toBe(0)
    await page.getByLabel("Status").selectOption("completed")
    await page.getByRole("row").filter({ hasText: name }).waitFor()
    await context.close()
  })

  it("shows the output live, while the task still runs", async () => {
    const { context, page } = await newPage(the())
    await logIn(page, the())
    await createCommandTask(page, "echo first-line; sleep 6; echo second-line", `live-${suffix()}`)
    const output = page.getByTestId("task-output")
    await output.getByText(/first-line/).waitFor()
    // The first line is on screen and the second not yet: the task is still running, and says so.
    expect(await output.innerText()).not.toContain("second-line")
    expect(await page.getByTestId("task-status").innerText()).toBe("running")
    await page.getByRole("heading", { name: /Output/ }).getByText("live").waitFor()
    await output.getByText(/second-line/).waitFor()
    await waitForStatus(page, "completed")
    expect(await output.innerText()).toMatch(/first-line\s+second-line/)
    await context.close()
  })

  it("sends a file in, and downloads the file the task wrote out", async () => {
    const { context, page } = await newPage(the())
    await logIn(page, the())
    await page.getByRole("link", { name: "New task" }).first().click()
    await page.getByRole("heading", { name: "New task" }).waitFor()
    const content = `numbers ${suffix()}\n1 2 3\n`
    await page.getByLabel("Commands (one per line)").fill(
      "mkdir -p /workspace/out && tr a-z A-Z < /workspace/input.txt > /workspace/out/report.txt && echo wrote the report"
    )
    await page.getByLabel("Files to put in /workspace (optional)").setInputFiles({
      name: "input.txt",
      mimeType: "text/plain",
      buffer: Buffer.from(content)
    })
    const name = `files-${suffix()}`
    await page.getByLabel("Name (optional)").fill(name)
    await page.getByRole("button", { name: "Create task" }).click()
    await page.getByRole("heading", { name }).waitFor()
    await waitForStatus(page, "completed")
    await page.getByTestId("task-output").getByText(/wrote the report/).waitFor()
    const row = page.getByRole("row").filter({ hasText: "report.txt" })
    await row.waitFor()
    expect(await row.innerText()).toContain("text/plain")
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      row.getByRole("button", { name: "Download report.txt" }).click()
    ])
    expect(download.suggestedFilename()).toBe("report.txt")
    const saved = await download.path()
    expect(fs.readFileSync(saved, "utf8")).toBe(content.toUpperCase())
    await context.close()
  })

  it("shows a failing command's exit code", async () => {
    const { context, page } = await newPage(the())
    await logIn(page, the())
    await createCommandTask(page, "echo about to fail; exit 3", `fails-${suffix()}`)
    await waitForStatus(page, "failed")
    expect((await page.getByTestId("exit-code").innerText()).trim()).toBe("3")
    await page.getByTestId("task-output").getByText(/about to fail/).waitFor()
    await context.close()
  })

  it("cancels a running task", async () => {
    const { context, page } = await newPage(the())
    await logIn(page, the())
    await createCommandTask(page, "sleep 300", `sleeper-${suffix()}`)
    await waitForStatus(page, "running")
    await page.getByRole("button", { name: "Cancel task" }).click()
    await waitForStatus(page, "canceled")
    expect(await page.getByRole("button", { name: "Cancel task" }).count()).toBe(0)
    await context.close()
  })
})

describe("users (admin)", () => {
  it("creates a user, who can log in; disabling ends that; enabling lets them back", async () => {
    const admin = await newPage(the())
    await logIn(admin.page, the())
    await admin.page.getByRole("link", { name: "Users" }).click()
    await admin.page.getByRole("heading", { name: "Users" }).waitFor()
    const handle = `person-${suffix()}`
    const password = `pw-${randomBytes(9).toString("base64url")}`
    await admin.page.getByLabel("Handle").fill(handle)
    await admin.page.getByLabel("Password").fill(password)
    await admin.page.getByRole("button", { name: "Create user" }).click()
    const row = admin.page.getByRole("row").filter({ hasText: handle })
    await row.getByText("active", { exact: true }).waitFor()

    // The new user logs in (no Users link for them) and sees an empty task list.
    const user = await newPage(the(), PHONE)
    await logIn(user.page, the(), handle, password)
    expect(await user.page.getByRole("link", { name: "Users" }).count()).toBe(0)
    await user.page.getByText("No tasks yet.").waitFor()

    await row.getByRole("button", { name: `Disable ${handle}` }).click()
    await row.getByText("disabled", { exact: true }).waitFor()
    // Their session ended with the disable: the next call is refused and the console asks them to log in.
    await user.page.reload()
    await user.page.getByRole("heading", { name: "Log in" }).waitFor()

    await row.getByRole("button", { name: `Enable ${handle}` }).click()
    await row.getByText("active", { exact: true }).waitFor()
    await logIn(user.page, the(), handle, password)
    await admin.context.close()
    await user.context.close()
  })
})

describe("accessibility and small screens", () => {
  it("logs in and opens a task form with the keyboard alone", async () => {
    const { context, page } = await newPage(the())
    await page.goto(the().console)
    await page.getByRole("heading", { name: "Log in" }).waitFor()
    // Tab order: skip link, brand, handle, password, button.
    await page.getByLabel("Handle").focus()
    await page.keyboard.type("admin")
    await page.keyboard.press("Tab")
    await page.keyboard.type(the().system.adminPassword)
    await page.keyboard.press("Enter")
    await page.getByRole("heading", { name: "Tasks" }).waitFor()
    const newTask = page.getByRole("link", { name: "New task" }).first()
    await newTask.focus()
    await page.keyboard.press("Enter")
    await page.getByRole("heading", { name: "New task" }).waitFor()
    // The new page's heading takes focus, so a screen reader announces where the person is.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("New task")
    await context.close()
  })

  it("names every form control and fits a phone's width on every page", async () => {
    const { context, page } = await newPage(the(), PHONE)
    await page.goto(the().console)
    await page.getByRole("heading", { name: "Log in" }).waitFor()
    const check = async (where: string) => {
      const unnamed = await page.evaluate(() =>
        Array.from(document.querySelectorAll("input, select, textarea, button"))
          .filter((el) => {
            const labelled = el.id !== "" && document.querySelector(`label[for="${el.id}"]`) !== null
            const wrapped = el.closest("label") !== null
            const aria = el.getAttribute("aria-label") ?? el.getAttribute("aria-labelledby")
            const text = el.tagName === "BUTTON" && (el.textContent ?? "").trim() !== ""
            return !(labelled || wrapped || aria !== null || text)
          })
          .map((el) => el.outerHTML.slice(0, 80))
      )
      expect(unnamed, where).toEqual([])
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      expect(overflow, where).toBeLessThanOrEqual(0)
    }
    await check("login")
    await logIn(page, the())
    await check("tasks")
    await createCommandTask(page, "echo small screen", `phone-${suffix()}`)
    await waitForStatus(page, "completed")
    await check("task")
    await page.getByRole("link", { name: "New task" }).first().click()
    await page.getByRole("heading", { name: "New task" }).waitFor()
    await check("new task")
    await page.getByRole("link", { name: "Users" }).click()
    await page.getByRole("heading", { name: "Users" }).waitFor()
    await page.getByRole("row").nth(1).waitFor()
    await check("users")
    await page.getByRole("link", { name: "Nodes" }).click()
    await page.getByRole("heading", { name: "Nodes" }).waitFor()
    await page.getByRole("row").filter({ hasText: the().system.nodeSlug }).waitFor()
    await check("nodes")
    await context.close()
  })
})

describe("nodes (admin)", () => {
  it("shows the node with its load, drains it, and enables it again", async () => {
    const { context, page } = await newPage(the())
    await logIn(page, the())
    await page.getByRole("link", { name: "Nodes" }).click()
    await page.getByRole("heading", { name: "Nodes" }).waitFor()
    const slug = the().system.nodeSlug
    const row = page.getByRole("row").filter({ hasText: slug })
    await row.getByText("active", { exact: true }).waitFor()
    expect(await row.locator('td[data-label="Running jobs"]').innerText()).toMatch(/^\d+$/)
    expect(await row.locator('td[data-label="Free slots"]').innerText()).toMatch(/^\d+$/)

    await row.getByRole("button", { name: `Drain ${slug}` }).click()
    await row.getByText(/^(draining|drained)$/).waitFor()
    await page.getByRole("status").getByText(/Draining/).waitFor()
    expect(await row.getByRole("button", { name: `Drain ${slug}` }).count()).toBe(0)

    await row.getByRole("button", { name: `Enable ${slug}` }).click()
    await row.getByRole("button", { name: `Drain ${slug}` }).waitFor()
    expect(await row.getByText(/^(draining|drained)$/).count()).toBe(0)

    // Enabled again, it takes work.
    await createCommandTask(page, "echo back in service", `after-drain-${suffix()}`)
    await waitForStatus(page, "completed")
    await context.close()
  })
})
