// Fetches every file of one model into <modelsDir>/<model>/ and records what was verified:
//  - SHA256SUMS (sha256sum format) so the folder can be uploaded to S3 or a mirror and re-verified
//    there (`sha256sum -c SHA256SUMS` works too);
//  - .fetch-state.json with size and mtime of each verified file, so a restart skips files that are
//    already complete without re-hashing tens of GB (pass verify to re-hash anyway).
import fs from "node:fs/promises";
import path from "node:path";
import { sha256OfFile, type DownloadOptions } from "./download.js";
import { manifestFor, type ModelName } from "./manifest.js";
import { downloadWithConnections } from "./parallel.js";
import { formatSha256Sums, parseSha256Sums, type WeightSource } from "./sources.js";

export interface FetchModelOptions extends Omit<DownloadOptions, "onProgress"> {
  modelsDir: string;
  source: WeightSource;
  quant?: boolean;
  /** Re-hash files already present instead of trusting .fetch-state.json. */
  verify?: boolean;
  /** Parallel ranged connections per file where the server serves ranges. Default 8. */
  connections?: number;
  chunkBytes?: number;
  log?: (line: string) => void;
  onProgress?: (file: string, bytes: number, total: number | undefined) => void;
}

export interface FetchedFile {
  name: string;
  sha256: string;
  bytes: number;
  status: "downloaded" | "resumed" | "present";
  /** True when no expected digest existed (a hub file kept in git, not LFS): trusted on first use. */
  unverified?: boolean;
}

interface StateEntry {
  sha256: string;
  size: number;
  mtimeMs: number;
}

export async function fetchModel(model: ModelName, opts: FetchModelOptions): Promise<FetchedFile[]> {
  const log = opts.log ?? (() => {});
  const manifest = manifestFor(model, { quant: opts.quant });
  if (manifest.length === 0) {
    log(`${model}: nothing to fetch (its weights are generated locally)`);
    return [];
  }
  const dir = path.join(opts.modelsDir, model);
  await fs.mkdir(dir, { recursive: true });
  const statePath = path.join(dir, ".fetch-state.json");
  const sumsPath = path.join(dir, "SHA256SUMS");
  const state: Record<string, StateEntry> = await fs.readFile(statePath, "utf8").then(JSON.parse, () => ({}));
  const sums = await fs.readFile(sumsPath, "utf8").then(parseSha256Sums, () => new Map<string, string>());

  const plan = await opts.source.plan(model, manifest);
  const results: FetchedFile[] = [];
  for (const file of plan) {
    const dest = path.join(dir, file.name);
    const present = await presentAndVerified(dest, state[file.name], file.sha256, opts.verify);
    if (present) {
      log(`${model}/${file.name}: present (sha256 ${present.sha256.slice(0, 12)}…)`);
      results.push({ name: file.name, sha256: present.sha256, bytes: present.size, status: "present" });
    } else {
      log(`${model}/${file.name}: fetching from ${opts.source.description}`);
      const r = await downloadWithConnections(file, dest, {
        ...opts,
        connections: opts.connections ?? 8,
        onProgress: (b, t) => opts.onProgress?.(file.name, b, t),
      });
      if (!file.sha256) log(`${model}/${file.name}: the source published no sha256; recorded ${r.sha256} on first use`);
      results.push({ name: file.name, sha256: r.sha256, bytes: r.bytes, status: r.resumedFrom > 0 ? "resumed" : "downloaded", unverified: !file.sha256 });
    }
    const st = await fs.stat(dest);
    const last = results.at(-1)!;
    state[file.name] = { sha256: last.sha256, size: st.size, mtimeMs: st.mtimeMs };
    sums.set(file.name, last.sha256);
    // Written after every file so a crash keeps the record of what is already verified.
    await writeAtomic(statePath, `${JSON.stringify(state, null, 2)}\n`);
    await writeAtomic(sumsPath, formatSha256Sums(sums));
  }
  return results;
}

async function presentAndVerified(dest: string, entry: StateEntry | undefined, expected: string | undefined, verify?: boolean) {
  const st = await fs.stat(dest).catch(() => undefined);
  if (!st) return undefined;
  if (!verify && entry && entry.size === st.size && entry.mtimeMs === st.mtimeMs && (!expected || entry.sha256 === expected)) {
    return { sha256: entry.sha256, size: st.size };
  }
  if (!expected && !verify) return undefined; // nothing to check it against: fetch again
  const actual = await sha256OfFile(dest);
  if (expected && actual !== expected) return undefined; // stale or corrupt: replace it
  return { sha256: actual, size: st.size };
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}
