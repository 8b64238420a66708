// Validation of engine options in TypeScript, before anything is queued: errors name the parameter.
import { EngineOptionError } from "./errors.js";
import type { AttentionType, FloatTensor, SamplerOptions } from "./types.js";

export const ATTENTION_TYPES: readonly AttentionType[] = ["original", "sla", "sagesla"];

export function checkTensor(name: string, t: FloatTensor | undefined, rank?: number): void {
  if (!t) throw new EngineOptionError(name, "is required");
  if (!(t.data instanceof Float32Array)) throw new EngineOptionError(name, "data must be a Float32Array");
  if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isInteger(d) || d <= 0))
    throw new EngineOptionError(name, `shape must be positive integers, got [${t.shape}]`);
  if (rank !== undefined && t.shape.length !== rank)
    throw new EngineOptionError(name, `must have ${rank} dimensions, got shape [${t.shape}]`);
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n)
    throw new EngineOptionError(name, `has ${t.data.length} values but shape [${t.shape}] needs ${n}`);
}

export interface ResolvedSampler {
  steps: number;
  sigmaMax: number;
  seed: number;
  ode: boolean;
  attention: AttentionType;
  topk: number;
}

export function resolveSampler(o: SamplerOptions, defaultSigma: number): ResolvedSampler {
  const steps = o.steps ?? 4;
  if (!Number.isInteger(steps) || steps < 1 || steps > 4) throw new EngineOptionError("steps", `must be 1–4, got ${steps}`);
  const sigmaMax = o.sigmaMax ?? defaultSigma;
  if (!(sigmaMax > 0) || !Number.isFinite(sigmaMax)) throw new EngineOptionError("sigmaMax", `must be a positive number, got ${sigmaMax}`);
  const seed = o.seed ?? Math.floor(Math.random() * 0x100000000);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new EngineOptionError("seed", `must be a non-negative integer, got ${seed}`);
  const attention = o.attention ?? "original";
  if (!ATTENTION_TYPES.includes(attention)) throw new EngineOptionError("attention", `must be one of ${ATTENTION_TYPES.join(", ")}, got ${attention}`);
  const topk = o.topk ?? 0.1;
  if (!(topk > 0 && topk <= 1)) throw new EngineOptionError("topk", `must be in (0, 1], got ${topk}`);
  return { steps, sigmaMax, seed, ode: o.ode ?? false, attention, topk };
}
