// Which files make up each model under TURBOWAN_MODELS_DIR, and where they come from on Hugging Face.
// Layout (shared with docs/models.md): models/<model>/{dit.pth | dit.pth + dit-low.pth, vae.pth,
// umt5.pth, tokenizer.json}. The DiT files are TurboDiffusion's distilled checkpoints; the VAE,
// text encoder and tokenizer are the stock Wan2.1 files (TurboDiffusion README).
import { MODELS } from "../jobs/model.js";

export type ModelName = (typeof MODELS)[number];

/** One file of a model: its name in models/<model>/ and its Hugging Face origin. */
export interface ManifestFile {
  /** File name under models/<model>/. */
  name: string;
  /** Hugging Face repository id. */
  repo: string;
  /** Path inside the repository. */
  path: string;
  /** Pinned sha256 (hex) when known; otherwise the hub's LFS sha256 (X-Linked-Etag) is used. */
  sha256?: string;
  /** Approximate size in bytes, for progress and disk checks. */
  approxBytes?: number;
}

const WAN21 = "Wan-AI/Wan2.1-T2V-1.3B";
const GB = 1024 ** 3;

/** Files every Wan model shares (Wan2.2 A14B uses the Wan2.1 VAE and the same umT5). */
const SHARED: ManifestFile[] = [
  { name: "vae.pth", repo: WAN21, path: "Wan2.1_VAE.pth", approxBytes: 0.5 * GB },
  { name: "umt5.pth", repo: WAN21, path: "models_t5_umt5-xxl-enc-bf16.pth", approxBytes: 11.4 * GB },
  { name: "tokenizer.json", repo: WAN21, path: "google/umt5-xxl/tokenizer.json", approxBytes: 17 * 1024 ** 2 },
];

/** `quant` picks TurboDiffusion's int8 W8A8 checkpoints (`-quant.pth`): for GPUs under ~40 GB;
 * the README recommends the unquantized ones on H100-class cards. */
export function manifestFor(model: ModelName, opts: { quant?: boolean } = {}): ManifestFile[] {
  const q = opts.quant ? "-quant" : "";
  const turbo = (repo: string, file: string, name: string, bf16Bytes: number): ManifestFile => ({
    name,
    repo: `TurboDiffusion/${repo}`,
    path: `${file}${q}.pth`,
    approxBytes: opts.quant ? bf16Bytes / 2 : bf16Bytes,
  });
  switch (model) {
    case "wan2.1-t2v-1.3b":
      return [turbo("TurboWan2.1-T2V-1.3B-480P", "TurboWan2.1-T2V-1.3B-480P", "dit.pth", 2.9 * GB), ...SHARED];
    case "wan2.1-t2v-14b":
      // The 720P distillation; it also serves 480p requests.
      return [turbo("TurboWan2.1-T2V-14B-720P", "TurboWan2.1-T2V-14B-720P", "dit.pth", 28.6 * GB), ...SHARED];
    case "wan2.2-i2v-a14b":
      return [
        turbo("TurboWan2.2-I2V-A14B-720P", "TurboWan2.2-I2V-A14B-high-720P", "dit.pth", 28.6 * GB),
        turbo("TurboWan2.2-I2V-A14B-720P", "TurboWan2.2-I2V-A14B-low-720P", "dit-low.pth", 28.6 * GB),
        ...SHARED,
      ];
    case "demo":
      return [];
  }
}

export function isModelName(name: string): name is ModelName {
  return (MODELS as readonly string[]).includes(name);
}
