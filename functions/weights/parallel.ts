// Parallel ranged download for large files: N connections each fetch fixed-size chunks
// (`Range: bytes=a-b`) and write them in place into a preallocated `<dest>.partial`. One HTTP
// connection to S3 or a CDN tops out around 100 MB/s; a cold worker pulling 15–60 GB of checkpoints
// needs several. Progress per chunk is kept in `<dest>.partial.ranges` (rewritten every few
// seconds and after each chunk), so an interrupted download resumes chunk by chunk. The sha256 is
// taken over the finished file before it is renamed into place (same rules as download.ts).
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { ChecksumMismatchError, downloadFile, HttpError, parseContentRange, redactUrl, type DownloadOptions, type DownloadResult, type RemoteFile } from "./download.js";

export interface ParallelOptions extends DownloadOptions {
  connections: number;
  /** Default 64 MiB. */
  chunkBytes?: number;
}

interface RangeState {
  url: string;
  total: number;
  chunkBytes: number;
  /** Bytes written from the start of each chunk. */
  done: number[];
}

/** Undefined when the server does not serve byte ranges (or the file is small): use the sequential path. */
export async function downloadParallel(remote: RemoteFile, dest: string, opts: ParallelOptions): Promise<DownloadResult | undefined> {
  const doFetch = opts.fetch ?? fetch;
  const chunkBytes = opts.chunkBytes ?? 64 << 20;
  const partial = `${dest}.partial`;
  const statePath = `${partial}.ranges`;

  const probe = await doFetch(remote.url, { headers: { ...remote.headers, range: "bytes=0-0" }, redirect: "follow", signal: opts.signal });
  await probe.arrayBuffer().catch(() => undefined);
  if (probe.status >= 400 && probe.status !== 416) throw new HttpError(remote.url, probe.status);
  const total = probe.status === 206 ? parseContentRange(probe.headers.get("content-range"))?.total : undefined;
  if (total === undefined || total < 2 * chunkBytes) return undefined;

  await fs.mkdir(path.dirname(dest), { recursive: true });
  let state = await readState(statePath);
  // A state from another source or size, or a partial without a state: start clean.
  if (!state || state.total !== total || state.chunkBytes !== chunkBytes || stripQuery(state.url) !== stripQuery(remote.url)) {
    await fs.rm(partial, { force: true });
    state = { url: remote.url, total, chunkBytes, done: Array.from({ length: Math.ceil(total / chunkBytes) }, () => 0) };
  }
  const s = state;
  const resumedFrom = s.done.reduce((a, b) => a + b, 0);
  const handle = await fs.open(partial, (await exists(partial)) ? "r+" : "w+");
  let lastSave = Date.now();
  // Connections finish chunks concurrently: one save at a time, each writing the latest counts.
  let saving: Promise<void> = Promise.resolve();
  const save = () => {
    lastSave = Date.now();
    saving = saving.then(async () => {
      const tmp = `${statePath}.tmp`;
      await fs.writeFile(tmp, JSON.stringify({ ...s, url: stripQuery(s.url) }));
      await fs.rename(tmp, statePath);
    });
    return saving;
  };
  try {
    await handle.truncate(total);
    await save();
    let written = resumedFrom;
    let next = 0;
    const chunkLength = (i: number) => Math.min(chunkBytes, total - i * chunkBytes);
    const worker = async () => {
      for (let i = next++; i < s.done.length; i = next++) {
        let failures = 0;
        while (s.done[i]! < chunkLength(i)) {
          opts.signal?.throwIfAborted();
          const from = i * chunkBytes + s.done[i]!;
          const to = i * chunkBytes + chunkLength(i) - 1;
          try {
            // The signal is checked between pieces rather than handed to fetch: aborting a body that
            // has just been read to its end can leave its iterator pending forever.
            const res = await doFetch(remote.url, { headers: { ...remote.headers, range: `bytes=${from}-${to}` }, redirect: "follow" });
            if (res.status !== 206) {
              await res.body?.cancel();
              throw res.ok ? new Error(`${redactUrl(remote.url)} stopped serving byte ranges`) : new HttpError(remote.url, res.status);
            }
            if (parseContentRange(res.headers.get("content-range"))?.start !== from) {
              await res.body?.cancel();
              throw new Error(`${redactUrl(remote.url)} answered another range than bytes=${from}-${to}`);
            }
            for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
              opts.signal?.throwIfAborted();
              const room = chunkLength(i) - s.done[i]!;
              const bytes = piece.length > room ? piece.subarray(0, room) : piece;
              await handle.write(bytes, 0, bytes.length, i * chunkBytes + s.done[i]!);
              s.done[i]! += bytes.length;
              written += bytes.length;
              opts.onProgress?.(written, total);
              if (Date.now() - lastSave > 2000) await save();
            }
            failures = 0;
          } catch (err) {
            if (opts.signal?.aborted || (err instanceof HttpError && !err.retryable)) throw err;
            if (++failures >= (opts.attempts ?? 5)) throw err;
            await new Promise((r) => setTimeout(r, (opts.retryDelayMs ?? 1000) * 2 ** (failures - 1)));
          }
        }
        await save();
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.connections, s.done.length) }, worker));
    await handle.sync();
  } catch (err) {
    await save().catch(() => {});
    throw err;
  } finally {
    await handle.close();
  }

  const hash = createHash("sha256");
  for await (const piece of createReadStream(partial, { highWaterMark: 4 << 20 })) hash.update(piece as Buffer);
  const actual = hash.digest("hex");
  const expected = remote.sha256?.toLowerCase();
  if (expected !== undefined && actual !== expected) {
    await fs.rm(partial, { force: true });
    await fs.rm(statePath, { force: true });
    // Chunks kept from an earlier run may belong to an older upload: one fresh try.
    if (resumedFrom > 0) return downloadParallel(remote, dest, opts);
    throw new ChecksumMismatchError(dest, expected, actual);
  }
  await fs.rename(partial, dest);
  await fs.rm(statePath, { force: true });
  const dir = await fs.open(path.dirname(dest), "r");
  await dir.sync().catch(() => {});
  await dir.close();
  return { sha256: actual, bytes: total, resumedFrom };
}

/** Ranged and parallel where the server allows it, else one resumable stream (download.ts). */
export async function downloadWithConnections(remote: RemoteFile, dest: string, opts: DownloadOptions & { connections?: number; chunkBytes?: number }): Promise<DownloadResult> {
  const connections = opts.connections ?? 1;
  if (connections > 1) {
    const done = await downloadParallel(remote, dest, { ...opts, connections });
    if (done) return done;
  }
  // A partial left by a ranged download is preallocated to full size: the sequential path would
  // take it for finished bytes.
  if (await exists(`${dest}.partial.ranges`)) {
    await fs.rm(`${dest}.partial`, { force: true });
    await fs.rm(`${dest}.partial.ranges`, { force: true });
  }
  return downloadFile(remote, dest, opts);
}

async function readState(file: string): Promise<RangeState | undefined> {
  try {
    const s = JSON.parse(await fs.readFile(file, "utf8")) as RangeState;
    return Array.isArray(s.done) && typeof s.total === "number" ? s : undefined;
  } catch {
    return undefined;
  }
}

const stripQuery = (url: string) => url.split("?")[0]!;
const exists = (p: string) => fs.stat(p).then(() => true, () => false);
