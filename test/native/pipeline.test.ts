// The engine's TypeScript API over the real addon, on the small random-weight Wan models whose
// goldens come from the official Wan2.1 code (scripts/golden/make_dit_goldens.py).
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineError, EngineOptionError, loadPipeline, type Pipeline } from "../../native/src/index.js";
import { readSafetensorsF32, relL2 } from "../support/safetensors.js";

const dir = path.resolve(import.meta.dirname, "../fixtures/dit");
const g = readSafetensorsF32(path.join(dir, "golden.safetensors"));
const ctx = g["context"]!;

describe("Pipeline (DiT + rCM) through the addon", () => {
  let t2v: Pipeline;
  beforeAll(async () => {
    t2v = await loadPipeline({ checkpoints: { dit: path.join(dir, "t2v.pth") } });
  });
  afterAll(() => t2v?.dispose());

  it("detects the config from the weights", () => {
    expect(t2v.config).toMatchObject({ dim: 128, numLayers: 2, inDim: 16, outDim: 16, textDim: 32, hasProjL: true, quantized: false });
  });

  it("forward matches the official model", async () => {
    const out = await t2v.forward(g["forward.x"]!, 988, ctx);
    expect(out.shape).toEqual([1, 16, 3, 8, 8]);
    expect(relL2(out.data, g["forward.t2v"]!.data)).toBeLessThan(1e-5);
  });

  it("denoise with injected noise matches the reference loop, reports progress, keeps the event loop free", async () => {
    const progress: number[] = [];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const r = await t2v.denoise({
      latentShape: [3, 8, 8],
      textEmbedding: ctx,
      steps: 4,
      sigmaMax: 80,
      initialNoise: g["sample.noise0"],
      stepNoises: [1, 2, 3, 4].map((i) => g[`sample.noise${i}`]!),
      onProgress: (p) => progress.push(p.step),
    });
    clearInterval(timer);
    expect(relL2(r.latents.data, g["sample.t2v_sde4"]!.data)).toBeLessThan(1e-5);
    await new Promise((res) => setTimeout(res, 20));
    expect(progress).toEqual([1, 2, 3, 4]);
    expect(ticks).toBeGreaterThan(0);
  });

  it("seeds are reported and reproducible", async () => {
    const a = await t2v.denoise({ latentShape: [3, 8, 8], textEmbedding: ctx, steps: 2 });
    const b = await t2v.denoise({ latentShape: [3, 8, 8], textEmbedding: ctx, steps: 2, seed: a.seed });
    expect(Number.isInteger(a.seed)).toBe(true);
    expect(relL2(b.latents.data, a.latents.data)).toBe(0);
  });

  it("stops at a step boundary when the signal fires", async () => {
    const ac = new AbortController();
    const steps: number[] = [];
    const p = t2v.denoise({
      latentShape: [3, 8, 8],
      textEmbedding: ctx,
      steps: 4,
      signal: ac.signal,
      onProgress: (e) => {
        steps.push(e.step);
        ac.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
    expect(steps.length).toBeLessThan(4);
    const aborted = new AbortController();
    aborted.abort();
    await expect(t2v.denoise({ latentShape: [3, 8, 8], textEmbedding: ctx, signal: aborted.signal })).rejects.toMatchObject({ name: "AbortError" });
  });

  it("rejects bad options naming the parameter", async () => {
    await expect(t2v.denoise({ latentShape: [3, 8, 8], textEmbedding: ctx, steps: 5 })).rejects.toThrow(EngineOptionError);
    await expect(t2v.denoise({ latentShape: [3, 7, 8], textEmbedding: ctx })).rejects.toThrow(/latentShape/);
    await expect(t2v.forward({ data: new Float32Array(3), shape: [1, 16, 3, 8, 8] }, 988, ctx)).rejects.toThrow(/latents: has 3 values/);
    const wrongCtx = { data: new Float32Array(512 * 16), shape: [1, 512, 16] };
    await expect(t2v.forward(g["forward.x"]!, 988, wrongCtx)).rejects.toThrow(EngineError);
    await expect(t2v.forward(g["forward.x"]!, 988, wrongCtx)).rejects.toThrow(/text embedding has shape \[1, 512, 16\], expected \[1, 512, 32\]/);
  });

  it("loads the -quant layout and the official I2V layout with two experts", async () => {
    const q = await loadPipeline({ checkpoints: { dit: path.join(dir, "t2v-quant.pth") } });
    expect(q.config.quantized).toBe(true);
    const qo = await q.forward(g["forward.x"]!, 932, ctx);
    expect(relL2(qo.data, g["forward.t2v_quant"]!.data)).toBeLessThan(5e-3); // see wan_dit_test.cpp
    q.dispose();

    const i2v = await loadPipeline({
      checkpoints: { dit: path.join(dir, "i2v-high.safetensors"), ditLow: path.join(dir, "i2v-low.safetensors") },
    });
    expect(i2v.config.modelType).toBe("i2v");
    expect(i2v.config.expertResidency).toEqual(i2v.config.backend === "cuda" ? expect.stringMatching(/resident|parked/) : "none");
    const r = await i2v.denoise({
      latentShape: [3, 8, 8],
      textEmbedding: ctx,
      condition: g["i2v.cond"],
      steps: 4,
      sigmaMax: 200,
      ode: true,
      initialNoise: g["sample.noise0"],
    });
    expect(relL2(r.latents.data, g["sample.i2v_ode4"]!.data)).toBeLessThan(1e-5);
    await expect(i2v.denoise({ latentShape: [3, 8, 8], textEmbedding: ctx })).rejects.toThrow(/condition/);
    i2v.dispose();
  });

  it("names the file when a checkpoint is missing or mismatched, and refuses use after dispose", async () => {
    await expect(loadPipeline({ checkpoints: { dit: path.join(dir, "nope.pth") } })).rejects.toThrow(/nope\.pth/);
    await expect(loadPipeline({ model: "wan2.1-t2v-1.3b", checkpoints: { dit: path.join(dir, "t2v.pth") } })).rejects.toThrow(
      /t2v\.pth.*dim = 128/,
    );
    const p = await loadPipeline({ checkpoints: { dit: path.join(dir, "t2v.pth") } });
    p.dispose();
    await expect(p.forward(g["forward.x"]!, 988, ctx)).rejects.toThrow(/disposed/);
  });

  it("takes textEncoderWeights bf16 or int8 and refuses anything else", async () => {
    await expect(loadPipeline({ checkpoints: { dit: path.join(dir, "t2v.pth") }, textEncoderWeights: "fp8" as never })).rejects.toThrow(
      /textEncoderWeights: must be bf16 or int8, got fp8/,
    );
    const p = await loadPipeline({ checkpoints: { dit: path.join(dir, "t2v.pth") }, textEncoderWeights: "int8" });
    p.dispose();
  });
});

describe("loadPipeline options", () => {
  it("rejects an unknown expertResidency before touching the addon", async () => {
    await expect(
      loadPipeline({ checkpoints: { dit: path.join(dir, "t2v.pth") }, expertResidency: "swapped" as never }),
    ).rejects.toThrow(EngineOptionError);
    await expect(
      loadPipeline({ checkpoints: { dit: path.join(dir, "t2v.pth") }, expertResidency: "swapped" as never }),
    ).rejects.toThrow(/expertResidency/);
  });
});
