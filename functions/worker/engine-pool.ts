// Keeps engine pipelines warm: one per model, loaded on first use, reused across jobs.
// Memory policy is explicit: at most `maxResident` models stay loaded; loading another unloads the
// least recently used idle one first (a model in use is never unloaded under a running job).
import { existsSync, readdirSync } from "node:fs";
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

  /** Borrow the warm pipeline for `model`, loading it first if needed. */
  async acquire(model: ModelName): Promise<PipelineLease> {
    if (this.closed) throw new Error("The engine pool is shut down.");
    let resident = this.residents.get(model);
    if (!resident) {
      await this.makeRoomFor(model);
      resident = { model, pipeline: this.load(model), inUse: 0, lastUsed: 0 };
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
  async unload(model: ModelName): Promise<void> {
    const resident = this.residents.get(model);
    if (!resident) return;
    this.residents.delete(model);
    this.log.info({ model }, "unloading model");
    try {
      await (await resident.pipeline).dispose();
    } catch (err) {
      this.log.warn({ model, err }, "unloading the model failed");
    }
  }

  /** Dispose every pipeline; acquire() fails afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.residents.keys()].map((m) => this.unload(m)));
  }

  private async makeRoomFor(model: ModelName): Promise<void> {
    while (this.residents.size >= this.maxResident) {
      const idle = [...this.residents.values()].filter((r) => r.inUse === 0).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!idle) {
        // Every resident model is running a job; loading another would exceed the policy.
        throw new Error(
          `Cannot load ${model}: ${this.residents.size} model(s) already loaded and busy (max resident ${this.maxResident}).`,
        );
      }
      this.log.info({ model: idle.model, for: model }, "swapping out least recently used model");
      await this.unload(idle.model);
    }
  }

  private async load(model: ModelName): Promise<Pipeline> {
    this.engine ??= typeof this.opts.engine === "function" ? this.opts.engine() : Promise.resolve(this.opts.engine ?? importEngine());
    const engine = await this.engine;
    const started = Date.now();
    const checkpoints =
      model === "demo"
        ? await engine.demoCheckpoints(path.join(this.opts.modelsDir, "demo"))
        : findCheckpoints(this.opts.modelsDir, model);
    const backend = this.opts.backend === "auto" ? undefined : this.opts.backend;
    this.log.info({ model, backend: backend ?? "auto" }, "loading model");
    const pipeline = await engine.loadPipeline({ model, checkpoints, backend });
    this.log.info({ model, ms: Date.now() - started }, "model loaded");
    return pipeline;
  }
}

/**
 * Finds the released checkpoint files of a named model under `<modelsDir>/<model>/`
 * (as `turbowan fetch-weights` lays them out). Says which file is missing and where.
 */
export function findCheckpoints(modelsDir: string, model: ModelName): CheckpointPaths {
  const dir = path.join(modelsDir, model);
  if (!existsSync(dir)) {
    throw new Error(
      `No weights for ${model}: ${dir} does not exist. Run \`turbowan fetch-weights ${model}\` or set TURBOWAN_MODELS_DIR to the folder that holds ${model}/.`,
    );
  }
  const files = readdirSync(dir);
  const pick = (test: (f: string) => boolean, what: string): string => {
    const f = files.find(test);
    if (!f) throw new Error(`The weights of ${model} in ${dir} lack ${what}.`);
    return path.join(dir, f);
  };
  const isWeights = (f: string) => /\.(pth|pt|safetensors)$/i.test(f) || f.endsWith(".safetensors.index.json");
  const vae = pick((f) => /vae/i.test(f) && isWeights(f), "the VAE (Wan2.1_VAE.pth)");
  const textEncoder = pick((f) => /t5/i.test(f) && isWeights(f), "the text encoder (models_t5_umt5-xxl-enc-bf16.pth)");
  const tokenizer = existsSync(path.join(dir, "tokenizer.json"))
    ? path.join(dir, "tokenizer.json")
    : path.join(dir, "google", "umt5-xxl", "tokenizer.json");
  if (!existsSync(tokenizer)) throw new Error(`The weights of ${model} in ${dir} lack the umT5 tokenizer.json.`);
  const dits = files.filter((f) => isWeights(f) && !/vae|t5/i.test(f));
  if (model === "wan2.2-i2v-a14b") {
    const high = dits.find((f) => /high/i.test(f));
    const low = dits.find((f) => /low/i.test(f));
    if (!high || !low) throw new Error(`The weights of ${model} in ${dir} need both the high-noise and the low-noise DiT.`);
    return { dit: path.join(dir, high), ditLow: path.join(dir, low), textEncoder, tokenizer, vae };
  }
  const index = dits.find((f) => f.endsWith(".safetensors.index.json"));
  if (index) return { dit: path.join(dir, index), textEncoder, tokenizer, vae };
  if (dits.length === 0) throw new Error(`The weights of ${model} in ${dir} lack the DiT checkpoint.`);
  return { dit: dits.length === 1 ? path.join(dir, dits[0]!) : dits.sort().map((f) => path.join(dir, f)), textEncoder, tokenizer, vae };
}
