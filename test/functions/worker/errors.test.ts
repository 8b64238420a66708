// Engine failures → what the requester reads and whether a retry can help.
import { describe, expect, it } from "vitest";
import { EngineError, EngineOptionError } from "../../../native/src/index.js";
import { classifyEngineError } from "../../../functions/worker/errors.js";

describe("classifyEngineError", () => {
  it("out of memory is retryable, with advice", () => {
    const f = classifyEngineError(new EngineError("CUDA out of memory: tried to allocate 2.1 GiB"));
    expect(f).toMatchObject({ kind: "out-of-memory", retryable: true });
    expect(f.message).toMatch(/ran out of memory.*fewer frames/);
  });

  it("a bad checkpoint is final and names the file", () => {
    const f = classifyEngineError(new EngineError("models/x/dit.pth: missing key blocks.0.self_attn.q.weight\n  at ..."));
    expect(f).toMatchObject({ kind: "checkpoint", retryable: false });
    expect(f.message).toBe("The model could not be loaded: models/x/dit.pth: missing key blocks.0.self_attn.q.weight");
  });

  it("an invalid option is final", () => {
    const f = classifyEngineError(new EngineOptionError("frames", "must be 4k+1, got 6"));
    expect(f).toMatchObject({ kind: "invalid-option", retryable: false });
    expect(f.message).toMatch(/frames: must be 4k\+1/);
  });

  it("anything else is a final generation failure with its first line", () => {
    expect(classifyEngineError(new Error("boom\nstack"))).toEqual({ kind: "engine", retryable: false, message: "Generation failed: boom" });
  });
});
