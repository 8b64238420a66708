// Turns an engine or pipeline error into what the requester reads and whether a retry can help.
// Out-of-memory can pass (another model unloads, a fragmented heap recovers), so it is retried with a
// delay; a bad checkpoint or an invalid option fails the same way every time, so it is final.

export interface EngineFailure {
  kind: "out-of-memory" | "checkpoint" | "invalid-option" | "engine" | "ffmpeg";
  retryable: boolean;
  /** A short sentence for the requester. */
  message: string;
}

const firstLine = (s: string) => s.split("\n")[0]!.trim();

export function classifyEngineError(err: unknown): EngineFailure {
  const e = err as { name?: string; code?: string; message?: string; outOfMemory?: boolean; parameter?: string };
  const text = `${e?.name ?? ""} ${e?.code ?? ""} ${e?.message ?? String(err)}`;
  const detail = firstLine(e?.message ?? String(err));
  if (e?.name === "EngineOptionError") {
    return { kind: "invalid-option", retryable: false, message: `The engine refused this request: ${detail}` };
  }
  if (e?.outOfMemory === true || /out of memory|\bOOM\b|ENOMEM|cudaErrorMemoryAllocation|std::bad_alloc/i.test(text)) {
    return {
      kind: "out-of-memory",
      retryable: true,
      message: `The GPU ran out of memory for this job (${detail}). Try fewer frames or 480p.`,
    };
  }
  if (/checkpoint|weights|safetensors|\.pth|missing key|unexpected key|shape mismatch|No weights/i.test(text)) {
    return { kind: "checkpoint", retryable: false, message: `The model could not be loaded: ${detail}` };
  }
  if (/invalid|must be|out of range|unsupported|RangeError|TypeError/i.test(text)) {
    return { kind: "invalid-option", retryable: false, message: `The engine refused this request: ${detail}` };
  }
  if (/ffmpeg/i.test(text)) {
    return { kind: "ffmpeg", retryable: false, message: `Encoding the video failed: ${detail}` };
  }
  return { kind: "engine", retryable: false, message: `Generation failed: ${detail}` };
}
