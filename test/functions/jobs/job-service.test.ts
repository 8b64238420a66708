import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { JOB_ID } from "../../../functions/jobs/ids.js";
import { createJobService } from "../../../functions/jobs/job-service.js";
import type { JobEvent } from "../../../functions/jobs/model.js";
import { isCancelRequested, markCancelled, markRunning } from "../../../functions/jobs/records.js";
import { JobRejectedError } from "../../../functions/jobs/service.js";
import { t2v, tempPlatform } from "./support.js";

function setup() {
  const { queue, store } = tempPlatform();
  const forwarded: JobEvent[] = [];
  const service = createJobService({ queue, store, events: { emit: async (e) => void forwarded.push(e) } });
  const seen: JobEvent[] = [];
  service.subscribe((e) => seen.push(e));
  return { queue, store, service, seen, forwarded };
}

describe("JobService.submit", () => {
  it("validates, assigns a time-sortable id and a seed, stores the record, enqueues {jobId, model}, emits queued", async () => {
    const { queue, service, seen, forwarded } = setup();
    const { job, created, position } = await service.submit(t2v());
    expect(created).toBe(true);
    expect(job.id).toMatch(JOB_ID);
    expect(job.status).toBe("queued");
    expect(job.request.prompt).toBe("a red fox running through snow");
    expect(job.seed).toBeGreaterThanOrEqual(0);
    expect(job.seed).toBeLessThanOrEqual(0xffffffff);
    expect(job.request.options.seed).toBe(job.seed);
    expect(job.request.options).toMatchObject({ steps: 4, attention: "sagesla", resolution: "480p" });
    expect(position).toBe(1);
    expect(await service.get(job.id)).toEqual(job);
    const [m] = await queue.receive();
    expect(m?.body).toEqual({ jobId: job.id, model: "demo" });
    expect(m?.attributes.model).toBe("demo");
    expect(seen.map((e) => e.type)).toEqual(["queued"]);
    expect(forwarded.map((e) => e.type)).toEqual(["queued"]);
  });

  it("keeps a seed that was given", async () => {
    const { service } = setup();
    const { job } = await service.submit(t2v({ options: { model: "demo", frames: 17, seed: 42 } }));
    expect(job.seed).toBe(42);
  });

  it("rejects invalid input with the sentences a bot can show, and enqueues nothing", async () => {
    const { queue, service } = setup();
    const err = await service
      .submit(t2v({ prompt: "   ", options: { model: "demo", frames: 18, steps: 9 } }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobRejectedError);
    expect((err as JobRejectedError).reason).toBe("invalid");
    expect((err as Error).message).toBe(
      "The prompt is empty: describe the video you want. frames must be 4k+1 (for example 17, 49 or 81). steps must be between 1 and 4.",
    );
    await expect(service.submit(t2v({ prompt: "bell\u0007" }))).rejects.toThrow(/control characters/);
    expect((await queue.stats()).visible).toBe(0);
  });

  it("is idempotent: the same key returns the same job and enqueues nothing new", async () => {
    const { queue, service } = setup();
    const input = t2v();
    const first = await service.submit(input);
    const again = await service.submit({ ...input, prompt: "something else" });
    expect(again.created).toBe(false);
    expect(again.job.id).toBe(first.job.id);
    expect(again.job.request.prompt).toBe(first.job.request.prompt);
    expect((await queue.stats()).visible).toBe(1);
  });

  it("is idempotent under a race: five concurrent submits with one key make one job", async () => {
    const { queue, service } = setup();
    const input = t2v();
    const results = await Promise.all(Array.from({ length: 5 }, () => service.submit(input)));
    expect(new Set(results.map((r) => r.job.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect((await queue.stats()).visible).toBe(1);
  });

  it("when the queue refuses the message, fails the record and frees the key for a retry", async () => {
    const { queue, store, service } = setup();
    const input = t2v();
    await queue.close(); // a real failure: the driver refuses to send
    await expect(service.submit(input)).rejects.toThrow(/queue is closed/);
    const [orphan] = await store.listRecords();
    expect(orphan).toMatchObject({ status: "failed", error: "The job could not be queued; try again." });
    const retry = createJobService({ queue: tempPlatform().queue, store });
    const again = await retry.submit(input);
    expect(again.created).toBe(true);
    expect(again.job.id).not.toBe(orphan!.id);
  });

  it("lists newest first, filtered by requester and status", async () => {
    const { service } = setup();
    const a = await service.submit(t2v({ requester: { platform: "discord", id: "alice" } }));
    const b = await service.submit(t2v({ requester: { platform: "discord", id: "bob" } }));
    expect((await service.list()).map((j) => j.id)).toEqual([b.job.id, a.job.id]);
    expect((await service.list({ requesterId: "alice" })).map((j) => j.id)).toEqual([a.job.id]);
    expect(await service.list({ status: "running" })).toEqual([]);
  });
});

describe("JobService.cancel", () => {
  it("cancels a queued job at once", async () => {
    const { store, service, seen } = setup();
    const { job } = await service.submit(t2v());
    const cancelled = await service.cancel(job.id, "alice");
    expect(cancelled).toMatchObject({ status: "cancelled", cancelledBy: "alice" });
    expect((await service.get(job.id))?.status).toBe("cancelled");
    expect(await isCancelRequested({ store }, job.id)).toBe(true);
    expect(seen.map((e) => e.type)).toEqual(["queued", "cancelled"]);
    // A worker that then receives the message finds the job finished.
    await expect(markRunning({ store }, job.id)).rejects.toThrow(/already cancelled/);
  });

  it("asks the worker to stop a running job through a flag it checks", async () => {
    const { store, service } = setup();
    const { job } = await service.submit(t2v());
    await markRunning({ store }, job.id);
    expect(await isCancelRequested({ store }, job.id)).toBe(false);
    const r = await service.cancel(job.id, "bob");
    expect(r).toMatchObject({ status: "running", cancelledBy: "bob" });
    expect(r?.cancelRequestedAt).toBeDefined();
    expect(await isCancelRequested({ store }, job.id)).toBe(true);
    // The record stays the worker's to write: a cancel never overwrites it while running.
    expect((await service.get(job.id))?.cancelRequestedAt).toBeUndefined();
    expect(await markCancelled({ store }, job.id)).toMatchObject({ status: "cancelled", cancelledBy: "bob" });
  });

  it("returns undefined for an unknown job and leaves a finished one alone", async () => {
    const { store, service } = setup();
    expect(await service.cancel("01jxxxxxxxxxxxxxxxxxxxxxxx")).toBeUndefined();
    const { job } = await service.submit(t2v());
    await markCancelled({ store }, job.id);
    expect((await service.cancel(job.id))?.status).toBe("cancelled");
  });
});

describe("JobService.putInputImage", () => {
  it("validates and stores an image once, and an I2V job can use its key", async () => {
    const { store, service } = setup();
    const png = await sharp({ create: { width: 320, height: 240, channels: 3, background: "#888" } }).png().toBuffer();
    const key = await service.putInputImage(png, "image/png");
    expect(key).toMatch(/^inputs\/[0-9a-f]{32}\.png$/);
    expect(await service.putInputImage(png)).toBe(key);
    expect((await store.getArtifact(key))?.contentType).toBe("image/png");
    const { job } = await service.submit(t2v({ kind: "i2v", imageKey: key, options: { model: "wan2.2-i2v-a14b", frames: 17 } }));
    expect(job.request.imageKey).toBe(key);
  });

  it("rejects a bad image as invalid input, and an I2V job whose image is not stored", async () => {
    const { service } = setup();
    const err = await service.putInputImage(new TextEncoder().encode("nope")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobRejectedError);
    expect((err as Error).message).toMatch(/not an image/);
    await expect(service.submit(t2v({ kind: "i2v", imageKey: "inputs/missing.png" }))).rejects.toThrow(
      "The input image was not found; upload it again.",
    );
    await expect(service.submit(t2v({ kind: "i2v" }))).rejects.toThrow(/Image-to-video needs an image/);
    await expect(
      service.submit(t2v({ kind: "i2v", imageKey: "inputs/x.png", options: { model: "wan2.1-t2v-14b", frames: 17 } })),
    ).rejects.toThrow("wan2.1-t2v-14b makes videos from text only; for image-to-video use wan2.2-i2v-a14b.");
    await expect(service.submit(t2v({ options: { model: "wan2.2-i2v-a14b", frames: 17 } }))).rejects.toThrow(
      /wan2.2-i2v-a14b animates an image: attach one/,
    );
  });
});

describe("JobService events", () => {
  it("fans out to every subscriber; a throwing subscriber breaks neither others nor the emitter", async () => {
    const { service } = setup();
    const got: string[] = [];
    service.subscribe(() => {
      throw new Error("closed SSE stream");
    });
    const off = service.subscribe((e) => got.push(e.type));
    await service.submit(t2v());
    off();
    await service.submit(t2v());
    expect(got).toEqual(["queued"]);
  });
});
