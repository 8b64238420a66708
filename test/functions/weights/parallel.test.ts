import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChecksumMismatchError } from "../../../functions/weights/download.js";
import { downloadParallel, downloadWithConnections } from "../../../functions/weights/parallel.js";
import { sha256, startFileServer, type FileServer } from "./file-server.js";

let server: FileServer;
let dir: string;
const CHUNK = 64 * 1024;
const body = randomBytes(CHUNK * 7 + 1234); // 8 chunks, the last one short
const good = sha256(body);
const opts = { connections: 3, chunkBytes: CHUNK, retryDelayMs: 0 };

beforeAll(async () => {
  server = await startFileServer();
  server.files.set("/big.pth", body);
  server.files.set("/small.pth", body.subarray(0, CHUNK));
});
afterAll(() => server.close());
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "tw-par-"));
  server.requests.length = 0;
  server.ignoreRange = false;
  server.cutOnce.clear();
});
const exists = (p: string) => fs.stat(p).then(() => true, () => false);
const chunkRequests = () => server.requests.filter((r) => r.range && r.range !== "bytes=0-0");

describe("downloadParallel", () => {
  it("fetches fixed-size chunks over several connections and verifies the whole file", async () => {
    const dest = path.join(dir, "big.pth");
    const r = await downloadParallel({ url: `${server.url}/big.pth`, sha256: good }, dest, opts);
    expect(r).toEqual({ sha256: good, bytes: body.length, resumedFrom: 0 });
    expect((await fs.readFile(dest)).equals(body)).toBe(true);
    expect(chunkRequests().map((q) => q.range).sort()).toEqual(
      Array.from({ length: 8 }, (_, i) => `bytes=${i * CHUNK}-${Math.min(body.length, (i + 1) * CHUNK) - 1}`).sort(),
    );
    expect(await exists(`${dest}.partial`)).toBe(false);
    expect(await exists(`${dest}.partial.ranges`)).toBe(false);
  });

  it("resumes an interrupted download chunk by chunk", async () => {
    const dest = path.join(dir, "big.pth");
    const stop = new AbortController();
    const first = await downloadParallel({ url: `${server.url}/big.pth`, sha256: good }, dest, {
      ...opts,
      connections: 1,
      signal: stop.signal,
      onProgress: (bytes) => bytes >= 3 * CHUNK && stop.abort(),
    }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(Error);
    expect(await exists(`${dest}.partial.ranges`)).toBe(true);

    server.requests.length = 0;
    const r = await downloadParallel({ url: `${server.url}/big.pth`, sha256: good }, dest, opts);
    expect(r!.resumedFrom).toBeGreaterThanOrEqual(3 * CHUNK);
    expect(chunkRequests().some((q) => q.range === "bytes=0-65535")).toBe(false);
    expect((await fs.readFile(dest)).equals(body)).toBe(true);
  });

  it("retries a chunk whose connection drops", async () => {
    server.cutOnce.set("/big.pth", 1000); // the first chunk response breaks after 1000 bytes
    const dest = path.join(dir, "big.pth");
    const r = await downloadParallel({ url: `${server.url}/big.pth`, sha256: good }, dest, opts);
    expect(r!.sha256).toBe(good);
    expect(server.cutOnce.size).toBe(0);
    // The broken chunk is asked for again from where its bytes stopped, not from its start.
    const ranges = chunkRequests().map((q) => q.range!);
    expect(ranges.length).toBe(9);
    expect(ranges.some((q) => /^bytes=[1-9]\d*-/.test(q) && Number(q.slice(6).split("-")[0]) % CHUNK !== 0)).toBe(true);
  });

  it("refuses a file whose sha256 differs and leaves nothing behind", async () => {
    const dest = path.join(dir, "big.pth");
    await expect(downloadParallel({ url: `${server.url}/big.pth`, sha256: "a".repeat(64) }, dest, opts)).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it("steps aside for servers without ranges and for small files", async () => {
    server.ignoreRange = true;
    expect(await downloadParallel({ url: `${server.url}/big.pth` }, path.join(dir, "a"), opts)).toBeUndefined();
    server.ignoreRange = false;
    expect(await downloadParallel({ url: `${server.url}/small.pth` }, path.join(dir, "b"), opts)).toBeUndefined();
  });
});

describe("downloadWithConnections", () => {
  it("falls back to one stream where ranges are not served, discarding a ranged partial", async () => {
    const dest = path.join(dir, "big.pth");
    await fs.writeFile(`${dest}.partial`, Buffer.alloc(body.length)); // preallocated by an earlier ranged run
    await fs.writeFile(`${dest}.partial.ranges`, "{}");
    server.ignoreRange = true;
    const r = await downloadWithConnections({ url: `${server.url}/big.pth`, sha256: good }, dest, opts);
    expect(r).toEqual({ sha256: good, bytes: body.length, resumedFrom: 0 });
    expect(await exists(`${dest}.partial.ranges`)).toBe(false);
  });
});
