import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchWeights, resolveModels } from "../../../functions/cli/commands/fetch-weights.js";
import { UsageError } from "../../../functions/cli/command.js";
import { manifestFor } from "../../../functions/weights/manifest.js";
import { formatSha256Sums } from "../../../functions/weights/sources.js";
import { sha256, startFileServer, type FileServer } from "./file-server.js";

let server: FileServer;
beforeAll(async () => {
  server = await startFileServer();
  const sums = new Map<string, string>();
  for (const f of manifestFor("wan2.1-t2v-1.3b")) {
    const bytes = randomBytes(4096);
    server.files.set(`/m/wan2.1-t2v-1.3b/${f.name}`, bytes);
    sums.set(f.name, sha256(bytes));
  }
  server.files.set("/m/wan2.1-t2v-1.3b/SHA256SUMS", Buffer.from(formatSha256Sums(sums)));
});
afterAll(() => server.close());

describe("turbowan fetch-weights", () => {
  it("fetches a model from a mirror into --models-dir and exits 0", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "tw-cli-"));
    const code = await fetchWeights.run(["--from", `${server.url}/m`, "--models-dir", dir, "--quiet", "wan2.1-t2v-1.3b"]);
    expect(code).toBe(0);
    expect((await fs.readdir(path.join(dir, "wan2.1-t2v-1.3b"))).sort()).toEqual(
      [".fetch-state.json", "SHA256SUMS", "dit.pth", "tokenizer.json", "umt5.pth", "vae.pth"].sort(),
    );
  });

  it("takes the models from TURBOWAN_MODELS, expands all, and names unknown models", () => {
    expect(resolveModels([], "wan2.1-t2v-1.3b, demo")).toEqual(["wan2.1-t2v-1.3b", "demo"]);
    expect(resolveModels(["all"], undefined)).toEqual(["wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.2-i2v-a14b"]);
    expect(() => resolveModels(["wan9"], undefined)).toThrow(UsageError);
    expect(() => resolveModels([], undefined)).toThrow(/name a model/);
  });

  it("rejects an unknown --from scheme and a bad --connections as usage errors", async () => {
    await expect(fetchWeights.run(["--from", "ftp://x", "wan2.1-t2v-1.3b"])).rejects.toBeInstanceOf(UsageError);
    await expect(fetchWeights.run(["--connections", "0", "wan2.1-t2v-1.3b"])).rejects.toThrow(/--connections/);
  });
});
