// Typed errors of the engine API. Messages come from the C++ engine and name the file, key,
// expected and actual shape; the JS layer adds the parameter name for option errors.

/** A failure inside the native engine (bad checkpoint, shape mismatch, out of memory, ...). */
export class EngineError extends Error {
  override name = "EngineError";
  /** true when the failure is memory exhaustion: retry smaller, don't retry the same job on this worker. */
  readonly outOfMemory: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.outOfMemory = /out of (host |device |GPU )?memory|cudaErrorMemoryAllocation|bad_alloc/i.test(message);
  }
}

/** An option that failed validation in the TypeScript layer, before anything ran. */
export class EngineOptionError extends TypeError {
  override name = "EngineOptionError";
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter}: ${message}`);
  }
}

/** The native addon could not be loaded (not built, or built for another platform). */
export class AddonLoadError extends Error {
  override name = "AddonLoadError";
}

export function abortError(): DOMException {
  return new DOMException("The operation was aborted", "AbortError");
}

/** Maps a rejection of the addon to the typed error the API promises. */
export function fromNative(err: unknown): Error {
  if (err instanceof Error) {
    if (err.name === "AbortError") return abortError();
    if (err.name === "TurbowanEngineError" || err.constructor === Error) return new EngineError(err.message, { cause: err });
    return err;
  }
  return new EngineError(String(err));
}
