// The embedded store: a directory. Records, artifacts and markers live in separate subfolders, so
// the ingress route that serves <root>/files can never expose a record or a marker.
//   <root>/records/<id>.json    job records
//   <root>/files/<key>          artifacts, served at `${publicUrl}/files/<key>`
//   <root>/types/<key>          each artifact's content type
//   <root>/markers/<name>       idempotency index, cancel requests
// Every write goes to a temporary file first and is renamed into place, so a reader (or a crash)
// never sees half a file.
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, link, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { JobRecord } from "../jobs/model.js";
import { assertSafeKey, contentTypeFor } from "./store.js";
import type { ArtifactBody, ArtifactInfo, ArtifactStream, RecordFilter, Store } from "./store.js";

export interface LocalStoreOptions {
  /** Directory holding everything (created when missing). */
  root: string;
  /** Base URL of the ingress that serves /files/<key> (TURBOWAN_PUBLIC_URL). */
  publicUrl: string;
}

export class LocalStore implements Store {
  private readonly root: string;
  private readonly publicUrl: string;

  constructor(options: LocalStoreOptions) {
    this.root = options.root;
    this.publicUrl = options.publicUrl.replace(/\/+$/, "");
  }

  private recordPath(id: string) {
    return join(this.root, "records", `${assertSafeKey(id)}.json`);
  }
  private filePath(key: string) {
    return join(this.root, "files", assertSafeKey(key));
  }
  private typePath(key: string) {
    return join(this.root, "types", assertSafeKey(key));
  }
  private markerPath(name: string) {
    return join(this.root, "markers", assertSafeKey(name));
  }

  async putRecord(record: JobRecord): Promise<void> {
    await writeAtomic(this.recordPath(record.id), JSON.stringify(record));
  }

  async getRecord(id: string): Promise<JobRecord | undefined> {
    const text = await readIfExists(this.recordPath(id));
    return text === undefined ? undefined : (JSON.parse(text.toString("utf8")) as JobRecord);
  }

  async listRecords(filter: RecordFilter = {}): Promise<JobRecord[]> {
    const limit = filter.limit ?? 50;
    let names: string[];
    try {
      names = await readdir(join(this.root, "records"));
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    // Ids sort by creation time, so the newest are read first and reading stops at the limit.
    const ids = names.filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5)).sort().reverse();
    const out: JobRecord[] = [];
    for (const id of ids) {
      if (out.length >= limit) break;
      const record = await this.getRecord(id);
      if (!record) continue; // deleted while listing
      if (filter.status && record.status !== filter.status) continue;
      if (filter.requesterId && record.request.requester.id !== filter.requesterId) continue;
      out.push(record);
    }
    return out;
  }

  async putArtifact(key: string, body: ArtifactBody, contentType: string): Promise<ArtifactInfo> {
    const path = this.filePath(key);
    if (body instanceof Uint8Array) {
      await writeAtomic(path, body);
    } else {
      const tmp = await tempFor(path);
      await copyFile(body.file, tmp);
      await rename(tmp, path);
    }
    await writeAtomic(this.typePath(key), contentType);
    return { key, bytes: (await stat(path)).size, contentType };
  }

  private async contentType(key: string): Promise<string> {
    return (await readIfExists(this.typePath(key)))?.toString("utf8") ?? contentTypeFor(key);
  }

  async getArtifact(key: string): Promise<(ArtifactInfo & { data: Uint8Array }) | undefined> {
    const data = await readIfExists(this.filePath(key));
    if (!data) return undefined;
    return { key, bytes: data.byteLength, contentType: await this.contentType(key), data: new Uint8Array(data) };
  }

  async readStream(key: string, range: { start?: number; end?: number } = {}): Promise<ArtifactStream | undefined> {
    const path = this.filePath(key);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const start = range.start ?? 0;
    const end = Math.min(range.end ?? size - 1, size - 1);
    return {
      key,
      bytes: size,
      contentType: await this.contentType(key),
      start,
      end,
      stream: createReadStream(path, { start, end }),
    };
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.filePath(key))).isFile();
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.filePath(key), { force: true });
    await rm(this.typePath(key), { force: true });
  }

  async url(key: string): Promise<string> {
    assertSafeKey(key);
    return `${this.publicUrl}/files/${key.split("/").map(encodeURIComponent).join("/")}`;
  }

  async setMarker(name: string, value: string, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const path = this.markerPath(name);
    if (!options.ifAbsent) {
      await writeAtomic(path, value);
      return true;
    }
    // link() fails with EEXIST when the name is taken: an atomic create-if-absent whose winner's
    // content is complete the moment it becomes visible.
    const tmp = await tempFor(path);
    await writeFile(tmp, value);
    try {
      await link(tmp, path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }

  async getMarker(name: string): Promise<string | undefined> {
    return (await readIfExists(this.markerPath(name)))?.toString("utf8");
  }

  async deleteMarker(name: string): Promise<void> {
    await rm(this.markerPath(name), { force: true });
  }
}

async function tempFor(path: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  // Same directory as the target, so the rename stays on one filesystem (and is atomic).
  return `${path}.tmp-${randomBytes(6).toString("hex")}`;
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = await tempFor(path);
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}
