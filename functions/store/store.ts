// The store contract: job records (JSON documents), artifacts (bytes served to users) and markers
// (small private values: the idempotency index, cancel requests). Two drivers: local.ts (a directory,
// the embedded default) and s3.ts; both pass test/functions/store/contract.ts.
//
// Namespaces are separate so that serving artifacts at /files/<key> can never expose a record or
// a marker.
import type { Readable } from "node:stream";
import type { JobRecord, JobStatus } from "../jobs/model.js";

export interface RecordFilter {
  requesterId?: string;
  status?: JobStatus;
  /** Default 50. */
  limit?: number;
}

/** Artifact content: bytes in memory, or a file on disk (streamed, for large videos). */
export type ArtifactBody = Uint8Array | { file: string };

export interface ArtifactInfo {
  key: string;
  bytes: number;
  contentType: string;
}

export interface ArtifactStream extends ArtifactInfo {
  stream: Readable;
  /** Inclusive byte range actually returned. */
  start: number;
  end: number;
}

export interface Store {
  /** Writes (replaces) the record under record.id. */
  putRecord(record: JobRecord): Promise<void>;
  getRecord(id: string): Promise<JobRecord | undefined>;
  /** Most recent first (job ids sort by creation time). */
  listRecords(filter?: RecordFilter): Promise<JobRecord[]>;

  putArtifact(key: string, body: ArtifactBody, contentType: string): Promise<ArtifactInfo>;
  /** The whole artifact in memory; undefined when absent. */
  getArtifact(key: string): Promise<(ArtifactInfo & { data: Uint8Array }) | undefined>;
  /** A stream of the artifact (optionally a byte range, for HTTP Range requests); undefined when absent. */
  readStream(key: string, range?: { start?: number; end?: number }): Promise<ArtifactStream | undefined>;
  exists(key: string): Promise<boolean>;
  /** Deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
  /** Where a user can download the artifact: local `${publicUrl}/files/<key>`; S3 a presigned GET
   * (or a public URL when the driver is configured with one). */
  url(key: string): Promise<string>;

  /** Sets a private marker. With ifAbsent, only the first writer wins; returns whether this call wrote. */
  setMarker(name: string, value: string, options?: { ifAbsent?: boolean }): Promise<boolean>;
  getMarker(name: string): Promise<string | undefined>;
  deleteMarker(name: string): Promise<void>;
}

/** A key or name that could escape the store (`..`, absolute, backslashes, empty segments). */
export class InvalidKeyError extends Error {
  constructor(key: string) {
    super(
      `Store key ${JSON.stringify(key)} is not allowed: use relative paths of letters, digits, '.', '_', '-' ` +
        `separated by '/', with no '..' or empty segments.`,
    );
    this.name = "InvalidKeyError";
  }
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Throws InvalidKeyError unless the key is safe as both a file path and an S3 key. */
export function assertSafeKey(key: string): string {
  if (typeof key !== "string" || key.length === 0 || key.length > 512) throw new InvalidKeyError(String(key));
  for (const segment of key.split("/")) {
    if (!SEGMENT.test(segment) || segment === "." || segment === "..") throw new InvalidKeyError(key);
  }
  return key;
}

/** Content type from a key's extension, for artifacts stored without one. */
export function contentTypeFor(key: string): string {
  const ext = key.slice(key.lastIndexOf(".") + 1).toLowerCase();
  return (
    {
      mp4: "video/mp4",
      png: "image/png",
      jpg: "image/jpeg",
      jpeg: "image/jpeg",
      webp: "image/webp",
      gif: "image/gif",
      json: "application/json",
    }[ext] ?? "application/octet-stream"
  );
}
