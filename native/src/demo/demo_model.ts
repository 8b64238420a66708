// The demo model: a tiny Wan-architecture set (umT5 encoder, Wan DiT, Wan2.1 VAE at small widths)
// generated deterministically from a seed, written in the real checkpoint formats, so a machine
// with no downloads runs the whole pipeline on the CPU in seconds. The weights are random (uniform,
// torch-default scales); the videos are an honest abstract pattern, not a picture of the prompt.
//
// Files (the TURBOWAN_MODELS_DIR layout of docs/models.md):
//   dit.pth         TurboDiffusion layout (prefix-free keys, bf16 weights, fp32 norm buffers, SLA proj_l)
//   dit-low.pth     i2v only: the low-noise expert (Wan2.2 A14B layout, in_dim 36)
//   umt5.pth        models_t5_umt5-xxl-enc-bf16.pth layout (bf16)
//   vae.pth         Wan2.1_VAE.pth layout (fp32)
//   tokenizer.json  a unigram tokenizer in umT5's pipeline layout (vocab 1200; made by
//                   scripts/golden/make_tokenizer_goldens.py, the same file as the test fixture)
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { CheckpointPaths, DiTConfig } from "../types.js";
import { type NamedTensor, type WriteDType, writeTorchPth } from "./checkpoint_writer.js";

export const DEMO_VOCAB = 1200;

export const DEMO_UMT5 = { vocab: DEMO_VOCAB, dim: 64, dimAttn: 64, dimFfn: 128, numHeads: 2, numLayers: 2, numBuckets: 32 } as const;

export const DEMO_DIT: DiTConfig = {
  modelType: "t2v", dim: 128, ffnDim: 256, numHeads: 1, numLayers: 2, inDim: 16, outDim: 16,
  textDim: DEMO_UMT5.dim, textLen: 512, freqDim: 256, eps: 1e-6,
};

/** WanVAE_ constructor arguments of the demo VAE (Wan2.1: dim 96, same everything else). */
export const DEMO_VAE = { dim: 8, zDim: 16, dimMult: [1, 2, 4, 4], numResBlocks: 2, temporalDownsample: [false, true, true] } as const;

export interface DemoModelOptions {
  /** Seed of every weight (default 0). The same seed always gives byte-identical files. */
  seed?: number;
  /** "t2v" (default) writes one DiT; "i2v" writes the two 36-channel experts (dit.pth, dit-low.pth). */
  modelType?: "t2v" | "i2v";
}

// ---------------------------------------------------------------- deterministic weights
// mulberry32: integer-only, so the bytes are the same on every platform and Node version.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class WeightMaker {
  readonly tensors: NamedTensor[] = [];
  private readonly next: () => number;
  constructor(seed: number, private readonly dtype: WriteDType) { this.next = rng(seed); }

  /** uniform(−bound, bound) */
  uniform(name: string, shape: number[], bound: number, dtype: WriteDType = this.dtype): void {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; ++i) data[i] = bound * (2 * this.next() - 1);
    this.tensors.push({ name, shape, dtype, data });
  }
  fill(name: string, shape: number[], value: number, dtype: WriteDType = this.dtype): void {
    const n = shape.reduce((a, b) => a * b, 1);
    this.tensors.push({ name, shape, dtype, data: new Float32Array(n).fill(value) });
  }
  /** nn.Linear / nn.Conv default init: weight and bias uniform(±1/√fan_in). */
  linear(prefix: string, shape: number[], bias = true, gain = 1): void {
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    const bound = gain / Math.sqrt(fanIn);
    this.uniform(`${prefix}.weight`, shape, bound);
    if (bias) this.uniform(`${prefix}.bias`, [shape[0]!], bound);
  }
}

// ---------------------------------------------------------------- umT5 (wan/modules/t5.py T5Encoder keys)
function umt5Weights(seed: number): NamedTensor[] {
  const c = DEMO_UMT5;
  const m = new WeightMaker(seed, "BF16");
  m.uniform("token_embedding.weight", [c.vocab, c.dim], Math.sqrt(3)); // std 1, as T5's init
  for (let i = 0; i < c.numLayers; ++i) {
    const p = `blocks.${i}.`;
    m.fill(`${p}norm1.weight`, [c.dim], 1);
    for (const k of ["q", "k", "v"]) m.linear(`${p}attn.${k}`, [c.dimAttn, c.dim], false);
    m.linear(`${p}attn.o`, [c.dim, c.dimAttn], false);
    m.fill(`${p}norm2.weight`, [c.dim], 1);
    m.linear(`${p}ffn.gate.0`, [c.dimFfn, c.dim], false);
    m.linear(`${p}ffn.fc1`, [c.dimFfn, c.dim], false);
    m.linear(`${p}ffn.fc2`, [c.dim, c.dimFfn], false);
    m.uniform(`${p}pos_embedding.embedding.weight`, [c.numBuckets, c.numHeads], 0.5);
  }
  m.fill("norm.weight", [c.dim], 1);
  return m.tensors;
}

