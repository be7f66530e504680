import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Page } from "playwright-core"
import { createCommandTask, LAPTOP, logIn, newPage, PHONE, startWorld, stopWorld, waitForStatus, type World } from "../test/browser.ts"

/**
 * `just console-screenshots`: starts the system, fills it with a few tasks, and writes a picture of every console
 * page at a laptop and a phone width to docs/console/ (shown in the README).
 */

const outDir = fileURLToPath(new URL("../../docs/console/", import.meta.url))

const shoot = async (page: Page, name: string) => {
  await page.waitForLoadState("networkidle")
  await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true })
  process.stdout.write(`docs/console/${name}.png\n`)
}

const run = async (world: World) => {
  for (const [size, viewport] of [["laptop", LAPTOP], ["phone", PHONE]] as const) {
    const { context, page } = await newPage(world, viewport)
    await page.goto(world.console)
    await page.getByRole("heading", { name: "Log in" }).waitFor()
    await shoot(page, `login-${size}`)
    await logIn(page, world)
    if (size === "laptop") {
      await createCommandTask(
        page,
        "echo 'building…'; for i in 1 2 3; do echo step $i; done; mkdir -p /workspace/out; echo ok > /workspace/out/report.txt; echo done",
        "build-report"
      )
      await waitForStatus(page, "completed")
      await createCommandTask(page, "echo checking; exit 2", "lint-check")
      await waitForStatus(page, "failed")
      await createCommandTask(page, "for i in 1 2 3; do echo tick $i; sleep 1; done; echo still working >&2; sleep 600", "long-sleeper")
      await waitForStatus(page, "running")
    }
    await page.getByRole("link", { name: "Tasks" }).first().click()
    await page.getByRole("row").filter({ hasText: "build-report" }).waitFor()
    await shoot(page, `tasks-${size}`)
    await page.getByRole("link", { name: "New task" }).first().click()
    await page.getByLabel("Commands (one per line)").fill("uname -a\nls -la /workspace")
    await shoot(page, `new-task-${size}`)
    await page.getByRole("link", { name: "Tasks" }).first().click()
    await page.getByRole("link", { name: "build-report" }).click()
    await waitForStatus(page, "completed")
    await page.getByRole("row").filter({ hasText: "report.txt" }).waitFor()
    await shoot(page, `task-${size}`)
    await page.getByRole("link", { name: "Tasks" }).first().click()
    await page.getByRole("link", { name: "long-sleeper" }).click()
    await waitForStatus(page, "running")
    await page.getByTestId("task-output").getByText(/still working/).waitFor()
    await shoot(page, `task-running-${size}`)
    await page.getByRole("link", { name: "Users" }).click()
    if (size === "laptop") {
      await page.getByLabel("Handle").fill("alice")
      await page.getByLabel("Password").fill("alice-password-42")
      await page.getByRole("button", { name: "Create user" }).click()
      await page.getByRole("row").filter({ hasText: "alice" }).waitFor()
    }
    await page.getByRole("row").filter({ hasText: "alice" }).waitFor()
    await shoot(page, `users-${size}`)
    await page.getByRole("link", { name: "Nodes" }).click()
    await page.getByRole("row").filter({ hasText: world.system.nodeSlug }).getByText("active", { exact: true }).waitFor()
    await shoot(page, `nodes-${size}`)
    await context.close()
  }
}

const world = await startWorld()
try {
  await run(world)
} finally {
  await stopWorld(world)
}
