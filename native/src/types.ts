// Public types of the turbowan engine's TypeScript API. The worker, the CLI and the tools code
// against these; the addon translates them into the C++ engine's params structs.

/** Named models with known configs (facts/wan-models.md §1.1). `demo` is the tiny built-in set. */
export type ModelName = "wan2.1-t2v-1.3b" | "wan2.1-t2v-14b" | "wan2.2-i2v-a14b" | "demo";

export type AttentionType = "original" | "sla" | "sagesla";
export type Resolution = "480p" | "720p";
export type AspectRatio = "16:9" | "9:16" | "1:1" | "4:3" | "3:4";
export type Backend = "cpu" | "cuda";

/** Weight format of the GPU text encoder (LoadOptions.textEncoderWeights). */
export type TextEncoderWeights = "bf16" | "int8";

/** Wan DiT config (field names as in the facts sheet, camelCased). */
export interface DiTConfig {
  modelType: "t2v" | "i2v";
  dim: number;
  ffnDim: number;
  numHeads: number;
  numLayers: number;
  inDim: number;
  outDim: number;
  textDim: number;
  textLen: number;
  freqDim: number;
  eps: number;
}

/** Checkpoint files. Each entry is a path or a list of shard paths (or a `.safetensors.index.json`). */
export interface CheckpointPaths {
  /** DiT weights; for Wan2.2 A14B this is the high-noise expert. */
  dit: string | string[];
  /** Wan2.2 A14B low-noise expert. */
  ditLow?: string | string[];
  /** umT5-XXL encoder (`models_t5_umt5-xxl-enc-bf16.pth`). */
  textEncoder?: string;
  /** `tokenizer.json` of google/umt5-xxl. */
  tokenizer?: string;
  /** `Wan2.1_VAE.pth`. */
  vae?: string;
}

export interface LoadOptions {
  /** A named model, or omit and give `config` for a custom/small model. */
  model?: ModelName;
  /** Explicit or partial config; with `model` it must agree with the named config. */
  config?: Partial<DiTConfig>;
  checkpoints: CheckpointPaths;
  /** Backend; default: CUDA when the addon was built with it and a GPU is visible, else CPU. */
  backend?: Backend;
  /** Run the text encoder on the CPU even when the DiT runs on the GPU (saves ~11 GB of VRAM). */
  textEncoderOnCpu?: boolean;
  /**
   * How the GPU text encoder holds its linear weights: "bf16" (8.6 GiB for umT5-XXL) or "int8"
   * (one scale per output channel, expanded to bf16 per GEMM: 4.4 GiB, about 2.5 % rel L2 per layer
   * of extra error, +2 ms per prompt on an H100). Default: int8 on GPUs with less than 40 GiB, else bf16.
   */
  textEncoderWeights?: TextEncoderWeights;
  /**
   * GPU memory policy for two-expert models (Wan2.2 A14B). `resident`: both experts on the GPU.
   * `parked`: one set of device weights; the idle expert waits in pinned host memory and is copied
   * in block by block behind the other expert's last step (needs 2 × ~28.6 GB of host RAM for A14B).
   * `auto` (default): resident when both fit with headroom for activations and the VAE, else parked.
   */
  expertResidency?: "auto" | "resident" | "parked";
  /** Prompt-embedding LRU size (entries). Default 64. */
  promptCacheSize?: number;
}

export type Stage = "load" | "encode-text" | "encode-image" | "denoise" | "decode";

export interface Progress {
  stage: Stage;
  /** 1-based step within the stage. */
  step: number;
  total: number;
}

export type ProgressCallback = (p: Progress) => void;

/** A latent or other float tensor passed across the binding: data is row-major. */
export interface FloatTensor {
  data: Float32Array;
  shape: number[];
}

export interface SamplerOptions {
  /** 1–4 rCM steps. Default 4. */
  steps?: number;
  /** Default 80 (T2V) / 200 (I2V). */
  sigmaMax?: number;
  /** Seed for the initial and SDE noise; random when absent, always reported. */
  seed?: number;
  /** Euler ODE instead of the SDE update. Default false. */
  ode?: boolean;
  attention?: AttentionType;
  /** SLA/SageSLA top-k ratio of key blocks. Default 0.1. */
  topk?: number;
  /** Inject the initial noise (shape [B,16,T,H,W]) instead of drawing it from the seed. */
  initialNoise?: FloatTensor;
  /** Inject the per-step SDE noises (one per step). */
  stepNoises?: FloatTensor[];
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export interface DenoiseRequest extends SamplerOptions {
  /** Latent grid [T, H, W] (latent frames, height/8, width/8). */
  latentShape: [number, number, number];
  /** Text embedding [B, textLen, textDim] (already padded with zero rows). */
  textEmbedding: FloatTensor;
  /** I2V condition [B, 20, T, H, W]: mask (4) then image latent (16). */
  condition?: FloatTensor;
  /** Number of samples (batch). Default 1. */
  samples?: number;
}

export interface DenoiseResult {
  /** Clean latents [B, 16, T, H, W]. */
  latents: FloatTensor;
  seed: number;
  timingsMs: Record<string, number>;
}

/** RGB8 frames [count, height, width, 3] of sample `sample`, starting at frame `firstFrame`. */
export interface FrameChunk {
  frames: Uint8Array;
  sample: number;
  firstFrame: number;
  count: number;
  width: number;
  height: number;
}

export interface GenerateRequest extends SamplerOptions {
  prompt: string;
  /** I2V input image, RGB8 row-major. */
  image?: { data: Uint8Array; width: number; height: number };
  resolution?: Resolution;
  aspectRatio?: AspectRatio;
  /** Pick the size from the image's aspect (I2V). */
  adaptiveResolution?: boolean;
  /** 4k+1 frames. Default 81. */
  frames?: number;
  samples?: number;
  /**
   * Receives each decoded chunk as soon as it is RGB8 ([count, height, width, 3] of sample `sample`
   * from `firstFrame`), so an encoder can run while later chunks still decode. Chunks arrive in order,
   * and all of them before generate()'s promise resolves.
   */
  onFrames?: (chunk: FrameChunk) => void;
  /** Explicit output size in pixels (multiples of 16), overriding resolution/aspect (tools, small models). */
  width?: number;
  height?: number;
}

export interface GeneratedVideo {
  /** RGB8 frames, [frames, height, width, 3] row-major. */
  frames: Uint8Array;
  numFrames: number;
  width: number;
  height: number;
  fps: number;
  seed: number;
  /** Per-stage wall time in milliseconds (encode-text, encode-image, denoise, decode). */
  timingsMs: Record<string, number>;
}
