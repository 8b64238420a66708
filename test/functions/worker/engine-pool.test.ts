// The engine pool's memory policy over real engine pipelines (the small random-weight DiT fixture,
// loaded through the real addon). The engine module is wrapped only to count loads and to load the
// fixture whatever model name the pool asks for.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadPipeline } from "../../../native/src/index.js";
import { EnginePool, findCheckpoints, type EngineModule, type Pipeline } from "../../../functions/worker/engine-pool.js";

const FIXTURE = path.resolve("test/fixtures/dit/t2v.pth");
let modelsDir: string;
let loads: string[];
let pipelines: Pipeline[];
let engine: EngineModule;

function layModel(model: string) {
  const dir = path.join(modelsDir, model);
  mkdirSync(dir, { recursive: true });
  for (const f of ["dit.pth", "vae.pth", "umt5.pth", "tokenizer.json"]) writeFileSync(path.join(dir, f), "");
}

beforeEach(() => {
  modelsDir = mkdtempSync(path.join(os.tmpdir(), "tw-pool-"));
  loads = [];
  pipelines = [];
  engine = {
    async loadPipeline(opts) {
      loads.push(opts.model ?? "custom");
      const p = await loadPipeline({ checkpoints: { dit: FIXTURE } });
      pipelines.push(p as unknown as Pipeline);
      return p as unknown as Pipeline;
    },
    async demoCheckpoints() {
      return { dit: FIXTURE };
    },
  };
  layModel("wan2.1-t2v-1.3b");
  layModel("wan2.1-t2v-14b");
});
afterEach(() => rmSync(modelsDir, { recursive: true, force: true }));

const isDisposed = (p: Pipeline) => {
  try {
    void (p as unknown as { config: unknown }).config;
    return false;
  } catch {
    return true;
  }
};

describe("EnginePool", () => {
  it("loads a model on first use and reuses it", async () => {
    const pool = new EnginePool({ modelsDir, engine });
    const a = await pool.acquire("demo");
    a.release();
    const b = await pool.acquire("demo");
    b.release();
    expect(loads).toEqual(["demo"]);
    expect(b.pipeline).toBe(a.pipeline);
    await pool.close();
    expect(isDisposed(a.pipeline)).toBe(true);
  });

  it("with max resident 1, a new model swaps out the idle one (and disposes it)", async () => {
    const pool = new EnginePool({ modelsDir, engine, maxResident: 1 });
    const a = await pool.acquire("demo");
    a.release();
    const b = await pool.acquire("wan2.1-t2v-1.3b");
    b.release();
    expect(loads).toEqual(["demo", "wan2.1-t2v-1.3b"]);
    expect(isDisposed(a.pipeline)).toBe(true);
    expect(pool.resident()).toEqual(["wan2.1-t2v-1.3b"]);
    await pool.close();
  });

  it("with max resident 2, the least recently used model goes first", async () => {
    const pool = new EnginePool({ modelsDir, engine, maxResident: 2 });
    for (const m of ["demo", "wan2.1-t2v-1.3b", "demo"] as const) (await pool.acquire(m)).release();
    (await pool.acquire("wan2.1-t2v-14b")).release();
    expect(pool.resident().sort()).toEqual(["demo", "wan2.1-t2v-14b"]);
    expect(loads).toEqual(["demo", "wan2.1-t2v-1.3b", "wan2.1-t2v-14b"]);
    await pool.close();
  });

  it("never unloads a model under a running job", async () => {
    const pool = new EnginePool({ modelsDir, engine, maxResident: 1 });
    const busy = await pool.acquire("demo");
    await expect(pool.acquire("wan2.1-t2v-1.3b")).rejects.toThrow(/already loaded and busy/);
    expect(isDisposed(busy.pipeline)).toBe(false);
    busy.release();
    (await pool.acquire("wan2.1-t2v-1.3b")).release();
    await pool.close();
  });

  it("does not cache a failed load: fixing the files makes the next job work", async () => {
    const pool = new EnginePool({ modelsDir, engine });
    await expect(pool.acquire("wan2.2-i2v-a14b")).rejects.toThrow(/dit\.pth, dit-low\.pth, vae\.pth, umt5\.pth, tokenizer\.json missing/);
    layModel("wan2.2-i2v-a14b");
    writeFileSync(path.join(modelsDir, "wan2.2-i2v-a14b", "dit-low.pth"), "");
    (await pool.acquire("wan2.2-i2v-a14b")).release();
    expect(loads).toEqual(["wan2.2-i2v-a14b"]);
    await pool.close();
    await expect(pool.acquire("demo")).rejects.toThrow(/shut down/);
  });

  it("finds checkpoints in the fetch-weights layout", () => {
    expect(findCheckpoints(modelsDir, "wan2.1-t2v-1.3b")).toEqual({
      dit: path.join(modelsDir, "wan2.1-t2v-1.3b", "dit.pth"),
      vae: path.join(modelsDir, "wan2.1-t2v-1.3b", "vae.pth"),
      textEncoder: path.join(modelsDir, "wan2.1-t2v-1.3b", "umt5.pth"),
      tokenizer: path.join(modelsDir, "wan2.1-t2v-1.3b", "tokenizer.json"),
    });
  });
});
