import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core"
import { startUpSystem, stopUpSystem, type UpSystem } from "../../test/support/upSystem.ts"

/**
 * The browser tests' world: the whole system started as a user starts it (scripts/up.ts on free ports, with the
 * console built by `just build`), and Debian's Chromium (/usr/bin/chromium, installed by scripts/bootstrap.sh)
 * driven by playwright-core. Chromium's own calls home are switched off: this machine has no network.
 */

export const CHROMIUM = process.env.CYNODE_CHROMIUM ?? "/usr/bin/chromium"

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions"
]

export interface World {
  readonly system: UpSystem
  readonly browser: Browser
  readonly console: string
}

export const startWorld = async (): Promise<World> => {
  const system = await startUpSystem({ prefix: "console", preloads: ["./scripts/up/parentWatch.mjs"] })
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  return { system, browser, console: `${system.gatewayUrl}/console/` }
}

export const stopWorld = async (world: World | undefined): Promise<void> => {
  if (world === undefined) return
  await world.browser.close()
  await stopUpSystem(world.system, 30_000)
}

export const LAPTOP = { width: 1280, height: 800 }
export const PHONE = { width: 390, height: 844 }

/** A fresh browser profile (no stored session) at a laptop's size unless told otherwise. */
export const newPage = async (world: World, viewport = LAPTOP): Promise<{ context: BrowserContext; page: Page }> => {
  const context = await world.browser.newContext({ viewport, acceptDownloads: true })
  context.setDefaultTimeout(20_000)
  const page = await context.newPage()
  return { context, page }
}

/** Logs in through the login form, as a person does, and waits for the task list. */
export const logIn = async (page: Page, world: World, handle = "admin", password = world.system.adminPassword) => {
  await page.goto(world.console)
  await page.getByRole("heading", { name: "Log in" }).waitFor()
  await page.getByLabel("Handle").fill(handle)
  await page.getByLabel("Password").fill(password)
  await page.getByRole("button", { name: "Log in" }).click()
  await page.getByRole("heading", { name: "Tasks" }).waitFor()
}

/** Creates a command task through the New task form and waits for its page. */
export const createCommandTask = async (page: Page, command: string, name: string) => {
  await page.getByRole("link", { name: "New task" }).first().click()
  await page.getByRole("heading", { name: "New task" }).waitFor()
  await page.getByRole("radio", { name: "Command" }).check()
  await page.getByLabel("Commands (one per line)").fill(command)
  await page.getByLabel("Name (optional)").fill(name)
  await page.getByRole("button", { name: "Create task" }).click()
  await page.getByRole("heading", { name }).waitFor()
}

/** Waits until the task page shows this status (the badge a person reads). */
export const waitForStatus = (page: Page, status: string, timeout = 60_000) =>
  page.getByTestId("task-status").getByText(status, { exact: true }).waitFor({ timeout })
