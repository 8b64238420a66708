// The web console in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// against `serve`'s components on loopback: submit a demo-model job through the form, watch it run,
// play the video, take a screenshot.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/config.js";
import { startLocalStack, type LocalStack } from "../../functions/cli/stack.js";
import { silentLogger } from "../../functions/log.js";
import { createVideoEncoder } from "../../functions/worker/encoder.js";
import { createWorker } from "../../functions/worker/worker.js";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let tmp: string;
let stack: LocalStack;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "tw-browser-"));
  const config = loadConfig({ TURBOWAN_DATA_DIR: path.join(tmp, "data"), TURBOWAN_MODELS_DIR: path.join(tmp, "models"), TURBOWAN_PORT: "0", TURBOWAN_BACKEND: "cpu" });
  stack = await startLocalStack(config, { log: silentLogger, tuning: { waitSeconds: 1, progressIntervalMs: 200 } });
  context = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
});

afterAll(async () => {
  await context?.close();
  await stack?.close({ graceMs: 0 });
  rmSync(tmp, { recursive: true, force: true });
});

describe("web console", () => {
  it("submits a demo job through the form, shows progress, plays the video", async () => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(stack.url);
    await expect.poll(() => page.locator("#model option").count()).toBeGreaterThan(0);
    expect(await page.locator("#model").inputValue()).toBe("demo");

    // Record every progress text the page shows, to check that live progress reached it.
    await page.evaluate(() => {
      const seen: string[] = ((window as unknown as { seen: string[] }).seen = []);
      new MutationObserver(() => {
        for (const el of document.querySelectorAll(".progress-text")) seen.push(el.textContent ?? "");
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });

    // Keyboard only: the form is reachable and usable without a mouse.
    await page.getByLabel("Prompt").fill("a red fox running through fresh snow");
    await page.locator("details summary").press("Enter");
    await page.getByLabel("Frames (4k+1)").fill("5");
    await page.getByLabel("Steps").fill("1");
    await page.getByLabel("Seed (blank for random)").fill("7");
    await page.getByRole("button", { name: "Generate" }).press("Enter");

    await expect.poll(() => page.locator("#form-status").textContent(), { timeout: 10_000 }).toMatch(/Queued/);
    const job = page.locator("#jobs > li").first();
    await expect.poll(() => job.locator("h3").textContent()).toBe("a red fox running through fresh snow");

    // Live progress arrives over SSE while the job runs; then it finishes.
    await expect
      .poll(() => job.locator(".status").textContent(), { timeout: 120_000 })
      .toMatch(/succeeded|failed|cancelled/);
    expect(await job.locator(".status").textContent(), (await job.locator(".error").allTextContents()).join(" ")).toBe("succeeded");
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    expect(seen.some((t) => /Denoising \d+\/\d+/.test(t)), seen.join(" | ")).toBe(true);
    const video = job.locator("video");
    expect(await page.locator("#announcer").textContent()).toMatch(/succeeded/);

    // The element loads the mp4 from /files and plays it.
    await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.readyState), { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    expect(await video.evaluate((v: HTMLVideoElement) => v.error)).toBeNull();
    // A 5-frame clip lasts 0.31 s: loop it so a busy CI machine still catches it playing.
    await video.evaluate((v: HTMLVideoElement) => {
      v.loop = true;
      return v.play();
    });
    await expect
      .poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime > 0 && !v.paused), { timeout: 10_000 })
      .toBe(true);
    // Every frame is in the file (5 at 16 fps). The mp4 is encoded while the engine decodes; when
    // it lost the last chunk (the engine's promise can settle before its last onFrames callback)
    // it was a 1-frame clip that Chromium never played.
    expect(await video.evaluate((v: HTMLVideoElement) => v.duration)).toBeCloseTo(5 / 16, 1);
    const size = await video.evaluate((v: HTMLVideoElement) => [v.videoWidth, v.videoHeight]);
    expect(size[0]).toBeGreaterThan(0);
    expect(size[1]).toBeGreaterThan(0);

    // TURBOWAN_SCREENSHOT_DIR keeps the screenshot for a person to look at.
    const shot = path.join(process.env.TURBOWAN_SCREENSHOT_DIR ?? tmp, "console.png");
    await page.screenshot({ path: shot, fullPage: true });
    const bytes = readFileSync(shot);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const meta = await sharp(bytes).metadata();
    expect(meta.width).toBe(1100);
    // Not a blank page: the rendered console has many distinct colours.
    const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    const colours = new Set<number>();
    for (let i = 0; i < data.length; i += 3 * 97) colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
    expect(colours.size).toBeGreaterThan(20);
    expect(bytes.length).toBeGreaterThan(20_000);
    expect(errors).toEqual([]);
  }, 180_000);

  it("shows a refused request's message in the status region", async () => {
    await page.getByLabel("Prompt").fill("   ");
    await page.getByRole("button", { name: "Generate" }).click();
    await expect.poll(() => page.locator("#form-status").textContent()).toMatch(/prompt is empty/);
    expect(await page.locator("#form-status").getAttribute("class")).toBe("error");
  });

  it("uploads a start image for image-to-video, plays the result; Run again queues it again", async () => {
    const png = path.join(tmp, "start.png");
    await sharp({ create: { width: 96, height: 64, channels: 3, background: "#cc6633" } }).png().toFile(png);
    await page.getByLabel("Image to video").check();
    await page.getByLabel("Prompt").fill("the sunset starts to move");
    await page.getByLabel(/Start image/).setInputFiles(png);
    await page.getByRole("button", { name: "Generate" }).click();
    const job = page.locator("#jobs > li", { hasText: "the sunset starts to move" });
    // The demo model runs image jobs on its I2V experts.
    await expect.poll(() => job.locator(".status").textContent(), { timeout: 60_000 }).toBe("succeeded");
    expect(await job.locator("video").count()).toBe(1);
    const before = await page.locator("#jobs > li").count();
    await job.getByRole("button", { name: "Run again" }).click();
    await expect.poll(() => page.locator("#jobs > li").count()).toBe(before + 1);
    await page.getByLabel("Text to video").check();
  }, 90_000);

  it("cancels a running job from its Cancel button", async () => {
    await page.getByLabel("Prompt").fill("a long one to cancel");
    await page.getByLabel("Frames (4k+1)").fill("81");
    await page.getByLabel("Steps").fill("4");
    await page.getByRole("button", { name: "Generate" }).click();
    const job = page.locator("#jobs > li", { hasText: "a long one to cancel" });
    await expect.poll(() => job.locator(".status").textContent(), { timeout: 60_000 }).toBe("running");
    await job.getByRole("button", { name: "Cancel" }).click();
    await expect.poll(() => job.locator(".status").textContent(), { timeout: 60_000 }).toBe("cancelled");
    expect(await job.locator("video").count()).toBe(0);
  }, 90_000);
});