// ---------------------------------------------------------------- DiT (facts §2.2, TurboDiffusion keys)
function ditWeights(seed: number, inDim: number): NamedTensor[] {
  const c = { ...DEMO_DIT, inDim };
  const D = c.dim, F = c.ffnDim;
  const m = new WeightMaker(seed, "BF16");
  m.linear("patch_embedding", [D, inDim * 4]);
  m.linear("text_embedding.0", [D, c.textDim]);
  m.linear("text_embedding.2", [D, D]);
  m.linear("time_embedding.0", [D, c.freqDim]);
  m.linear("time_embedding.2", [D, D]);
  m.linear("time_projection.1", [6 * D, D]);
  m.linear("head.head", [c.outDim * 4, D]);
  m.uniform("head.modulation", [1, 2, D], 0.1);
  for (let i = 0; i < c.numLayers; ++i) {
    const p = `blocks.${i}.`;
    m.uniform(`${p}modulation`, [1, 6, D], 0.1);
    for (const k of ["q", "k", "v", "o"]) m.linear(`${p}self_attn.${k}`, [D, D]);
    m.fill(`${p}self_attn.norm_q.weight`, [D], 1, "F32");
    m.fill(`${p}self_attn.norm_k.weight`, [D], 1, "F32");
    m.linear(`${p}self_attn.attn_op.local_attn.proj_l`, [128, 128], true, 0.1);
    m.fill(`${p}norm3.weight`, [D], 1, "F32");
    m.fill(`${p}norm3.bias`, [D], 0, "F32");
    for (const k of ["q", "k", "v", "o"]) m.linear(`${p}cross_attn.${k}`, [D, D]);
    m.fill(`${p}cross_attn.norm_q.weight`, [D], 1, "F32");
    m.fill(`${p}cross_attn.norm_k.weight`, [D], 1, "F32");
    m.linear(`${p}ffn.0`, [F, D]);
    m.linear(`${p}ffn.2`, [D, F]);
  }
  return m.tensors;
}

