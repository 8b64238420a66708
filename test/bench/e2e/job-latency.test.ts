// The whole-job latency bench (bench/e2e/job-latency.ts) on the demo model: the same code that
// measures the GPU numbers in bench/results/ must produce real, playable mp4s here, over HTTP,
// through the real queue, worker, ffmpeg and store.
import { describe, expect, it } from "vitest";
import { measureJobLatency } from "../../../bench/e2e/job-latency.js";

describe("job latency bench", () => {
  it("measures process start → ready, then request → mp4 bytes per job, and checks each mp4", async () => {
    const lines: string[] = [];
    const results = await measureJobLatency(
      { model: "demo", resolution: "480p", aspectRatio: "16:9", frames: 9, steps: 2, jobs: 2, backend: "cpu", prompt: "a paper boat on a pond" },
      (l) => lines.push(l),
    );
    expect(results).toHaveLength(2);
    for (const r of results) {
      expect(r.ffprobe).toMatchObject({ codec: "h264", frames: 9, fps: "16/1" });
      expect(r.mp4Bytes).toBeGreaterThan(1000);
      expect(r.requestToMp4Ms).toBeGreaterThanOrEqual(r.requestToDoneMs);
      for (const stage of ["load", "encode-text", "denoise", "decode", "encode-video", "upload", "total"]) {
        expect(r.stagesMs[stage], stage).toBeTypeOf("number");
      }
    }
    // The worker preloaded the model: no job loads it.
    for (const r of results) expect(r.stagesMs.load).toBeLessThan(50);
    const ready = JSON.parse(lines[0]!);
    expect(ready).toMatchObject({ ready: true, model: "demo" });
    expect(ready.processStartToReadyMs).toBeGreaterThan(ready.modelLoadMs);
    const summary = JSON.parse(lines.at(-1)!);
    expect(summary).toMatchObject({ summary: true, model: "demo", firstJobMs: results[0]!.requestToMp4Ms, warmMedianMs: results[1]!.requestToMp4Ms });
    expect(summary.processStartToReadyMs).toBe(ready.processStartToReadyMs);
  }, 120_000);
});
