import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChecksumMismatchError, downloadFile, HttpError, parseContentRange } from "../../../functions/weights/download.js";
import { sha256, startFileServer, type FileServer } from "./file-server.js";

let server: FileServer;
let dir: string;
const body = randomBytes(300_000);
const good = sha256(body);

beforeAll(async () => {
  server = await startFileServer();
  server.files.set("/w.pth", body);
});
afterAll(() => server.close());
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "tw-dl-"));
  server.requests.length = 0;
  server.ignoreRange = false;
  server.cutOnce.clear();
});

const exists = (p: string) => fs.stat(p).then(() => true, () => false);

describe("downloadFile", () => {
  it("downloads, verifies the sha256 and renames the file into place", async () => {
    const dest = path.join(dir, "sub", "w.pth");
    const r = await downloadFile({ url: `${server.url}/w.pth`, sha256: good }, dest);
    expect(r).toEqual({ sha256: good, bytes: body.length, resumedFrom: 0 });
    expect((await fs.readFile(dest)).equals(body)).toBe(true);
    expect(await exists(`${dest}.partial`)).toBe(false);
  });

  it("resumes a kept partial with a Range request and hashes the kept bytes too", async () => {
    const dest = path.join(dir, "w.pth");
    await fs.writeFile(`${dest}.partial`, body.subarray(0, 123_456));
    const r = await downloadFile({ url: `${server.url}/w.pth`, sha256: good }, dest);
    expect(r.resumedFrom).toBe(123_456);
    expect(server.requests.map((q) => q.range)).toEqual(["bytes=123456-"]);
    expect((await fs.readFile(dest)).equals(body)).toBe(true);
  });

  it("resumes after the connection drops mid-transfer", async () => {
    server.cutOnce.set("/w.pth", 50_000);
    const dest = path.join(dir, "w.pth");
    const r = await downloadFile({ url: `${server.url}/w.pth`, sha256: good }, dest, { retryDelayMs: 0 });
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]!.range).toBeUndefined();
    expect(server.requests[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(r.resumedFrom).toBeGreaterThan(0);
    expect((await fs.readFile(dest)).equals(body)).toBe(true);
  });

  it("refuses a file whose sha256 differs, deletes it and leaves the old file in place", async () => {
    const dest = path.join(dir, "w.pth");
    await fs.writeFile(dest, "previous good file");
    const wrong = "0".repeat(64);
    const err = await downloadFile({ url: `${server.url}/w.pth`, sha256: wrong }, dest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect((err as ChecksumMismatchError).actual).toBe(good);
    expect(await fs.readFile(dest, "utf8")).toBe("previous good file");
    expect(await exists(`${dest}.partial`)).toBe(false);
  });

  it("restarts from byte 0 once when a resumed partial does not match, then succeeds", async () => {
    const dest = path.join(dir, "w.pth");
    await fs.writeFile(`${dest}.partial`, randomBytes(1000)); // bytes of some other upload
    const r = await downloadFile({ url: `${server.url}/w.pth`, sha256: good }, dest);
    expect(server.requests.map((q) => q.range)).toEqual(["bytes=1000-", undefined]);
    expect(r.resumedFrom).toBe(0);
    expect((await fs.readFile(dest)).equals(body)).toBe(true);
  });

  it("starts over when the server ignores Range and sends the whole file", async () => {
    server.ignoreRange = true;
    const dest = path.join(dir, "w.pth");
    await fs.writeFile(`${dest}.partial`, body.subarray(0, 5000));
    const r = await downloadFile({ url: `${server.url}/w.pth`, sha256: good }, dest);
    expect(r.resumedFrom).toBe(0);
    expect((await fs.readFile(dest)).equals(body)).toBe(true);
  });

  it("verifies a partial that is already complete (416) without downloading again", async () => {
    const dest = path.join(dir, "w.pth");
    await fs.writeFile(`${dest}.partial`, body);
    const r = await downloadFile({ url: `${server.url}/w.pth`, sha256: good }, dest);
    expect(r).toEqual({ sha256: good, bytes: body.length, resumedFrom: body.length });
    expect((await fs.readFile(dest)).equals(body)).toBe(true);
  });

  it("does not retry a 404 and says which URL failed", async () => {
    const dest = path.join(dir, "nope.pth");
    const err = await downloadFile({ url: `${server.url}/nope.pth` }, dest, { retryDelayMs: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as Error).message).toContain("/nope.pth");
    expect(server.requests).toHaveLength(1);
  });

  it("rejects an expected digest that is not sha256 hex", async () => {
    await expect(downloadFile({ url: `${server.url}/w.pth`, sha256: "abc" }, path.join(dir, "w.pth"))).rejects.toThrow(/64 hex/);
  });
});

describe("parseContentRange", () => {
  it("reads start, end and total", () => {
    expect(parseContentRange("bytes 10-99/100")).toEqual({ start: 10, end: 99, total: 100 });
    expect(parseContentRange("bytes 0-9/*")).toEqual({ start: 0, end: 9, total: undefined });
    expect(parseContentRange(null)).toBeUndefined();
  });
});