describe("web console with the worker in another process", () => {
  it("follows the job by reading the list when no events come", async () => {
    const dir = path.join(tmp, "split");
    const config = loadConfig({ TURBOWAN_DATA_DIR: path.join(dir, "data"), TURBOWAN_MODELS_DIR: path.join(tmp, "models"), TURBOWAN_PORT: "0", TURBOWAN_BACKEND: "cpu" });
    const ingressOnly = await startLocalStack(config, { log: silentLogger, worker: false });
    // A worker on the same queue and store whose events go nowhere this console can hear.
    const elsewhere = createWorker({
      queue: ingressOnly.core.queue,
      store: ingressOnly.core.store,
      events: { emit: async () => undefined },
      encoder: createVideoEncoder(),
      models: ["demo"],
      modelsDir: path.join(tmp, "models"),
      backend: "cpu",
      waitSeconds: 0.5,
    });
    elsewhere.start();
    const p = await context.newPage();
    try {
      await p.goto(ingressOnly.url);
      await expect.poll(() => p.locator("#model option").count()).toBeGreaterThan(0);
      await p.getByLabel("Prompt").fill("heard by polling");
      await p.locator("details summary").click();
      await p.getByLabel("Frames (4k+1)").fill("5");
      await p.getByLabel("Steps").fill("1");
      await p.getByRole("button", { name: "Generate" }).click();
      const job = p.locator("#jobs > li", { hasText: "heard by polling" });
      await expect.poll(() => job.locator(".status").textContent(), { timeout: 60_000 }).toBe("succeeded");
      expect(await job.locator("video").count()).toBe(1);
    } finally {
      await p.close();
      await elsewhere.stop({ graceMs: 0 });
      await ingressOnly.close();
    }
  }, 90_000);
});
