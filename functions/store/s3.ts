// The S3 store. Layout under the bucket's prefix (TURBOWAN_S3_PREFIX):
//   <prefix>records/<id>.json   job records
//   <prefix>files/<key>         artifacts (url(): presigned GET, or publicBaseUrl + key)
//   <prefix>markers/<name>      idempotency index, cancel requests
// Markers written with ifAbsent use a conditional PUT (If-None-Match: *), which S3 makes atomic;
// a HEAD first keeps the common "already there" case cheap and covers emulators without
// conditional writes.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { JobRecord } from "../jobs/model.js";
import { assertSafeKey, contentTypeFor } from "./store.js";
import type { ArtifactBody, ArtifactInfo, ArtifactStream, RecordFilter, Store } from "./store.js";

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, e.g. "turbowan/" (TURBOWAN_S3_PREFIX). */
  prefix?: string;
  client?: S3Client;
  region?: string;
  /** An S3-compatible endpoint (AWS_ENDPOINT_URL); implies path-style addressing. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Lifetime of presigned URLs in seconds (S3 allows at most 7 days). Default 7 days. */
  urlExpirySeconds?: number;
  /** When artifacts are public (e.g. CloudFront over <prefix>files/), URLs are `${publicBaseUrl}/<key>`. */
  publicBaseUrl?: string;
}

const WEEK_S = 7 * 24 * 3600;

export class S3Store implements Store {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly expiry: number;
  private readonly publicBaseUrl?: string;

  constructor(options: S3StoreOptions) {
    if (!options.bucket) throw new Error("S3Store needs a bucket: set TURBOWAN_S3_BUCKET.");
    this.bucket = options.bucket;
    this.prefix = options.prefix ? options.prefix.replace(/^\/+/, "").replace(/\/*$/, "/") : "";
    this.expiry = Math.min(options.urlExpirySeconds ?? WEEK_S, WEEK_S);
    if (options.publicBaseUrl) this.publicBaseUrl = options.publicBaseUrl.replace(/\/+$/, "");
    this.client =
      options.client ??
      new S3Client({
        ...(options.region ? { region: options.region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
  }

  private recordKey(id: string) {
    return `${this.prefix}records/${assertSafeKey(id)}.json`;
  }
  private fileKey(key: string) {
    return `${this.prefix}files/${assertSafeKey(key)}`;
  }
  private markerKey(name: string) {
    return `${this.prefix}markers/${assertSafeKey(name)}`;
  }

  async putRecord(record: JobRecord): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.recordKey(record.id),
        Body: JSON.stringify(record),
        ContentType: "application/json",
      }),
    );
  }

  async getRecord(id: string): Promise<JobRecord | undefined> {
    const text = await this.getText(this.recordKey(id));
    return text === undefined ? undefined : (JSON.parse(text) as JobRecord);
  }

  async listRecords(filter: RecordFilter = {}): Promise<JobRecord[]> {
    const limit = filter.limit ?? 50;
    const base = `${this.prefix}records/`;
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key?.endsWith(".json")) ids.push(o.Key.slice(base.length, -5));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    // Ids sort by creation time: read newest first, a few at a time, until the limit is met.
    ids.sort().reverse();
    const out: JobRecord[] = [];
    for (let i = 0; i < ids.length && out.length < limit; i += 8) {
      const batch = await Promise.all(ids.slice(i, i + 8).map((id) => this.getRecord(id)));
      for (const r of batch) {
        if (!r || out.length >= limit) continue;
        if (filter.status && r.status !== filter.status) continue;
        if (filter.requesterId && r.request.requester.id !== filter.requesterId) continue;
        out.push(r);
      }
    }
    return out;
  }

  async putArtifact(key: string, body: ArtifactBody, contentType: string): Promise<ArtifactInfo> {
    const Key = this.fileKey(key);
    if (body instanceof Uint8Array) {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentType: contentType }));
      return { key, bytes: body.byteLength, contentType };
    }
    // A stream needs its length up front (PutObject is not chunked without it).
    const { size } = await stat(body.file);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key,
        Body: createReadStream(body.file),
        ContentLength: size,
        ContentType: contentType,
      }),
    );
    return { key, bytes: size, contentType };
  }

  async getArtifact(key: string): Promise<(ArtifactInfo & { data: Uint8Array }) | undefined> {
    const out = await this.getObject(this.fileKey(key));
    if (!out) return undefined;
    const data = await out.Body!.transformToByteArray();
    return { key, bytes: data.byteLength, contentType: out.ContentType ?? contentTypeFor(key), data };
  }

  async readStream(key: string, range: { start?: number; end?: number } = {}): Promise<ArtifactStream | undefined> {
    const ranged = range.start !== undefined || range.end !== undefined;
    const out = await this.getObject(
      this.fileKey(key),
      ranged ? `bytes=${range.start ?? 0}-${range.end ?? ""}` : undefined,
    );
    if (!out) return undefined;
    // "bytes 5-14/3000000" when ranged; otherwise the whole object.
    const m = /bytes (\d+)-(\d+)\/(\d+)/.exec(out.ContentRange ?? "");
    const bytes = m ? Number(m[3]) : Number(out.ContentLength ?? 0);
    return {
      key,
      bytes,
      contentType: out.ContentType ?? contentTypeFor(key),
      start: m ? Number(m[1]) : 0,
      end: m ? Number(m[2]) : bytes - 1,
      stream: out.Body instanceof Readable ? out.Body : Readable.fromWeb(out.Body!.transformToWebStream() as never),
    };
  }

  async exists(key: string): Promise<boolean> {
    return this.head(this.fileKey(key));
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.fileKey(key) }));
  }

  async url(key: string): Promise<string> {
    if (this.publicBaseUrl) return `${this.publicBaseUrl}/${assertSafeKey(key)}`;
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.fileKey(key) }), {
      expiresIn: this.expiry,
    });
  }

  async setMarker(name: string, value: string, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const Key = this.markerKey(name);
    if (options.ifAbsent && (await this.head(Key))) return false;
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key,
          Body: value,
          ContentType: "text/plain",
          ...(options.ifAbsent ? { IfNoneMatch: "*" } : {}),
        }),
      );
      return true;
    } catch (err) {
      if (options.ifAbsent && status(err) === 412) return false; // someone else wrote it first
      throw err;
    }
  }

  async getMarker(name: string): Promise<string | undefined> {
    return this.getText(this.markerKey(name));
  }

  async deleteMarker(name: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.markerKey(name) }));
  }

  private async getObject(Key: string, Range?: string) {
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, ...(Range ? { Range } : {}) }));
    } catch (err) {
      if (status(err) === 404 && (err as { name?: string }).name !== "NoSuchBucket") return undefined;
      throw this.explain(err);
    }
  }

  private async getText(Key: string): Promise<string | undefined> {
    const out = await this.getObject(Key);
    return out ? out.Body!.transformToString("utf8") : undefined;
  }

  private async head(Key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return true;
    } catch (err) {
      if (status(err) === 404) return false;
      throw this.explain(err);
    }
  }

  private explain(err: unknown): unknown {
    if ((err as { name?: string }).name === "NoSuchBucket") {
      return new Error(`The S3 bucket ${this.bucket} does not exist: create it or fix TURBOWAN_S3_BUCKET.`, { cause: err });
    }
    return err;
  }
}

function status(err: unknown): number | undefined {
  if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode;
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}
