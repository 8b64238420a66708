// The ingress app with app.request(): console API, files, SSE, over the real SQLite queue and local store.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createIngressApp } from "../../../functions/ingress/app.js";
import { createJobService } from "../../../functions/jobs/job-service.js";
import type { JobService } from "../../../functions/jobs/service.js";
import { SqliteQueue } from "../../../functions/queue/sqlite.js";
import { LocalStore } from "../../../functions/store/local.js";

let dir: string;
let queue: SqliteQueue;
let store: LocalStore;
let jobs: JobService;
let app: ReturnType<typeof createIngressApp>;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "tw-ingress-"));
  queue = new SqliteQueue({ path: path.join(dir, "q.sqlite") });
  store = new LocalStore({ root: path.join(dir, "store"), publicUrl: "http://tw.test" });
  jobs = createJobService({ queue, store });
  app = createIngressApp({ jobs, store, queue, models: ["demo"], keepAliveMs: 50 });
});
afterEach(async () => {
  await queue.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = (p: string, body?: unknown) =>
  app.request(p, { method: "POST", headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
const submit = (extra: Record<string, unknown> = {}) =>
  post("/api/jobs", { kind: "t2v", prompt: "a red fox in the snow", options: { model: "demo", frames: 5, steps: 1 }, ...extra });
const png = () => sharp({ create: { width: 96, height: 64, channels: 3, background: "#3366cc" } }).png().toBuffer();

describe("console and health", () => {
  it("serves the console page with labelled controls and its assets", async () => {
    const res = await app.request("/");
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<label for="prompt">');
    expect(html).toContain('aria-live="polite"');
    expect((await app.request("/console.js")).headers.get("content-type")).toMatch(/javascript/);
    expect((await app.request("/console.css")).status).toBe(200);
  });

  it("GET /healthz reports ok and queue stats", async () => {
    const res = await app.request("/healthz");
    expect(await res.json()).toMatchObject({ ok: true, queue: { visible: 0 } });
  });

  it("GET /api/config gives the job model's defaults and the served models", async () => {
    const body = await (await app.request("/api/config")).json();
    expect(body.models).toEqual(["demo"]);
    expect(body.defaults).toMatchObject({ resolution: "480p", aspectRatio: "16:9", frames: 81, steps: 4, attention: "sagesla", topk: 0.1, ode: false });
    expect(body.choices.aspectRatio).toContain("9:16");
  });
});

describe("jobs API", () => {
  it("POST /api/jobs queues a web job; the same requestId never makes a second one", async () => {
    const res = await submit({ requestId: "r1" });
    expect(res.status).toBe(201);
    const { job, created } = await res.json();
    expect(created).toBe(true);
    expect(job).toMatchObject({ status: "queued", request: { kind: "t2v", replyTo: { platform: "web" }, requester: { platform: "web" } } });
    expect(typeof job.seed).toBe("number");
    expect((await queue.stats()).visible).toBe(1);

    const again = await submit({ requestId: "r1" });
    expect(again.status).toBe(200);
    expect((await again.json()).job.id).toBe(job.id);
    expect((await queue.stats()).visible).toBe(1);
  });

  it("refuses bad requests with the job model's sentences", async () => {
    const empty = await post("/api/jobs", { kind: "t2v", prompt: "   ", options: {} });
    expect(empty.status).toBe(400);
    expect((await empty.json()).error).toMatch(/prompt is empty/);
    const frames = await submit({ options: { model: "demo", frames: 6 } });
    expect(frames.status).toBe(400);
    expect((await frames.json()).error).toMatch(/4k\+1/);
    const i2v = await post("/api/jobs", { kind: "i2v", prompt: "x", options: {} });
    expect((await i2v.json()).error).toMatch(/needs an image/);
    const notJson = await app.request("/api/jobs", { method: "POST", body: "nope" });
    expect(notJson.status).toBe(400);
  });

  it("GET /api/jobs lists newest first; GET /api/jobs/:id shows one; unknown ids are 404", async () => {
    const a = (await (await submit()).json()).job;
    const b = (await (await submit({ prompt: "second" })).json()).job;
    const list = await (await app.request("/api/jobs")).json();
    expect(list.jobs.map((j: { id: string }) => j.id)).toEqual([b.id, a.id]);
    const one = await (await app.request(`/api/jobs/${a.id}`)).json();
    expect(one.job.request.prompt).toBe("a red fox in the snow");
    expect((await app.request("/api/jobs/nope")).status).toBe(404);
  });

  it("cancel makes a queued job cancelled; retry queues a copy with the same seed", async () => {
    const job = (await (await submit({ options: { model: "demo", frames: 5, steps: 1, seed: 42 } })).json()).job;
    expect((await post(`/api/jobs/${job.id}/retry`)).status).toBe(409);
    const cancelled = await (await post(`/api/jobs/${job.id}/cancel`)).json();
    expect(cancelled.job.status).toBe("cancelled");
    const retry = await post(`/api/jobs/${job.id}/retry`);
    expect(retry.status).toBe(201);
    const copy = (await retry.json()).job;
    expect(copy.id).not.toBe(job.id);
    expect(copy.seed).toBe(42);
    expect(copy.status).toBe("queued");
    expect((await post("/api/jobs/nope/cancel")).status).toBe(404);
  });

  it("POST /api/images stores a real image (raw body or multipart) and refuses non-images", async () => {
    const bytes = await png();
    const raw = await app.request("/api/images", { method: "POST", headers: { "content-type": "image/png" }, body: bytes });
    expect(raw.status).toBe(201);
    const { key } = await raw.json();
    expect(key).toMatch(/^inputs\/.+\.png$/);
    const form = new FormData();
    form.set("image", new File([bytes], "start.png", { type: "image/png" }));
    const multi = await app.request("/api/images", { method: "POST", body: form });
    expect((await multi.json()).key).toBe(key);
    const bad = await app.request("/api/images", { method: "POST", headers: { "content-type": "image/png" }, body: "not an image" });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/PNG, JPEG or WebP/);

    const i2v = await post("/api/jobs", { kind: "i2v", prompt: "make it move", imageKey: key, options: { model: "demo", frames: 5 } });
    expect(i2v.status).toBe(201);
    expect((await i2v.json()).job.request.imageKey).toBe(key);
  });
});

describe("files", () => {
  it("serves artifacts whole and by byte range, and nothing outside the artifact namespace", async () => {
    const data = new Uint8Array(100).map((_, i) => i);
    await store.putArtifact("videos/x/video.mp4", data, "video/mp4");
    const whole = await app.request("/files/videos/x/video.mp4");
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-type")).toBe("video/mp4");
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(data);
    const part = await app.request("/files/videos/x/video.mp4", { headers: { range: "bytes=10-19" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 10-19/100");
    expect([...new Uint8Array(await part.arrayBuffer())]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const tail = await app.request("/files/videos/x/video.mp4", { headers: { range: "bytes=-5" } });
    expect([...new Uint8Array(await tail.arrayBuffer())]).toEqual([95, 96, 97, 98, 99]);
    expect((await app.request("/files/videos/x/missing.mp4")).status).toBe(404);
    expect((await app.request("/files/..%2F..%2Fetc%2Fpasswd")).status).toBe(404);
    expect((await app.request("/files/videos/%2E%2E/x/video.mp4")).status).toBe(404);
  });

  it("job views carry download URLs once a job has a video", async () => {
    const job = (await (await submit()).json()).job;
    const record = (await store.getRecord(job.id))!;
    record.status = "succeeded";
    record.artifacts = { video: `videos/${job.id}/video.mp4`, poster: `videos/${job.id}/poster.jpg` };
    await store.putRecord(record);
    const view = (await (await app.request(`/api/jobs/${job.id}`)).json()).job;
    expect(view.urls).toEqual({ video: `http://tw.test/files/videos/${job.id}/video.mp4`, poster: `http://tw.test/files/videos/${job.id}/poster.jpg` });
  });
});

describe("GET /api/events", () => {
  it("streams job events as server-sent events", async () => {
    const controller = new AbortController();
    const res = await app.request("/api/events", { signal: controller.signal });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}: ${text}`);
        text += value;
      }
    };
    await readUntil("event: hello");
    const job = (await (await submit()).json()).job;
    await readUntil("event: queued");
    const data = text.slice(text.indexOf("event: queued")).split("\n").find((l) => l.startsWith("data: "))!;
    expect(JSON.parse(data.slice(6)).job.id).toBe(job.id);
    await post(`/api/jobs/${job.id}/cancel`);
    await readUntil("event: cancelled");
    controller.abort();
    await reader.cancel().catch(() => undefined);
  });
});

describe("mounts", () => {
  it("mounts the Discord sub-app at /discord/interactions and leaves out the console when asked", async () => {
    const { createDiscordApp } = await import("../../../bot/discord/app.js");
    const { generateKeyPairSync, sign } = await import("node:crypto");
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("hex");
    const discord = createDiscordApp({ jobs, config: { applicationId: "123", publicKey: raw } });
    const lambdaLike = createIngressApp({ jobs, store, console: false, serveFiles: false, discord });
    expect((await lambdaLike.request("/")).status).toBe(404);
    expect((await lambdaLike.request("/api/jobs")).status).toBe(404);
    expect((await lambdaLike.request("/healthz")).status).toBe(200);

    const unsigned = await lambdaLike.request("/discord/interactions", { method: "POST", body: JSON.stringify({ type: 1 }) });
    expect(unsigned.status).toBe(401);
    const body = JSON.stringify({ type: 1, id: "1", application_id: "123", token: "t", version: 1 });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = sign(null, Buffer.from(timestamp + body), privateKey).toString("hex");
    const ping = await lambdaLike.request("/discord/interactions", {
      method: "POST",
      headers: { "content-type": "application/json", "x-signature-ed25519": signature, "x-signature-timestamp": timestamp },
      body,
    });
    expect(ping.status).toBe(200);
    expect(await ping.json()).toEqual({ type: 1 });
  });
});

describe("cross-site requests", () => {
  it("refuses a state change posted from another site, accepts the console's own and scripts'", async () => {
    const job = (await (await submit()).json()).job;
    const foreign = await app.request(`http://localhost:8787/api/jobs/${job.id}/cancel`, {
      method: "POST",
      headers: { origin: "https://evil.example", host: "localhost:8787" },
    });
    expect(foreign.status).toBe(403);
    expect((await store.getRecord(job.id))!.status).toBe("queued");
    const own = await app.request(`http://localhost:8787/api/jobs/${job.id}/cancel`, {
      method: "POST",
      headers: { origin: "http://localhost:8787", host: "localhost:8787" },
    });
    expect(own.status).toBe(200);
    expect((await own.json()).job.status).toBe("cancelled");
  });
});
