// EnginePool passes the load options it was configured with (backend, text encoder weights) to
// loadPipeline; "auto" leaves the choice to the engine. A fake engine module records the calls.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LoadOptions } from "../../../native/src/types.js";
import { EnginePool, type EngineModule, type EnginePoolOptions } from "../../../functions/worker/engine-pool.js";

let modelsDir: string;
let calls: LoadOptions[];
const engine: EngineModule = {
  async loadPipeline(opts) {
    calls.push(opts);
    return { generate: async () => Promise.reject(new Error("not used")), dispose: () => {} };
  },
  async demoCheckpoints() {
    return { dit: "unused" };
  },
};

beforeEach(() => {
  modelsDir = mkdtempSync(path.join(os.tmpdir(), "tw-pool-opts-"));
  const dir = path.join(modelsDir, "wan2.1-t2v-1.3b");
  mkdirSync(dir, { recursive: true });
  for (const f of ["dit.pth", "vae.pth", "umt5.pth", "tokenizer.json"]) writeFileSync(path.join(dir, f), "");
  calls = [];
});

afterEach(() => rmSync(modelsDir, { recursive: true, force: true }));

async function loadOnce(opts: Partial<EnginePoolOptions>): Promise<LoadOptions> {
  const pool = new EnginePool({ modelsDir, engine, ...opts });
  const lease = await pool.acquire("wan2.1-t2v-1.3b");
  lease.release();
  expect(calls).toHaveLength(1);
  return calls[0]!;
}

describe("EnginePool load options", () => {
  it.each(["bf16", "int8"] as const)("passes textEncoderWeights=%s to loadPipeline", async (w) => {
    const opts = await loadOnce({ textEncoderWeights: w, backend: "cuda" });
    expect(opts.textEncoderWeights).toBe(w);
    expect(opts.backend).toBe("cuda");
    expect(opts.checkpoints.textEncoder).toBe(path.join(modelsDir, "wan2.1-t2v-1.3b", "umt5.pth"));
  });

  it.each([{ textEncoderWeights: "auto" as const }, {}])("leaves the engine default for %o", async (o) => {
    const opts = await loadOnce(o);
    expect(opts).not.toHaveProperty("textEncoderWeights");
    expect(opts.backend).toBeUndefined();
  });
});
