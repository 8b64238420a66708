// The turbowan engine's TypeScript API. Every blocking call runs off the JS thread in the addon;
// progress arrives through one callback; an AbortSignal stops work at the next step boundary.
import { abortError, EngineOptionError, fromNative } from "./errors.js";
import { loadAddon, type NativeEngine } from "./addon.js";
import { PromptCache } from "./prompt-cache.js";
import { adaptiveSize, DEMO_SCALE, VIDEO_SIZES } from "./sizes.js";
import { writeDemoModel } from "./demo/demo_model.js";
import { UMT5Tokenizer } from "./tokenizer.js";
import { checkTensor, resolveSampler } from "./options.js";
import type {
  CheckpointPaths,
  DenoiseRequest,
  DenoiseResult,
  DiTConfig,
  FloatTensor,
  GeneratedVideo,
  GenerateRequest,
  LoadOptions,
  ModelName,
} from "./types.js";

export * from "./types.js";
export { VIDEO_SIZES, adaptiveSize } from "./sizes.js";
export { EngineError, EngineOptionError, AddonLoadError } from "./errors.js";

export const MODEL_NAMES: readonly ModelName[] = ["wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.2-i2v-a14b", "demo"];

/** What the addon was built with. */
export function backendInfo(): { cuda: boolean; gpu: boolean } {
  const b = loadAddon().backendInfo();
  return { cuda: b.cuda, gpu: b.gpu };
}

