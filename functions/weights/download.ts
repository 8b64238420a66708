// Downloads one large file over HTTP(S) into its final path, safely:
//  - bytes go to `<dest>.partial`; an interrupted transfer resumes with `Range: bytes=<have>-`;
//  - the sha256 covers every byte (the kept partial is re-read into the hash before appending);
//  - a file whose digest differs from the expected one is deleted and refused, never renamed into
//    place (a resumed transfer that mismatches is retried once from byte 0 first: the partial may
//    belong to an older upload of the file);
//  - the verified file is fsynced and renamed over `dest`, so a reader sees the old file or the
//    whole new one, never half of one.
import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

export interface RemoteFile {
  url: string;
  headers?: Record<string, string>;
  /** Expected sha256, lowercase hex. Without it the digest is computed and returned, not checked. */
  sha256?: string;
}

export interface DownloadOptions {
  fetch?: typeof fetch;
  /** Transfers tried before giving up (each one resumes where the last stopped). Default 5. */
  attempts?: number;
  /** Milliseconds before retry n is `retryDelayMs * 2^(n-1)`. Default 1000. */
  retryDelayMs?: number;
  signal?: AbortSignal;
  onProgress?: (bytes: number, total: number | undefined) => void;
}

export interface DownloadResult {
  sha256: string;
  bytes: number;
  /** Bytes already on disk when the successful transfer started (0 = fresh download). */
  resumedFrom: number;
}

export class ChecksumMismatchError extends Error {
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${file}: sha256 is ${actual} but ${expected} was expected; the download was deleted. The source may have changed or be corrupt: check the pinned hash or the mirror's SHA256SUMS.`);
    this.name = "ChecksumMismatchError";
  }
}

export class HttpError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`GET ${redactUrl(url)} answered HTTP ${status}${status === 401 || status === 403 ? " (gated or private: set HF_TOKEN, or check the credentials for this mirror)" : ""}`);
    this.name = "HttpError";
  }
  get retryable(): boolean {
    return this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

/** Drops the query string (presigned URLs carry credentials there). */
export function redactUrl(url: string): string {
  const i = url.indexOf("?");
  return i < 0 ? url : `${url.slice(0, i)}?…`;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export async function downloadFile(remote: RemoteFile, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const doFetch = opts.fetch ?? fetch;
  const attempts = opts.attempts ?? 5;
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const expected = remote.sha256?.toLowerCase();
  if (expected !== undefined && !SHA256_HEX.test(expected)) throw new Error(`${dest}: expected sha256 "${remote.sha256}" is not 64 hex digits`);
  const partial = `${dest}.partial`;
  await fs.mkdir(path.dirname(dest), { recursive: true });

  let restartedAfterMismatch = false;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    opts.signal?.throwIfAborted();
    if (attempt > 1 && lastError !== undefined) await sleep(retryDelayMs * 2 ** (attempt - 2), opts.signal);
    let offset = await sizeOf(partial);
    try {
      const headers: Record<string, string> = { ...remote.headers };
      if (offset > 0) headers.range = `bytes=${offset}-`;
      const res = await doFetch(remote.url, { headers, redirect: "follow", signal: opts.signal });
      let total: number | undefined;
      if (res.status === 416 && offset > 0) {
        // Nothing past our offset: the partial already holds the whole file (or more); verify it.
        await res.body?.cancel();
      } else if (res.status === 206 && offset > 0) {
        const range = parseContentRange(res.headers.get("content-range"));
        if (range?.start !== offset) {
          await res.body?.cancel();
          throw new Error(`${redactUrl(remote.url)} answered a range starting at ${range?.start ?? "?"} for a request from ${offset}`);
        }
        total = range.total;
      } else if (res.ok) {
        // A 200 to a range request means the server sends the whole file again: start over.
        offset = 0;
        const length = Number(res.headers.get("content-length"));
        total = Number.isFinite(length) && length > 0 ? length : undefined;
      } else {
        await res.body?.cancel();
        throw new HttpError(remote.url, res.status);
      }

      const hash = createHash("sha256");
      if (offset > 0) await hashFile(partial, hash);
      if (res.status !== 416 && res.body) {
        let bytes = offset;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            hash.update(chunk);
            bytes += chunk.length;
            opts.onProgress?.(bytes, total);
            done(null, chunk);
          },
        });
        await pipeline(
          Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
          counter,
          createWriteStream(partial, { flags: offset > 0 ? "a" : "w" }),
          { signal: opts.signal },
        );
        if (total !== undefined && bytes !== total) throw new Error(`${redactUrl(remote.url)}: transfer ended at ${bytes} of ${total} bytes`);
      }
      const actual = hash.digest("hex");
      const bytes = await sizeOf(partial);
      if (expected !== undefined && actual !== expected) {
        await fs.rm(partial, { force: true });
        if (offset > 0 && !restartedAfterMismatch) {
          restartedAfterMismatch = true;
          lastError = undefined;
          attempt--; // a fresh transfer does not use up a retry
          continue;
        }
        throw new ChecksumMismatchError(dest, expected, actual);
      }
      await fsyncPath(partial);
      await fs.rename(partial, dest);
      await fsyncPath(path.dirname(dest)).catch(() => {});
      return { sha256: actual, bytes, resumedFrom: offset };
    } catch (err) {
      if (err instanceof ChecksumMismatchError) throw err;
      if (err instanceof HttpError && !err.retryable) throw err;
      if (opts.signal?.aborted) throw err;
      lastError = err;
    }
  }
  throw new Error(`${dest}: gave up after ${attempts} attempts (the partial download is kept and resumes next time): ${String((lastError as Error)?.message ?? lastError)}`, { cause: lastError });
}

/** `bytes a-b/total` → {start: a, total}; total undefined for `*`. */
export function parseContentRange(header: string | null): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? "");
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  await hashFile(file, hash);
  return hash.digest("hex");
}

async function hashFile(file: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return 0;
  }
}

async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.open(p, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
