// Finds and loads turbowan.node, probing it before trusting it, and says why when it can't.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AddonLoadError } from "./errors.js";

export interface NativeCancelToken {
  cancel(): void;
}

export interface NativeEngine {
  readonly config: Record<string, number | string | boolean>;
  forward(args: Record<string, unknown>): Promise<Float32Array>;
  denoise(
    args: Record<string, unknown>,
    onProgress?: (p: { stage: string; step: number; total: number }) => void,
    cancel?: NativeCancelToken,
  ): Promise<{ latents: Float32Array; times: number[]; denoiseMs: number }>;
  encodeText(ids: Int32Array, mask: Int32Array): Promise<Float32Array>;
  generate(
    args: Record<string, unknown>,
    onProgress?: (p: { stage: string; step: number; total: number }) => void,
    cancel?: NativeCancelToken,
    onFrames?: (c: { frames: Uint8Array; sample: number; firstFrame: number; count: number; width: number; height: number }) => void,
  ): Promise<{ frames: Uint8Array; numFrames: number; textEmbedding: Float32Array; timingsMs: Record<string, number> }>;
  dispose(): void;
}

export interface NativeAddon {
  loadEngine(opts: Record<string, unknown>): Promise<NativeEngine>;
  CancelToken: new () => NativeCancelToken;
  backendInfo(): { cuda: boolean; gpu: boolean; napiVersion: number };
  [key: string]: unknown;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const candidates = [
  process.env.TURBOWAN_ADDON,
  path.join(root, "build/Release/turbowan.node"),
  path.join(root, "build/turbowan.node"),
].filter((p): p is string => Boolean(p));

let cached: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const file of candidates) {
    if (!existsSync(file)) {
      tried.push(`${file} (missing)`);
      continue;
    }
    try {
      const addon = require(file) as NativeAddon;
      addon.backendInfo(); // probe: a stale or foreign build fails here rather than mid-job
      cached = addon;
      return addon;
    } catch (err) {
      tried.push(`${file} (${(err as Error).message.split("\n")[0]})`);
    }
  }
  throw new AddonLoadError(
    `the turbowan native addon is not built: run \`npm run build:native\` (or \`npm install\`). Tried: ${tried.join("; ")}`,
  );
}