/** Runs `fn` with a native cancel token wired to `signal`. */
async function withSignal<T>(signal: AbortSignal | undefined, fn: (token: unknown) => Promise<T>): Promise<T> {
  if (signal?.aborted) throw abortError();
  const addon = loadAddon();
  const token = new addon.CancelToken();
  const onAbort = () => token.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await fn(token);
  } catch (err) {
    throw fromNative(err);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

export class Pipeline {
  #dit: NativeEngine | undefined;
  readonly #tokenizer: UMT5Tokenizer | undefined;
  readonly #prompts: PromptCache;
  readonly model: ModelName | "custom";
  /** The demo model takes image jobs too: its I2V experts load on first use. */
  #demoI2V: (() => Promise<Pipeline>) | undefined;
  #demoI2VLoaded: Promise<Pipeline> | undefined;

  /** @internal use loadPipeline() */
  constructor(dit: NativeEngine, model: ModelName | "custom", tokenizer?: UMT5Tokenizer, promptCacheSize = 64) {
    this.#dit = dit;
    this.model = model;
    this.#tokenizer = tokenizer;
    this.#prompts = new PromptCache(promptCacheSize);
  }

  /** Hits and misses of the prompt-embedding cache (repeated prompts skip the text encoder). */
  get promptCacheStats(): { hits: number; misses: number; size: number } {
    return this.#prompts.stats();
  }

  /** `expertResidency`: how the two experts of a Wan2.2 model sit in GPU memory (`none`: one expert or CPU). */
  get config(): DiTConfig & { quantized: boolean; hasProjL: boolean; backend: "cpu" | "cuda"; expertResidency: "none" | "resident" | "parked" } {
    return this.#engine().config as unknown as DiTConfig & {
      quantized: boolean;
      hasProjL: boolean;
      backend: "cpu" | "cuda";
      expertResidency: "none" | "resident" | "parked";
    };
  }

  #engine(): NativeEngine {
    if (!this.#dit) throw new Error("this pipeline was disposed; load it again");
    return this.#dit;
  }

  /**
   * One DiT evaluation: the predicted velocity for `latents` [B,16,T,H,W] at `timestep` (×1000
   * scale) given `textEmbedding` [B,textLen,textDim] and, for I2V, `condition` [B,20,T,H,W].
   */
  async forward(
    latents: FloatTensor,
    timestep: number,
    textEmbedding: FloatTensor,
    condition?: FloatTensor,
    options: { attention?: DenoiseRequest["attention"]; topk?: number; expert?: "high" | "low" } = {},
  ): Promise<FloatTensor> {
    checkTensor("latents", latents, 5);
    checkTensor("textEmbedding", textEmbedding, 3);
    if (condition) checkTensor("condition", condition, 5);
    if (!Number.isFinite(timestep)) throw new EngineOptionError("timestep", `must be a finite number, got ${timestep}`);
    const { attention, topk } = resolveSampler({ attention: options.attention, topk: options.topk }, 80);
    const engine = this.#engine();
    try {
      const out = await engine.forward({
        x: latents.data,
        xShape: latents.shape,
        cond: condition?.data,
        condShape: condition?.shape,
        timestep,
        context: textEmbedding.data,
        contextShape: textEmbedding.shape,
        attention,
        topk,
        expert: options.expert ?? "high",
      });
      const shape = [...latents.shape];
      shape[1] = this.config.outDim;
      return { data: out, shape };
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** rCM sampling from noise to clean latents. */
  async denoise(req: DenoiseRequest): Promise<DenoiseResult> {
    const cfg = this.config;
    const isI2V = cfg.modelType === "i2v";
    const s = resolveSampler(req, isI2V ? 200 : 80);
    const [T, H, W] = req.latentShape ?? [];
    if (![T, H, W].every((d) => Number.isInteger(d) && (d as number) > 0))
      throw new EngineOptionError("latentShape", `must be three positive integers [T, H, W], got [${req.latentShape}]`);
    if ((H as number) % 2 || (W as number) % 2) throw new EngineOptionError("latentShape", "H and W must be even (the DiT patch is 2×2)");
    const B = req.samples ?? 1;
    if (!Number.isInteger(B) || B < 1 || B > 16) throw new EngineOptionError("samples", `must be 1–16, got ${req.samples}`);
    checkTensor("textEmbedding", req.textEmbedding, 3);
    if (isI2V) checkTensor("condition", req.condition, 5);
    else if (req.condition) throw new EngineOptionError("condition", "only I2V models take a condition");
    const latentShape = [B, cfg.outDim, T, H, W];
    const engine = this.#engine();
    const t0 = performance.now();
    const out = await withSignal(req.signal, (token) =>
      engine.denoise(
        {
          latentShape,
          context: req.textEmbedding.data,
          contextShape: req.textEmbedding.shape,
          cond: req.condition?.data,
          condShape: req.condition?.shape,
          steps: s.steps,
          sigmaMax: s.sigmaMax,
          seed: s.seed,
          ode: s.ode,
          attention: s.attention,
          topk: s.topk,
          initialNoise: req.initialNoise?.data,
          stepNoises: req.stepNoises?.map((n) => n.data),
        },
        req.onProgress ? (p) => req.onProgress!(p as Parameters<NonNullable<DenoiseRequest["onProgress"]>>[0]) : undefined,
        token as never,
      ),
    );
    return {
      latents: { data: out.latents, shape: latentShape as number[] },
      seed: s.seed,
      timingsMs: { denoise: out.denoiseMs, total: performance.now() - t0 },
    };
  }

  /**
   * Prompt (+ image) → RGB8 video frames: encode text (cached by cleaned prompt), encode the image
   * (I2V), rCM sampling, VAE decode streamed per latent frame. Progress covers every stage; the
   * signal stops at the next step or decode chunk.
   */
  async generate(req: GenerateRequest): Promise<GeneratedVideo> {
    if (req.image && this.#demoI2V && this.config.modelType === "t2v") {
      this.#demoI2VLoaded ??= this.#demoI2V();
      return (await this.#demoI2VLoaded).generate(req);
    }
    const cfg = this.config;
    const isI2V = cfg.modelType === "i2v";
    if (typeof req.prompt !== "string") throw new EngineOptionError("prompt", "must be a string");
    if (!this.#tokenizer) throw new EngineOptionError("checkpoints.tokenizer", "generate() needs the umT5 tokenizer.json");
    const s = resolveSampler(req, isI2V ? 200 : 80);
    const resolution = req.resolution ?? (isI2V ? "720p" : "480p");
    const aspect = req.aspectRatio ?? "16:9";
    if (!VIDEO_SIZES[resolution]) throw new EngineOptionError("resolution", `must be 480p or 720p, got ${resolution}`);
    if (!VIDEO_SIZES[resolution][aspect]) throw new EngineOptionError("aspectRatio", `must be one of 16:9, 9:16, 1:1, 4:3, 3:4, got ${aspect}`);
    let [width, height] = VIDEO_SIZES[resolution][aspect];
    if (req.width !== undefined || req.height !== undefined) {
      // Explicit sizes (tools, tests and the demo model); multiples of 16.
      width = req.width ?? width;
      height = req.height ?? height;
    } else if (isI2V && req.image && req.adaptiveResolution) {
      [width, height] = adaptiveSize(resolution, aspect, req.image.width, req.image.height);
    }
    if (this.model === "demo" && req.width === undefined && req.height === undefined) {
      // The demo model decodes on the CPU: it renders at 1/DEMO_SCALE of the requested size.
      [width, height] = [width, height].map((v) => Math.max(16, Math.round(v / DEMO_SCALE / 16) * 16)) as [number, number];
    }
    for (const [k, v] of [["width", width], ["height", height]] as const)
      if (!Number.isInteger(v) || v < 16 || v % 16) throw new EngineOptionError(k, `must be a positive multiple of 16, got ${v}`);
    const frames = req.frames ?? 81;
    if (!Number.isInteger(frames) || frames < 1 || (frames - 1) % 4) throw new EngineOptionError("frames", `must be 4k+1 (e.g. 17, 49, 81), got ${frames}`);
    const samples = req.samples ?? 1;
    if (!Number.isInteger(samples) || samples < 1 || samples > 16) throw new EngineOptionError("samples", `must be 1–16, got ${samples}`);
    if (isI2V && !req.image) throw new EngineOptionError("image", "this is an image-to-video model: give an image");
    if (!isI2V && req.image) throw new EngineOptionError("image", "this is a text-to-video model: it takes no image");

    const tok = this.#tokenizer.encode(req.prompt, { length: cfg.textLen });
    if (tok.length <= 1) throw new EngineOptionError("prompt", "is empty after cleaning");
    const cached = this.#prompts.get(tok.text);
    const image = req.image ? await imageToTensor(req.image, width, height) : undefined;
    const engine = this.#engine();
    const t0 = performance.now();
    const out = await withSignal(req.signal, (token) =>
      engine.generate(
        {
          ...(cached ? { textEmbedding: cached } : { ids: tok.ids, mask: tok.mask }),
          width,
          height,
          frames,
          samples,
          image,
          steps: s.steps,
          sigmaMax: s.sigmaMax,
          seed: s.seed,
          ode: s.ode,
          attention: s.attention,
          topk: s.topk,
        },
        req.onProgress ? (p) => req.onProgress!(p as Parameters<NonNullable<GenerateRequest["onProgress"]>>[0]) : undefined,
        token as never,
        req.onFrames,
      ),
    );
    if (!cached) this.#prompts.set(tok.text, out.textEmbedding);
    return {
      frames: out.frames,
      numFrames: out.numFrames * samples,
      width,
      height,
      fps: 16,
      seed: s.seed,
      timingsMs: { ...out.timingsMs, total: performance.now() - t0 },
    };
  }

  /** Frees the engine's memory now (a finalizer does it otherwise). Calls in flight finish first. */
  dispose(): void {
    this.#dit?.dispose();
    this.#dit = undefined;
    void this.#demoI2VLoaded?.then((p) => p.dispose(), () => undefined);
    this.#demoI2VLoaded = undefined;
  }

  /** @internal */
  attachDemoI2V(load: () => Promise<Pipeline>): void {
    this.#demoI2V = load;
  }
}

/**
 * Checkpoints of the built-in demo model (a tiny Wan-architecture T2V set in the real formats),
 * written into `dir` on first use. Its videos are abstract patterns, not pictures of the prompt.
 */
export async function demoCheckpoints(dir: string): Promise<CheckpointPaths> {
  const { existsSync, mkdirSync, renameSync, rmSync } = await import("node:fs");
  const path = await import("node:path");
  // T2V set in `dir`, the two I2V experts in `dir/i2v` (the "demo" model takes both kinds of job).
  const sets = [
    { at: dir, type: "t2v" as const, files: ["dit.pth", "umt5.pth", "vae.pth", "tokenizer.json"] },
    { at: path.join(dir, "i2v"), type: "i2v" as const, files: ["dit.pth", "dit-low.pth", "umt5.pth", "vae.pth", "tokenizer.json"] },
  ];
  for (const set of sets) {
    if (set.files.every((f) => existsSync(path.join(set.at, f)))) continue;
    // Written aside and renamed in, so a crash mid-write never leaves a truncated file behind.
    const tmp = `${set.at}.tmp-${process.pid}`;
    writeDemoModel(tmp, { modelType: set.type });
    mkdirSync(set.at, { recursive: true });
    for (const f of set.files) renameSync(path.join(tmp, f), path.join(set.at, f));
    rmSync(tmp, { recursive: true, force: true });
  }
  return {
    dit: path.join(dir, "dit.pth"),
    textEncoder: path.join(dir, "umt5.pth"),
    vae: path.join(dir, "vae.pth"),
    tokenizer: path.join(dir, "tokenizer.json"),
  };
}

/** The demo's I2V experts next to its T2V set (see demoCheckpoints). */
function demoI2VCheckpoints(t2v: CheckpointPaths): CheckpointPaths | undefined {
  if (typeof t2v.dit !== "string") return undefined;
  const dir = t2v.dit.slice(0, t2v.dit.lastIndexOf("/")) + "/i2v";
  return {
    dit: `${dir}/dit.pth`,
    ditLow: `${dir}/dit-low.pth`,
    textEncoder: `${dir}/umt5.pth`,
    vae: `${dir}/vae.pth`,
    tokenizer: `${dir}/tokenizer.json`,
  };
}

/** Loads a pipeline from checkpoint paths and a model name or an explicit config. */
export async function loadPipeline(opts: LoadOptions): Promise<Pipeline> {
  if (!opts?.checkpoints?.dit) throw new EngineOptionError("checkpoints.dit", "is required");
  if (opts.model && !MODEL_NAMES.includes(opts.model))
    throw new EngineOptionError("model", `must be one of ${MODEL_NAMES.join(", ")}, got ${opts.model}`);
  if (opts.textEncoderWeights !== undefined && opts.textEncoderWeights !== "bf16" && opts.textEncoderWeights !== "int8")
    throw new EngineOptionError("textEncoderWeights", `must be bf16 or int8, got ${String(opts.textEncoderWeights)}`);
  if (opts.model === "wan2.2-i2v-a14b" && !opts.checkpoints.ditLow)
    throw new EngineOptionError("checkpoints.ditLow", "wan2.2-i2v-a14b needs the low-noise expert too");
  if (opts.expertResidency !== undefined && !["auto", "resident", "parked"].includes(opts.expertResidency))
    throw new EngineOptionError("expertResidency", `must be auto, resident or parked, got ${opts.expertResidency}`);
  const addon = loadAddon();
  const tokenizer = opts.checkpoints.tokenizer ? await UMT5Tokenizer.fromFile(opts.checkpoints.tokenizer) : undefined;
  try {
    const engine = await addon.loadEngine({
      model: opts.model === "demo" ? undefined : opts.model,
      config: opts.config,
      dit: opts.checkpoints.dit,
      ditLow: opts.checkpoints.ditLow,
      textEncoder: opts.checkpoints.textEncoder,
      vae: opts.checkpoints.vae,
      backend: opts.backend ?? "auto",
      textEncoderOnCpu: opts.textEncoderOnCpu ?? false,
      textEncoderWeights: opts.textEncoderWeights ?? "auto",
      expertResidency: opts.expertResidency ?? "auto",
    });
    const pipeline = new Pipeline(engine, opts.model ?? "custom", tokenizer, opts.promptCacheSize);
    const i2v = opts.model === "demo" ? demoI2VCheckpoints(opts.checkpoints) : undefined;
    if (i2v) pipeline.attachDemoI2V(() => loadPipeline({ ...opts, model: undefined, checkpoints: i2v }));
    return pipeline;
  } catch (err) {
    throw fromNative(err);
  }
}

/** RGB8 image → [3, height, width] floats in [−1, 1], resized (no crop) with an antialiased triangle filter. */
async function imageToTensor(img: { data: Uint8Array; width: number; height: number }, width: number, height: number): Promise<Float32Array> {
  if (img.data.length !== img.width * img.height * 3)
    throw new EngineOptionError("image", `data must be RGB8 of ${img.width}×${img.height} (${img.width * img.height * 3} bytes), got ${img.data.length}`);
  const { default: sharp } = await import("sharp");
  const rgb = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: "fill", kernel: "linear" })
    .raw()
    .toBuffer();
  const out = new Float32Array(3 * width * height);
  const plane = width * height;
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < 3; c++) out[c * plane + i] = (rgb[i * 3 + c]! / 255 - 0.5) / 0.5;
  return out;
}
