// The worker end to end on real parts: SQLite queue, local store, the demo engine on the CPU, ffmpeg.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { artifactKeys } from "../../../functions/worker/job-runner.js";
import { createHarness, type Harness } from "./harness.js";

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

const ffprobe = (file: string) =>
  JSON.parse(
    execFileSync("ffprobe", ["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames", "-of", "json", file], {
      encoding: "utf8",
    }),
  ).streams[0];

/** An ffmpeg process is running whose command line names a path under `dir`. */
function ffmpegWriting(dir: string): boolean {
  try {
    return execFileSync("pgrep", ["-f", `ffmpeg .*${dir}`]).toString().trim().length > 0;
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
}

const storePath = (key: string) => path.join(h.dataDir, "store", "files", key);

describe("worker", () => {
  it("runs a job: started → progress → succeeded, with an mp4 and a poster in the store (no preview: not a GitHub reply)", async () => {
    const w = h.worker();
    w.start();
    const job = await h.submit({ options: { seed: 11 } });
    const done = await h.waitFor(job.id, ["succeeded", "failed"]);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(1);
    expect(done.seed).toBe(11);
    const keys = artifactKeys(job.id);
    expect(done.artifacts).toMatchObject({ video: keys.video, poster: keys.poster("jpg") });
    expect(done.artifacts.preview).toBeUndefined();
    expect(await h.store.exists(done.artifacts.poster!)).toBe(true);
    expect(done.artifacts.videoBytes).toBeGreaterThan(1000);
    const stream = ffprobe(storePath(keys.video));
    expect(stream).toMatchObject({ codec_name: "h264", pix_fmt: "yuv420p" });
    expect(Number(stream.nb_read_frames)).toBe(5);
    expect(done.timingsMs.total).toBeGreaterThan(0);
    // Pipelined: the mp4 was encoded while the engine decoded, and kept.
    const encoded = h.logs.find((l) => l.msg === "video encoded");
    expect(encoded, JSON.stringify(h.logs.filter((l) => /encod/.test(String(l.msg))))).toMatchObject({ streamed: true, jobId: job.id });
    expect(encoded!.mp4).toMatch(/^5 frames .* streamed during decode/);
    expect(done.timingsMs["mp4-after-decode"]).toBeGreaterThanOrEqual(0);

    const types = h.eventsOf(job.id).map((e) => e.type);
    expect(types[0]).toBe("queued");
    expect(types[1]).toBe("started");
    expect(types.at(-1)).toBe("succeeded");
    expect(types.filter((t) => t === "succeeded")).toHaveLength(1);
    const stages = h.eventsOf(job.id, "progress").map((e) => (e.type === "progress" ? e.progress.stage : ""));
    expect(stages).toContain("denoise");
    expect(stages).toContain("encode-video");
    const succeeded = h.eventsOf(job.id, "succeeded")[0]!;
    expect(succeeded.type === "succeeded" && succeeded.urls.video).toBe(`http://tw.test/files/${keys.video}`);
    await expect.poll(() => h.queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0, dead: 0 });

    // Every log line about the job carries its id.
    const jobLines = h.logs.filter((l) => JSON.stringify(l).includes(job.id) || /job|model/.test(String(l.msg)));
    expect(jobLines.length).toBeGreaterThan(2);
    for (const line of jobLines.filter((l) => l.msg !== "consumer started")) expect(line.jobId, JSON.stringify(line)).toBe(job.id);
  });

  it("a job that answers on GitHub also gets the animated preview its comment shows", async () => {
    h.worker().start();
    const job = await h.submit({
      replyTo: { platform: "github", installationId: 1, owner: "o", repo: "r", issueNumber: 2, commentId: 3 },
      requester: { platform: "github", id: "octocat" },
    });
    const done = await h.waitFor(job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.artifacts.preview).toMatch(/preview\.(webp|gif)$/);
    expect(await h.store.exists(done.artifacts.preview!)).toBe(true);
  });

  it("keeps the model warm: the second job does not load it again", async () => {
    const w = h.worker();
    w.start();
    const a = await h.submit();
    await h.waitFor(a.id, ["succeeded"]);
    const b = await h.submit({ prompt: "a second video" });
    await h.waitFor(b.id, ["succeeded"]);
    expect(h.logs.filter((l) => l.msg === "loading model")).toHaveLength(1);
    expect(w.pool.resident()).toEqual(["demo"]);
  });

  it("preload: a fresh worker loads its model at start and says when it is ready; the first job finds it warm", async () => {
    const w = h.worker({ preload: true });
    w.start();
    await w.ready();
    expect(w.pool.resident()).toEqual(["demo"]);
    const ready = h.logs.find((l) => l.msg === "ready to generate");
    expect(ready).toMatchObject({ model: "demo" });
    expect(ready!.sinceProcessStartMs).toBeGreaterThan(ready!.loadMs as number);
    const job = await h.submit();
    const done = await h.waitFor(job.id, ["succeeded"]);
    expect(done.timingsMs.load).toBeLessThan(50);
    expect(h.logs.filter((l) => l.msg === "loading model")).toHaveLength(1);
  });

  it("preload of broken weights is logged, not fatal: the job then fails with the clear load error", async () => {
    const w = h.worker({ preload: true, models: ["wan2.1-t2v-1.3b"] });
    w.start();
    await w.ready();
    expect(h.logs.find((l) => l.msg === "preloading the model failed; the first job will try again")).toBeDefined();
    const job = await h.submit({ options: { model: "wan2.1-t2v-1.3b" } });
    const failed = await h.waitFor(job.id, ["failed"]);
    expect(JSON.stringify(failed.error)).toMatch(/fetch-weights/);
  });

  it("a redelivered message of a finished job only re-announces it: no second generation", async () => {
    const w = h.worker();
    w.start();
    const job = await h.submit();
    const first = await h.waitFor(job.id, ["succeeded"]);
    const video = storePath(first.artifacts.video!);
    const mtime = statSync(video).mtimeMs;
    const firstUrls = h.eventsOf(job.id, "succeeded")[0];

    // As if the worker died between markSucceeded and ack: the same message comes back.
    await h.queue.send({ jobId: job.id, model: "demo" });
    await expect.poll(() => h.eventsOf(job.id, "succeeded").length, { timeout: 10_000 }).toBe(2);
    const again = h.eventsOf(job.id, "succeeded")[1]!;
    expect(again.type === "succeeded" && again.urls).toEqual(firstUrls?.type === "succeeded" && firstUrls.urls);
    expect(h.eventsOf(job.id, "started")).toHaveLength(1);
    const record = (await h.store.getRecord(job.id))!;
    expect(record.attempts).toBe(1);
    expect(statSync(video).mtimeMs).toBe(mtime);
    await expect.poll(() => h.queue.stats()).toMatchObject({ visible: 0, inFlight: 0 });
  });

  it("a job whose result is already stored (crash after upload) is recorded and announced, not generated", async () => {
    const w = h.worker();
    w.start();
    const a = await h.submit();
    const done = await h.waitFor(a.id, ["succeeded"]);
    await w.stop();
    // Job b "crashed" after uploading: its record says running, its files are in the store.
    const b = await h.submit({ prompt: "uploaded but not recorded" });
    const keys = artifactKeys(b.id);
    const src = (await h.store.getArtifact(done.artifacts.video!))!;
    await h.store.putArtifact(keys.video, src.data, "video/mp4");
    const record = (await h.store.getRecord(b.id))!;
    record.status = "running";
    record.attempts = 1;
    await h.store.putRecord(record);

    const w2 = h.worker();
    w2.start();
    const finished = await h.waitFor(b.id, ["succeeded", "failed"], 20_000);
    expect(finished.status).toBe("succeeded");
    expect(finished.artifacts.video).toBe(keys.video);
    expect(finished.attempts).toBe(1);
    expect(h.eventsOf(b.id, "started")).toHaveLength(0);
    expect(h.eventsOf(b.id, "succeeded")).toHaveLength(1);
  });

  it("a job cancelled while queued is skipped and acknowledged", async () => {
    const job = await h.submit();
    await h.jobs.cancel(job.id, "test");
    const next = await h.submit({ prompt: "the next one" });
    const w = h.worker();
    w.start();
    await h.waitFor(next.id, ["succeeded"]);
    expect((await h.store.getRecord(job.id))!.status).toBe("cancelled");
    expect(h.eventsOf(job.id, "started")).toHaveLength(0);
    expect(await h.store.exists(artifactKeys(job.id).video)).toBe(false);
    await expect.poll(() => h.queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it("a running job stops when cancelled; the worker goes on with the next job", async () => {
    const w = h.worker({ progressIntervalMs: 0 });
    w.start();
    // Long enough to be cancelled mid-way: many frames and all four steps.
    const job = await h.submit({ options: { frames: 81, steps: 4 } });
    await h.waitFor(job.id, ["running"]);
    await expect.poll(() => h.eventsOf(job.id, "progress").some((e) => e.type === "progress" && e.progress.stage === "denoise"), { timeout: 30_000 }).toBe(true);
    const t = Date.now();
    await h.jobs.cancel(job.id, "test");
    const cancelled = await h.waitFor(job.id, ["cancelled", "succeeded", "failed"], 30_000);
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.cancelledBy).toBe("test");
    expect(Date.now() - t).toBeLessThan(10_000);
    expect(h.eventsOf(job.id, "cancelled")).toHaveLength(1);
    expect(await h.store.exists(artifactKeys(job.id).video)).toBe(false);

    const next = await h.submit({ prompt: "after the cancel" });
    expect((await h.waitFor(next.id, ["succeeded", "failed"])).status).toBe("succeeded");
  });

  it("a streamed mp4 over a Discord channel's budget is encoded again to fit, and the log says why", async () => {
    const w = h.worker();
    w.start();
    const job = await h.submit({
      options: { frames: 17 },
      replyTo: { platform: "discord", applicationId: "1", interactionToken: "t", channelId: "2", tokenIssuedAt: Date.now(), attachmentSizeLimit: 15_000 },
    });
    const done = await h.waitFor(job.id, ["succeeded", "failed"]);
    expect(done.error).toBeUndefined();
    expect(done.artifacts.videoBytes).toBeLessThanOrEqual(15_000);
    expect(Number(ffprobe(storePath(done.artifacts.video!)).nb_read_frames)).toBe(17);
    const warned = h.logs.find((l) => l.msg === "streamed encode not used: the mp4 was encoded again from the frames");
    expect(warned?.jobId).toBe(job.id);
    expect((warned!.notes as string[])[0]).toMatch(/over the 15000-byte budget/);
    expect(h.logs.some((l) => l.msg === "video encoded" && l.jobId === job.id)).toBe(false);
  });

  for (const how of ["cancel", "shutdown"] as const) {
    it(`${how} while the mp4 is being streamed kills ffmpeg and publishes nothing`, async () => {
      const tmpDir = mkdtempSync(path.join(h.dir, "work-"));
      const w = h.worker({ progressIntervalMs: 0, tmpDir, graceMs: 0 });
      w.start();
      // 81 frames decode for seconds on the CPU: long enough to stop mid-decode.
      const job = await h.submit({ options: { frames: 81, steps: 1 } });
      await expect.poll(() => ffmpegWriting(tmpDir), { timeout: 30_000, interval: 20 }).toBe(true);
      if (how === "cancel") {
        await h.jobs.cancel(job.id, "test");
        expect((await h.waitFor(job.id, ["cancelled", "succeeded", "failed"], 30_000)).status).toBe("cancelled");
      } else {
        await w.stop({ graceMs: 0 });
        const r = (await h.store.getRecord(job.id))!; // released for another worker to run
        expect([r.status, r.error]).toEqual(["queued", "The worker shut down during this job; it will run again."]);
      }
      await expect.poll(() => readdirSync(tmpDir)).toEqual([]); // the job folder is gone
      expect(ffmpegWriting(tmpDir)).toBe(false);
      expect(await h.store.exists(artifactKeys(job.id).video)).toBe(false);
      expect(h.logs.some((l) => l.msg === "video encoded" && l.jobId === job.id)).toBe(false);
    }, 60_000);
  }

  it("a bad checkpoint fails the job with a clear message, and the worker stays healthy", async () => {
    // A real tokenizer, but weight files that are not checkpoints: the real loader must refuse them.
    const dir = path.join(h.modelsDir, "wan2.1-t2v-1.3b");
    mkdirSync(dir, { recursive: true });
    for (const f of ["dit.pth", "vae.pth", "umt5.pth"]) writeFileSync(path.join(dir, f), "not a checkpoint");
    copyFileSync(path.resolve("test/fixtures/tokenizer/tokenizer.json"), path.join(dir, "tokenizer.json"));
    const w = h.worker({ models: ["demo", "wan2.1-t2v-1.3b"] });
    w.start();
    const bad = await h.submit({ options: { model: "wan2.1-t2v-1.3b", frames: 5, steps: 1 } });
    const failed = await h.waitFor(bad.id, ["failed", "succeeded"]);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatch(/^The model could not be loaded: .*dit\.pth/);
    const event = h.eventsOf(bad.id, "failed")[0]!;
    expect(event.type === "failed" && event.retryable).toBe(false);

    const good = await h.submit({ prompt: "after the failure" });
    expect((await h.waitFor(good.id, ["succeeded", "failed"])).status).toBe("succeeded");
    await expect.poll(() => h.queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0, dead: 0 });
  });

  it("an image-to-video job reads its stored image and runs on the demo's I2V experts", async () => {
    const w = h.worker();
    w.start();
    const png = await sharp({ create: { width: 96, height: 64, channels: 4, background: { r: 200, g: 80, b: 40, alpha: 0.5 } } }).png().toBuffer();
    const imageKey = await h.jobs.putInputImage(png);
    const job = await h.submit({ kind: "i2v", imageKey, prompt: "make it move" });
    const done = await h.waitFor(job.id, ["failed", "succeeded"]);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe("succeeded");
    expect(done.artifacts.video).toBeTruthy();
    const next = await h.submit({ prompt: "text again" });
    expect((await h.waitFor(next.id, ["succeeded", "failed"])).status).toBe("succeeded");
  });

  it("a store failure while saving the result is retried, and the retry completes the job", async () => {
    // The real local store, refusing the first upload (as an S3 outage would).
    let refusals = 1;
    const flaky = Object.create(h.store) as typeof h.store;
    flaky.putArtifact = async (...args) => {
      if (refusals-- > 0) throw new Error("ServiceUnavailable: slow down");
      return h.store.putArtifact(...args);
    };
    const w = h.worker({ store: flaky });
    w.start();
    const job = await h.submit();
    const done = await h.waitFor(job.id, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(2);
    const failed = h.eventsOf(job.id, "failed")[0]!;
    expect(failed.type === "failed" && [failed.error, failed.retryable]).toEqual(["Saving the result failed: ServiceUnavailable: slow down", true]);
  });

  it("drops a message that names no valid job and goes on", async () => {
    await h.queue.send({ jobId: "../../etc/passwd", model: "demo" });
    await h.queue.send({ jobId: "01zzzzzzzzzzzzzzzzzzzzzzzz", model: "demo" }); // well-formed, no record
    const w = h.worker();
    w.start();
    const job = await h.submit();
    expect((await h.waitFor(job.id, ["succeeded", "failed"])).status).toBe("succeeded");
    await expect.poll(() => h.queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0 });
    expect(h.logs.some((l) => l.msg === "message without a valid job id; dropping it")).toBe(true);
  });

  it("missing weights fail the job with what to do about it", async () => {
    const w = h.worker({ models: ["wan2.1-t2v-14b"] });
    w.start();
    const job = await h.submit({ options: { model: "wan2.1-t2v-14b", frames: 5, steps: 1 } });
    const failed = await h.waitFor(job.id, ["failed"]);
    expect(failed.error).toMatch(/turbowan fetch-weights wan2\.1-t2v-14b/);
  });
});

describe("dead letters", () => {
  it("a job whose every delivery died is marked failed and its requester told", async () => {
    const job = await h.submit();
    // Three deliveries that never finish (a worker crashing each time), then the queue gives up.
    for (let i = 0; i < 3; i++) {
      const [m] = await h.queue.receive({ visibilityTimeoutSeconds: 0.05 });
      expect(m?.body.jobId).toBe(job.id);
      await new Promise((r) => setTimeout(r, 80));
    }
    expect((await h.queue.stats()).dead).toBe(1);
    const w = h.worker({ deadLetterSweepMs: 100 });
    w.start();
    const failed = await h.waitFor(job.id, ["failed"], 10_000);
    expect(failed.error).toMatch(/given up/);
    expect(h.eventsOf(job.id, "failed")).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 300)); // later sweeps leave it alone
    expect(h.eventsOf(job.id, "failed")).toHaveLength(1);
  });
});
