// Keeps engine pipelines warm: one per model, loaded on first use, reused across jobs.
// Memory policy is explicit: at most `maxResident` models stay loaded; loading another unloads the
// least recently used idle one first (a model in use is never unloaded under a running job).
import { existsSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { Backend, CheckpointPaths, GenerateRequest, GeneratedVideo, LoadOptions, ModelName } from "../../native/src/types.js";
import { silentLogger } from "../log.js";

/** What the worker needs of a loaded pipeline (native/src/index.ts). */
export interface Pipeline {
  generate(req: GenerateRequest): Promise<GeneratedVideo>;
  dispose(): Promise<void> | void;
}

/** What the worker needs of the engine module (native/src/index.ts). */
export interface EngineModule {
  loadPipeline(opts: LoadOptions): Promise<Pipeline>;
  demoCheckpoints(dir: string): Promise<CheckpointPaths>;
}

/** Imports the native engine's TypeScript API; a clear error when the addon is not built. */
export async function importEngine(): Promise<EngineModule> {
  try {
    // A variable specifier keeps this file independent of the addon's build at typecheck time.
    const specifier = "../../native/src/index.js";
    return (await import(specifier)) as EngineModule;
  } catch (err) {
    throw new Error(
      `The turbowan engine could not be loaded (${(err as Error).message.split("\n")[0]}). ` +
        "Build it with `npm run build:native` (or reinstall with `npm install`).",
      { cause: err },
    );
  }
}

export interface EnginePoolOptions {
  modelsDir: string;
  backend?: "auto" | Backend;
  /** GPU text encoder weights (TURBOWAN_TEXT_ENCODER_WEIGHTS); "auto" or absent: the engine's default. */
  textEncoderWeights?: "auto" | NonNullable<LoadOptions["textEncoderWeights"]>;
  /** How many models may be loaded at once. Default 1 (one GPU rarely holds two 14B models). */
  maxResident?: number;
  engine?: EngineModule | (() => Promise<EngineModule>);
  log?: Logger;
}

interface Resident {
  model: ModelName;
  pipeline: Promise<Pipeline>;
  inUse: number;
  lastUsed: number;
}

/** A pipeline borrowed for one job; call release() when the job is done. */
export interface PipelineLease {
  pipeline: Pipeline;
  release(): void;
}

export class EnginePool {
  private readonly residents = new Map<ModelName, Resident>();
  private readonly maxResident: number;
  private readonly log: Logger;
  private engine?: Promise<EngineModule>;
  private closed = false;
  private clock = 0;

  constructor(private readonly opts: EnginePoolOptions) {
    this.maxResident = Math.max(1, opts.maxResident ?? 1);
    this.log = opts.log ?? silentLogger;
  }

  /** Models currently loaded (or loading), least recently used first. */
  resident(): ModelName[] {
    return [...this.residents.values()].sort((a, b) => a.lastUsed - b.lastUsed).map((r) => r.model);
  }

  /** Borrow the warm pipeline for `model`, loading it first if needed. `log` is the job's logger,
   * so load and swap lines carry its job id. */
  async acquire(model: ModelName, log: Logger = this.log): Promise<PipelineLease> {
    if (this.closed) throw new Error("The engine pool is shut down.");
    let resident = this.residents.get(model);
    if (!resident) {
      await this.makeRoomFor(model, log);
      resident = { model, pipeline: this.load(model, log), inUse: 0, lastUsed: 0 };
      this.residents.set(model, resident);
      resident.pipeline.catch(() => {
        // A failed load must not stay cached: the next job retries it (e.g. after fixing the files).
        if (this.residents.get(model) === resident) this.residents.delete(model);
      });
    }
    resident.inUse++;
    resident.lastUsed = ++this.clock;
    let pipeline: Pipeline;
    try {
      pipeline = await resident.pipeline;
    } catch (err) {
      resident.inUse--;
      throw err;
    }
    let released = false;
    const r = resident;
    return {
      pipeline,
      release: () => {
        if (released) return;
        released = true;
        r.inUse--;
        r.lastUsed = ++this.clock;
      },
    };
  }

  /** Unload one model now (no-op when it is not loaded). */
  async unload(model: ModelName, log: Logger = this.log): Promise<void> {
    const resident = this.residents.get(model);
    if (!resident) return;
    this.residents.delete(model);
    log.info({ model }, "unloading model");
    try {
      await (await resident.pipeline).dispose();
    } catch (err) {
      log.warn({ model, err }, "unloading the model failed");
    }
  }

  /** Dispose every pipeline; acquire() fails afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.residents.keys()].map((m) => this.unload(m)));
  }

  private async makeRoomFor(model: ModelName, log: Logger): Promise<void> {
    while (this.residents.size >= this.maxResident) {
      const idle = [...this.residents.values()].filter((r) => r.inUse === 0).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!idle) {
        // Every resident model is running a job; loading another would exceed the policy.
        throw new Error(
          `Cannot load ${model}: ${this.residents.size} model(s) already loaded and busy (max resident ${this.maxResident}).`,
        );
      }
      log.info({ model: idle.model, for: model }, "swapping out least recently used model");
      await this.unload(idle.model, log);
    }
  }

  private async load(model: ModelName, log: Logger): Promise<Pipeline> {
    this.engine ??= typeof this.opts.engine === "function" ? this.opts.engine() : Promise.resolve(this.opts.engine ?? importEngine());
    const engine = await this.engine;
    const started = Date.now();
    const checkpoints =
      model === "demo"
        ? await engine.demoCheckpoints(path.join(this.opts.modelsDir, "demo"))
        : findCheckpoints(this.opts.modelsDir, model);
    const backend = this.opts.backend === "auto" ? undefined : this.opts.backend;
    log.info({ model, backend: backend ?? "auto" }, "loading model");
    const textEncoderWeights = this.opts.textEncoderWeights === "auto" ? undefined : this.opts.textEncoderWeights;
    const pipeline = await engine.loadPipeline({ model, checkpoints, backend, ...(textEncoderWeights ? { textEncoderWeights } : {}) });
    log.info({ model, ms: Date.now() - started }, "model loaded");
    return pipeline;
  }
}

/**
 * The checkpoint files of a named model in the layout `turbowan fetch-weights` writes
 * (functions/weights/manifest.ts): <modelsDir>/<model>/{dit.pth [, dit-low.pth], vae.pth, umt5.pth,
 * tokenizer.json}. Says which file is missing and how to get it.
 */
export function findCheckpoints(modelsDir: string, model: ModelName): CheckpointPaths {
  const dir = path.join(modelsDir, model);
  const names = model === "wan2.2-i2v-a14b" ? ["dit.pth", "dit-low.pth"] : ["dit.pth"];
  names.push("vae.pth", "umt5.pth", "tokenizer.json");
  const missing = names.filter((n) => !existsSync(path.join(dir, n)));
  if (missing.length > 0) {
    throw new Error(
      `The weights of ${model} are incomplete: ${missing.join(", ")} missing in ${dir}. ` +
        `Run \`turbowan fetch-weights ${model}\` or set TURBOWAN_MODELS_DIR to the folder that holds ${model}/.`,
    );
  }
  const at = (n: string) => path.join(dir, n);
  return {
    dit: at("dit.pth"),
    ...(model === "wan2.2-i2v-a14b" ? { ditLow: at("dit-low.pth") } : {}),
    vae: at("vae.pth"),
    textEncoder: at("umt5.pth"),
    tokenizer: at("tokenizer.json"),
  };
}
