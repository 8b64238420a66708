// The turbowan engine's TypeScript API. Every blocking call runs off the JS thread in the addon;
// progress arrives through one callback; an AbortSignal stops work at the next step boundary.
import { abortError, EngineOptionError, fromNative } from "./errors.js";
import { loadAddon, type NativeDitEngine } from "./addon.js";
import { checkTensor, resolveSampler } from "./options.js";
import type {
  DenoiseRequest,
  DenoiseResult,
  DiTConfig,
  FloatTensor,
  LoadOptions,
  ModelName,
} from "./types.js";

export * from "./types.js";
export { EngineError, EngineOptionError, AddonLoadError } from "./errors.js";

export const MODEL_NAMES: readonly ModelName[] = ["wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.2-i2v-a14b", "demo"];

/** What the addon was built with. */
export function backendInfo(): { cuda: boolean } {
  return { cuda: loadAddon().backendInfo().cuda };
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
  #dit: NativeDitEngine | undefined;
  readonly model: ModelName | "custom";

  /** @internal use loadPipeline() */
  constructor(dit: NativeDitEngine, model: ModelName | "custom") {
    this.#dit = dit;
    this.model = model;
  }

  get config(): DiTConfig & { quantized: boolean; hasProjL: boolean } {
    return this.#engine().config as unknown as DiTConfig & { quantized: boolean; hasProjL: boolean };
  }

  #engine(): NativeDitEngine {
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

  /** Frees the engine's memory now (a finalizer does it otherwise). Calls in flight finish first. */
  dispose(): void {
    this.#dit?.dispose();
    this.#dit = undefined;
  }
}

/** Loads a pipeline from checkpoint paths and a model name or an explicit config. */
export async function loadPipeline(opts: LoadOptions): Promise<Pipeline> {
  if (!opts?.checkpoints?.dit) throw new EngineOptionError("checkpoints.dit", "is required");
  if (opts.model && !MODEL_NAMES.includes(opts.model))
    throw new EngineOptionError("model", `must be one of ${MODEL_NAMES.join(", ")}, got ${opts.model}`);
  if (opts.model === "wan2.2-i2v-a14b" && !opts.checkpoints.ditLow)
    throw new EngineOptionError("checkpoints.ditLow", "wan2.2-i2v-a14b needs the low-noise expert too");
  const addon = loadAddon();
  try {
    const dit = await addon.loadDit({
      model: opts.model === "demo" ? undefined : opts.model,
      config: opts.config,
      dit: opts.checkpoints.dit,
      ditLow: opts.checkpoints.ditLow,
    });
    return new Pipeline(dit, opts.model ?? "custom");
  } catch (err) {
    throw fromNative(err);
  }
}
