import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChecksumMismatchError } from "../../../functions/weights/download.js";
import { fetchModel } from "../../../functions/weights/fetch-model.js";
import { manifestFor } from "../../../functions/weights/manifest.js";
import {
  formatSha256Sums,
  huggingFaceSource,
  hubLfsSha256,
  mirrorSource,
  parseSha256Sums,
  s3Source,
  sourceFromSpec,
} from "../../../functions/weights/sources.js";
import { sha256, startFileServer, type FileServer } from "./file-server.js";

let server: FileServer;
let modelsDir: string;
const MODEL = "wan2.1-t2v-1.3b" as const;
const manifest = manifestFor(MODEL);
/** Small stand-ins for each real file, keyed by their name under models/<model>/. */
const content = new Map(manifest.map((f, i) => [f.name, randomBytes(10_000 + i * 777)]));

beforeAll(async () => {
  server = await startFileServer();
  for (const f of manifest) {
    server.files.set(`/cdn/${f.repo}/${f.path}`, content.get(f.name)!);
    server.files.set(`/mirror/${MODEL}/${f.name}`, content.get(f.name)!);
    server.files.set(`/bucket/models/${MODEL}/${f.name}`, content.get(f.name)!);
  }
  const sums = formatSha256Sums(new Map([...content].map(([n, b]) => [n, sha256(b)])));
  server.files.set(`/mirror/${MODEL}/SHA256SUMS`, Buffer.from(sums));
  server.files.set(`/bucket/models/${MODEL}/SHA256SUMS`, Buffer.from(sums));
});
afterAll(() => server.close());
beforeEach(async () => {
  modelsDir = await fs.mkdtemp(path.join(os.tmpdir(), "tw-models-"));
  server.requests.length = 0;
  server.hub = true;
});

describe("manifest", () => {
  it("uses the shared layout: dit(.pth / -low.pth), vae.pth, umt5.pth, tokenizer.json", () => {
    expect(manifestFor("wan2.1-t2v-1.3b").map((f) => f.name)).toEqual(["dit.pth", "vae.pth", "umt5.pth", "tokenizer.json"]);
    expect(manifestFor("wan2.2-i2v-a14b").map((f) => f.name)).toEqual(["dit.pth", "dit-low.pth", "vae.pth", "umt5.pth", "tokenizer.json"]);
    expect(manifestFor("wan2.1-t2v-14b", { quant: true })[0]!.path).toBe("TurboWan2.1-T2V-14B-720P-quant.pth");
    expect(manifestFor("wan2.2-i2v-a14b")[1]!.path).toBe("TurboWan2.2-I2V-A14B-low-720P.pth");
    expect(manifestFor("demo")).toEqual([]);
  });
});

describe("Hugging Face source", () => {
  it("reads the LFS sha256 from X-Linked-Etag without following the redirect", async () => {
    const f = manifest[0]!;
    const url = `${server.url}/${f.repo}/resolve/main/${f.path}`;
    expect(await hubLfsSha256(url, {})).toBe(sha256(content.get(f.name)!));
    expect(server.requests.map((r) => r.method)).toEqual(["HEAD"]);
  });

  it("fetches every file, writes SHA256SUMS, and skips verified files on the next run", async () => {
    const source = huggingFaceSource({ endpoint: server.url });
    const first = await fetchModel(MODEL, { modelsDir, source });
    expect(first.map((f) => [f.name, f.status])).toEqual(manifest.map((f) => [f.name, "downloaded"]));
    for (const [name, bytes] of content) expect((await fs.readFile(path.join(modelsDir, MODEL, name))).equals(bytes)).toBe(true);
    const sums = parseSha256Sums(await fs.readFile(path.join(modelsDir, MODEL, "SHA256SUMS"), "utf8"));
    expect(Object.fromEntries(sums)).toEqual(Object.fromEntries([...content].map(([n, b]) => [n, sha256(b)])));

    server.requests.length = 0;
    const second = await fetchModel(MODEL, { modelsDir, source });
    expect(second.every((f) => f.status === "present")).toBe(true);
    expect(server.requests.filter((r) => r.method === "GET")).toHaveLength(0);
  });

  it("replaces a file that changed on disk after it was verified", async () => {
    const source = huggingFaceSource({ endpoint: server.url });
    await fetchModel(MODEL, { modelsDir, source });
    const vae = path.join(modelsDir, MODEL, "vae.pth");
    await fs.writeFile(vae, "corrupted");
    const again = await fetchModel(MODEL, { modelsDir, source });
    expect(again.find((f) => f.name === "vae.pth")!.status).toBe("downloaded");
    expect((await fs.readFile(vae)).equals(content.get("vae.pth")!)).toBe(true);
  });

  it("refuses a file that does not match a pinned sha256", async () => {
    const source = huggingFaceSource({ endpoint: server.url });
    const pinned = { ...source, plan: async (...a: Parameters<typeof source.plan>) => (await source.plan(...a)).map((f) => ({ ...f, sha256: "f".repeat(64) })) };
    await expect(fetchModel(MODEL, { modelsDir, source: pinned })).rejects.toBeInstanceOf(ChecksumMismatchError);
    await expect(fs.stat(path.join(modelsDir, MODEL, "dit.pth"))).rejects.toThrow();
  });
});

describe("mirror and S3 sources", () => {
  it("fetch from an HTTP mirror, verified by its SHA256SUMS", async () => {
    const files = await fetchModel(MODEL, { modelsDir, source: mirrorSource(`${server.url}/mirror/`) });
    expect(files.map((f) => f.unverified)).toEqual(manifest.map(() => false));
    expect((await fs.readFile(path.join(modelsDir, MODEL, "dit.pth"))).equals(content.get("dit.pth")!)).toBe(true);
  });

  it("refuses a mirror whose SHA256SUMS lacks a file", async () => {
    server.files.set(`/thin/${MODEL}/SHA256SUMS`, Buffer.from(`${sha256(content.get("dit.pth")!)}  dit.pth\n`));
    await expect(fetchModel(MODEL, { modelsDir, source: mirrorSource(`${server.url}/thin`) })).rejects.toThrow(/no line for vae\.pth/);
  });

  it("fetch from s3://bucket/prefix through presigned URLs (path-style on a custom endpoint)", async () => {
    const client = new S3Client({ region: "us-east-1", endpoint: server.url, forcePathStyle: true, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
    const files = await fetchModel(MODEL, { modelsDir, source: s3Source("s3://bucket/models", { client }) });
    expect(files).toHaveLength(manifest.length);
    expect(server.requests.some((r) => r.path === `/bucket/models/${MODEL}/dit.pth`)).toBe(true);
  });

  it("picks the source from --from", () => {
    expect(sourceFromSpec(undefined, {}).description).toMatch(/Hugging Face/);
    expect(sourceFromSpec("https://cdn.example/models", {}).description).toBe("mirror https://cdn.example/models");
    expect(sourceFromSpec("s3://b/p", { AWS_REGION: "eu-west-1" }).description).toBe("s3://b/p");
    expect(() => sourceFromSpec("ftp://x", {})).toThrow(/--from/);
  });
});