// ---------------------------------------------------------------- VAE (wan/modules/vae.py WanVAE_ keys)
function vaeWeights(seed: number): NamedTensor[] {
  const { dim, zDim, dimMult, numResBlocks, temporalDownsample } = DEMO_VAE;
  const m = new WeightMaker(seed, "F32");
  const conv3 = (p: string, cout: number, cin: number, k: [number, number, number]) => m.linear(p, [cout, cin, ...k]);
  const gamma = (p: string, c: number, dims: number) => m.fill(p, [c, ...Array<number>(dims).fill(1)], 1);
  const res = (p: string, cin: number, cout: number) => {
    gamma(`${p}.residual.0.gamma`, cin, 3);
    conv3(`${p}.residual.2`, cout, cin, [3, 3, 3]);
    gamma(`${p}.residual.3.gamma`, cout, 3);
    conv3(`${p}.residual.6`, cout, cout, [3, 3, 3]);
    if (cin !== cout) conv3(`${p}.shortcut`, cout, cin, [1, 1, 1]);
  };
  const attn = (p: string, c: number) => {
    gamma(`${p}.norm.gamma`, c, 2);
    m.linear(`${p}.to_qkv`, [3 * c, c, 1, 1]);
    m.linear(`${p}.proj`, [c, c, 1, 1], true, 0.5); // zero-initialized in Wan; nonzero so it matters here
  };
  const resample = (p: string, c: number, mode: "up2d" | "up3d" | "down2d" | "down3d") => {
    const up = mode.startsWith("up");
    m.linear(`${p}.resample.1`, [up ? c / 2 : c, c, 3, 3]);
    if (mode === "up3d") conv3(`${p}.time_conv`, 2 * c, c, [3, 1, 1]);
    if (mode === "down3d") conv3(`${p}.time_conv`, c, c, [3, 1, 1]);
  };
  // Encoder3d(dim, 2·z_dim)
  const ed = [1, ...dimMult].map((u) => dim * u);
  conv3("encoder.conv1", ed[0]!, 3, [3, 3, 3]);
  let idx = 0;
  let cout = ed[0]!;
  for (let i = 0; i < dimMult.length; ++i) {
    let cin = ed[i]!;
    cout = ed[i + 1]!;
    for (let r = 0; r < numResBlocks; ++r, cin = cout) res(`encoder.downsamples.${idx++}`, cin, cout);
    if (i !== dimMult.length - 1) resample(`encoder.downsamples.${idx++}`, cout, temporalDownsample[i] ? "down3d" : "down2d");
  }
  res("encoder.middle.0", cout, cout);
  attn("encoder.middle.1", cout);
  res("encoder.middle.2", cout, cout);
  gamma("encoder.head.0.gamma", cout, 3);
  conv3("encoder.head.2", 2 * zDim, cout, [3, 3, 3]);
  conv3("conv1", 2 * zDim, 2 * zDim, [1, 1, 1]);
  conv3("conv2", zDim, zDim, [1, 1, 1]);
  // Decoder3d(dim, z_dim), temporal upsample = reversed(temporal downsample)
  const dd = [dimMult[dimMult.length - 1]!, ...[...dimMult].reverse()].map((u) => dim * u);
  const temporalUp = [...temporalDownsample].reverse();
  conv3("decoder.conv1", dd[0]!, zDim, [3, 3, 3]);
  res("decoder.middle.0", dd[0]!, dd[0]!);
  attn("decoder.middle.1", dd[0]!);
  res("decoder.middle.2", dd[0]!, dd[0]!);
  idx = 0;
  for (let i = 0; i < dimMult.length; ++i) {
    let cin = i === 0 ? dd[0]! : dd[i]! / 2;
    cout = dd[i + 1]!;
    for (let r = 0; r < numResBlocks + 1; ++r, cin = cout) res(`decoder.upsamples.${idx++}`, cin, cout);
    if (i !== dimMult.length - 1) resample(`decoder.upsamples.${idx++}`, cout, temporalUp[i] ? "up3d" : "up2d");
  }
  gamma("decoder.head.0.gamma", cout, 3);
  conv3("decoder.head.2", 3, cout, [3, 3, 3]);
  return m.tensors;
}

const TOKENIZER = fileURLToPath(new URL("./demo_tokenizer.json", import.meta.url));

/**
 * Writes the demo model into `dir` (created if needed) and returns its checkpoint paths.
 * Deterministic: the same seed gives byte-identical files. Takes well under a second.
 */
export function writeDemoModel(dir: string, options: DemoModelOptions = {}): CheckpointPaths {
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 31) throw new Error(`writeDemoModel: seed must be an integer in [0, 2^31), got ${seed}`);
  const modelType = options.modelType ?? "t2v";
  if (modelType !== "t2v" && modelType !== "i2v") throw new Error(`writeDemoModel: modelType must be "t2v" or "i2v", got ${String(modelType)}`);
  mkdirSync(dir, { recursive: true });
  const file = (name: string) => path.join(dir, name);
  const paths: CheckpointPaths = {
    dit: file("dit.pth"),
    textEncoder: file("umt5.pth"),
    tokenizer: file("tokenizer.json"),
    vae: file("vae.pth"),
  };
  // Distinct streams per file, all derived from the one seed.
  const sub = (k: number) => (Math.imul(seed, 0x9e3779b1) + k * 0x85ebca6b) >>> 0;
  if (modelType === "t2v") {
    writeTorchPth(paths.dit as string, ditWeights(sub(1), 16), "dit");
  } else {
    writeTorchPth(paths.dit as string, ditWeights(sub(1), 36), "dit");
    paths.ditLow = file("dit-low.pth");
    writeTorchPth(paths.ditLow, ditWeights(sub(2), 36), "dit-low");
  }
  writeTorchPth(paths.textEncoder!, umt5Weights(sub(3)), "umt5");
  writeTorchPth(paths.vae!, vaeWeights(sub(4)), "vae");
  copyFileSync(TOKENIZER, paths.tokenizer!);
  return paths;
}

/** The DiT config of the demo model of the given type (what the engine detects from dit.pth). */
export function demoDitConfig(modelType: "t2v" | "i2v" = "t2v"): DiTConfig {
  return modelType === "t2v" ? { ...DEMO_DIT } : { ...DEMO_DIT, modelType: "i2v", inDim: 36 };
}
