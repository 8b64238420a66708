import { describe, expect, it } from "vitest";
import { createJobService } from "../../../functions/jobs/job-service.js";
import type { JobEvent } from "../../../functions/jobs/model.js";
import {
  JobFinishedError,
  JobNotFoundError,
  markFailed,
  markRunning,
  markSucceeded,
  updateProgress,
} from "../../../functions/jobs/records.js";
import { t2v, tempPlatform } from "./support.js";

function setup() {
  const { queue, store } = tempPlatform();
  const service = createJobService({ queue, store });
  const events: JobEvent[] = [];
  service.subscribe((e) => events.push(e));
  return { store, service, events, ctx: { store, events: service.events } };
}

describe("worker record helpers", () => {
  it("walk a job through running, progress and success, emitting each event with URLs at the end", async () => {
    const { store, service, events, ctx } = setup();
    const { job } = await service.submit(t2v());
    const running = await markRunning(ctx, job.id);
    expect(running).toMatchObject({ status: "running", attempts: 1, progress: { stage: "load" } });
    expect(running.startedAt).toBeDefined();
    await updateProgress(ctx, job.id, { stage: "denoise", step: 2, total: 4 }, { load: 1200 });
    await store.putArtifact(`jobs/${job.id}/video.mp4`, new Uint8Array([0]), "video/mp4");
    const done = await markSucceeded(ctx, job.id, { video: `jobs/${job.id}/video.mp4`, videoBytes: 1 }, { denoise: 900 });
    expect(done).toMatchObject({ status: "succeeded", timingsMs: { load: 1200, denoise: 900 } });
    expect(done.progress).toBeUndefined();
    expect(done.finishedAt).toBeDefined();
    expect(events.map((e) => e.type)).toEqual(["queued", "started", "progress", "succeeded"]);
    const succeeded = events.at(-1) as Extract<JobEvent, { type: "succeeded" }>;
    expect(succeeded.urls.video).toBe(`http://localhost:8787/files/jobs/${job.id}/video.mp4`);
  });

  it("refuse to restart a finished job (a redelivered message) and name a missing one", async () => {
    const { service, ctx } = setup();
    const { job } = await service.submit(t2v());
    await markRunning(ctx, job.id);
    await markSucceeded(ctx, job.id, { video: "v.mp4" });
    const err = await markRunning(ctx, job.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFinishedError);
    expect((err as JobFinishedError).record.status).toBe("succeeded");
    await expect(markRunning(ctx, "01jxxxxxxxxxxxxxxxxxxxxxxx")).rejects.toBeInstanceOf(JobNotFoundError);
  });

  it("a retryable failure puts the job back to queued; a final one fails it; attempts count runs", async () => {
    const { service, events, ctx } = setup();
    const { job } = await service.submit(t2v());
    await markRunning(ctx, job.id);
    const retry = await markFailed(ctx, job.id, "CUDA out of memory", { retryable: true });
    expect(retry).toMatchObject({ status: "queued", error: "CUDA out of memory" });
    await markRunning(ctx, job.id);
    const final = await markFailed(ctx, job.id, "The checkpoint is damaged.");
    expect(final).toMatchObject({ status: "failed", attempts: 2, error: "The checkpoint is damaged." });
    const failed = events.filter((e) => e.type === "failed").map((e) => (e as { retryable: boolean }).retryable);
    expect(failed).toEqual([true, false]);
  });
});
