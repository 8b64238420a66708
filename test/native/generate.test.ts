// generate() end to end on the built-in demo model (umT5 → rCM over the DiT → streamed VAE decode),
// T2V and I2V, through the real addon on the CPU backend.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoCheckpoints, EngineOptionError, loadPipeline, type FrameChunk, type Pipeline, type Progress } from "../../native/src/index.js";
import { writeDemoModel } from "../../native/src/demo/demo_model.js";

const dir = mkdtempSync(path.join(tmpdir(), "turbowan-gen-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("generate on the demo model", () => {
  let t2v: Pipeline;
  beforeAll(async () => {
    const ckpt = await demoCheckpoints(path.join(dir, "demo"));
    expect(await demoCheckpoints(path.join(dir, "demo"))).toEqual(ckpt); // second call reuses the files
    t2v = await loadPipeline({ model: "demo", checkpoints: ckpt, backend: "cpu" });
  });
  afterAll(() => t2v?.dispose());

  it("makes frames of the right count and size, reporting every stage", async () => {
    const events: Progress[] = [];
    const v = await t2v.generate({ prompt: "a red fox in snow", frames: 9, width: 64, height: 48, steps: 4, seed: 3, onProgress: (p) => events.push(p) });
    expect([v.numFrames, v.width, v.height, v.fps, v.seed]).toEqual([9, 64, 48, 16, 3]);
    expect(v.frames.length).toBe(9 * 48 * 64 * 3);
    await new Promise((r) => setTimeout(r, 20));
    const stages = events.map((e) => `${e.stage}:${e.step}/${e.total}`);
    expect(stages).toEqual(["encode-text:0/1", "encode-text:1/1", "denoise:1/4", "denoise:2/4", "denoise:3/4", "denoise:4/4", "decode:1/3", "decode:2/3", "decode:3/3"]);
    expect(Object.keys(v.timingsMs)).toEqual(expect.arrayContaining(["encode-text", "denoise", "decode", "total"]));
    // An honest pattern, not a flat frame.
    const distinct = new Set(v.frames.subarray(0, 48 * 64 * 3));
    expect(distinct.size).toBeGreaterThan(8);
  });

  it("streams RGB8 chunks in order while decoding, adding up to the returned frames", async () => {
    const chunks: FrameChunk[] = [];
    const v = await t2v.generate({ prompt: "stream me", frames: 9, width: 32, height: 32, steps: 1, samples: 2, onFrames: (c) => chunks.push(c) });
    // No waiting here: every chunk must have been delivered before the promise resolves.
    expect(chunks.map((c) => [c.sample, c.firstFrame, c.count, c.width, c.height])).toEqual([
      [0, 0, 1, 32, 32], [0, 1, 4, 32, 32], [0, 5, 4, 32, 32], [1, 0, 1, 32, 32], [1, 1, 4, 32, 32], [1, 5, 4, 32, 32],
    ]);
    const joined = Buffer.concat(chunks.map((c) => Buffer.from(c.frames)));
    expect(joined.equals(Buffer.from(v.frames))).toBe(true);
  });

  it("delivers the last chunk before generate() resolves, every time", async () => {
    // The chunks cross threads through their own queue; before the addon settled the promise only
    // after draining it, about 1 call in 6 resolved first and a streaming encoder lost frames.
    for (let i = 0; i < 12; i++) {
      let frames = 0;
      const v = await t2v.generate({ prompt: "race", frames: 5, width: 16, height: 16, steps: 1, seed: i, onFrames: (c) => (frames += c.count) });
      expect(frames, `run ${i}`).toBe(v.numFrames);
    }
  });

  it("reuses the prompt embedding for a repeated prompt and reproduces a seed", async () => {
    const before = t2v.promptCacheStats;
    const a = await t2v.generate({ prompt: "  a red   fox in snow ", frames: 5, width: 32, height: 32, steps: 2, seed: 11 });
    const b = await t2v.generate({ prompt: "a red fox in snow", frames: 5, width: 32, height: 32, steps: 2, seed: 11 });
    expect(t2v.promptCacheStats.hits).toBeGreaterThanOrEqual(before.hits + 2);
    expect(Buffer.from(a.frames).equals(Buffer.from(b.frames))).toBe(true);
    const c = await t2v.generate({ prompt: "a red fox in snow", frames: 5, width: 32, height: 32, steps: 2, seed: 12 });
    expect(Buffer.from(a.frames).equals(Buffer.from(c.frames))).toBe(false);
  });

  it("renders the demo at a fraction of the named resolution, with the job defaults (sagesla, top-k 0.1)", async () => {
    // 9:16 at 1/8 scale is 64×112: 2×(8×4×7)… far fewer key blocks than 1/top-k, so every block is
    // attended rather than none (effective_topk).
    for (const attention of ["sagesla", "sla"] as const) {
      const v = await t2v.generate({ prompt: "waves", frames: 5, resolution: "480p", aspectRatio: "9:16", steps: 1, attention, topk: 0.1 });
      expect([v.width, v.height]).toEqual([64, 112]);
    }
  });

  it("takes image jobs too, through the demo's I2V experts", async () => {
    const img = { data: new Uint8Array(24 * 16 * 3).map((_, i) => (i * 13) % 256), width: 24, height: 16 };
    const v = await t2v.generate({ prompt: "move", image: img, frames: 5, width: 32, height: 32, steps: 2 });
    expect([v.numFrames, v.width, v.height]).toEqual([5, 32, 32]);
  });

  it("cancels, and rejects bad options naming them", async () => {
    const ac = new AbortController();
    const p = t2v.generate({ prompt: "stop me", frames: 5, width: 32, height: 32, signal: ac.signal, onProgress: (e) => e.stage === "denoise" && ac.abort() });
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
    await expect(t2v.generate({ prompt: "x", frames: 6, width: 32, height: 32 })).rejects.toThrow(/frames/);
    await expect(t2v.generate({ prompt: "x", frames: 5, width: 30, height: 32 })).rejects.toThrow(EngineOptionError);
    await expect(t2v.generate({ prompt: "   ", frames: 5, width: 32, height: 32 })).rejects.toThrow(/prompt/);
  });
});

describe("image-to-video on the demo I2V experts", () => {
  it("encodes the image, samples with both experts and decodes", async () => {
    const ckpt = writeDemoModel(path.join(dir, "demo-i2v"), { modelType: "i2v" });
    const p = await loadPipeline({ checkpoints: ckpt, backend: "cpu" });
    expect(p.config.modelType).toBe("i2v");
    const w = 40, h = 24;
    const data = new Uint8Array(w * h * 3).map((_, i) => (i * 37) % 256);
    const stages: string[] = [];
    const v = await p.generate({ prompt: "the picture comes alive", image: { data, width: w, height: h }, frames: 5, width: 32, height: 32, steps: 4, ode: true, onProgress: (e) => stages.push(e.stage) });
    expect([v.numFrames, v.width, v.height]).toEqual([5, 32, 32]);
    expect(v.frames.length).toBe(5 * 32 * 32 * 3);
    await new Promise((r) => setTimeout(r, 20));
    expect(stages).toContain("encode-image");
    await expect(p.generate({ prompt: "no image", frames: 5, width: 32, height: 32 })).rejects.toThrow(/image/);
    p.dispose();
  });
});
