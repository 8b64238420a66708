// Where a model's files come from. Each source turns the manifest into URLs plus expected sha256:
//  - huggingface: the original repositories; the expected digest is the pinned one or the hub's
//    LFS sha256 (the `X-Linked-Etag` header of the resolve URL, read before its CDN redirect);
//  - mirror: any HTTP(S) base where a models/ folder was copied (CloudFront, nginx, another worker);
//  - s3: a bucket prefix where models/ was synced, read through presigned GET URLs so the same
//    ranged, verified download path serves every source.
// Mirrors and S3 must hold <model>/SHA256SUMS (written by fetch-weights next to the files), so a
// copy is verified against the digests taken when it was first fetched from the hub.
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { HttpError, redactUrl, type RemoteFile } from "./download.js";
import type { ManifestFile, ModelName } from "./manifest.js";

export interface PlannedFile extends RemoteFile {
  /** File name under models/<model>/. */
  name: string;
}

export interface WeightSource {
  /** Shown in logs; never contains credentials. */
  readonly description: string;
  plan(model: ModelName, files: ManifestFile[]): Promise<PlannedFile[]>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface HuggingFaceOptions {
  /** Hub base URL; HF_ENDPOINT in the environment (for hub mirrors). */
  endpoint?: string;
  /** Access token for gated repositories; HF_TOKEN in the environment. */
  token?: string;
  revision?: string;
  fetch?: typeof fetch;
}

export function huggingFaceSource(opts: HuggingFaceOptions = {}): WeightSource {
  const endpoint = (opts.endpoint ?? "https://huggingface.co").replace(/\/+$/, "");
  const revision = opts.revision ?? "main";
  const doFetch = opts.fetch ?? fetch;
  const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  return {
    description: `Hugging Face (${endpoint})`,
    async plan(_model, files) {
      return Promise.all(
        files.map(async (f) => {
          const url = `${endpoint}/${f.repo}/resolve/${revision}/${f.path.split("/").map(encodeURIComponent).join("/")}`;
          const sha256 = f.sha256 ?? (await hubLfsSha256(url, headers, doFetch));
          return { name: f.name, url, headers, sha256 };
        }),
      );
    },
  };
}

/** The hub answers a resolve URL with a redirect to its CDN and puts the LFS object's sha256 in
 * `X-Linked-Etag`; a manual-redirect HEAD reads it without downloading anything. Undefined for
 * files stored in git rather than LFS (their ETag is a git blob id). */
export async function hubLfsSha256(url: string, headers: Record<string, string>, doFetch: typeof fetch = fetch): Promise<string | undefined> {
  const res = await doFetch(url, { method: "HEAD", headers, redirect: "manual" });
  if (res.status >= 400) throw new HttpError(url, res.status);
  const tag = (res.headers.get("x-linked-etag") ?? "").replace(/^W\//, "").replace(/"/g, "").toLowerCase();
  return SHA256_HEX.test(tag) ? tag : undefined;
}

/** Parses `sha256sum` output: `<hex>  <name>` (or `<hex> *<name>`) per line. */
export function parseSha256Sums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line.trim());
    if (m) sums.set(m[2]!, m[1]!.toLowerCase());
  }
  return sums;
}

export function formatSha256Sums(sums: Map<string, string>): string {
  return [...sums].sort(([a], [b]) => a.localeCompare(b)).map(([name, hex]) => `${hex}  ${name}\n`).join("");
}

/** A source that serves <base>/<model>/<file> and <base>/<model>/SHA256SUMS. */
function sumsVerifiedSource(description: string, urlFor: (key: string) => Promise<string>, doFetch: typeof fetch): WeightSource {
  return {
    description,
    async plan(model, files) {
      const sumsUrl = await urlFor(`${model}/SHA256SUMS`);
      const res = await doFetch(sumsUrl);
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`${description}: ${redactUrl(sumsUrl)} answered HTTP ${res.status}; upload the model folder with its SHA256SUMS (docs/deploy.md, "Upload checkpoints").`);
      }
      const sums = parseSha256Sums(await res.text());
      return Promise.all(
        files.map(async (f) => {
          const sha256 = sums.get(f.name);
          if (!sha256) throw new Error(`${description}: ${model}/SHA256SUMS has no line for ${f.name}; re-run fetch-weights where the file was first fetched and upload the folder again.`);
          return { name: f.name, url: await urlFor(`${model}/${f.name}`), sha256 };
        }),
      );
    },
  };
}

export function mirrorSource(baseUrl: string, opts: { fetch?: typeof fetch } = {}): WeightSource {
  const base = baseUrl.replace(/\/+$/, "");
  return sumsVerifiedSource(`mirror ${base}`, async (key) => `${base}/${key}`, opts.fetch ?? fetch);
}

export interface S3SourceOptions {
  region?: string;
  /** AWS_ENDPOINT_URL, for S3-compatible servers (path-style addressing is used then). */
  endpoint?: string;
  /** Lifetime of each presigned URL; long enough for a 30 GB transfer and its retries. */
  expiresInS?: number;
  fetch?: typeof fetch;
  client?: S3Client;
}

/** `s3://bucket/prefix` → files at s3://bucket/prefix/<model>/<file>. */
export function s3Source(uri: string, opts: S3SourceOptions = {}): WeightSource {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new Error(`"${uri}" is not an s3://bucket/prefix address`);
  const bucket = m[1]!;
  const prefix = m[2]!.replace(/\/+$/, "");
  const client =
    opts.client ?? new S3Client({ region: opts.region ?? "us-east-1", endpoint: opts.endpoint, forcePathStyle: Boolean(opts.endpoint) });
  const expiresIn = opts.expiresInS ?? 12 * 3600;
  return sumsVerifiedSource(
    `s3://${bucket}/${prefix}`,
    (key) => getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: prefix ? `${prefix}/${key}` : key }), { expiresIn }),
    opts.fetch ?? fetch,
  );
}

/** `hf` (default), `https://…` (mirror) or `s3://bucket/prefix`. */
export function sourceFromSpec(spec: string | undefined, env: Record<string, string | undefined> = process.env): WeightSource {
  if (!spec || spec === "hf" || spec === "huggingface") return huggingFaceSource({ endpoint: env.HF_ENDPOINT, token: env.HF_TOKEN });
  if (spec.startsWith("s3://")) return s3Source(spec, { region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL });
  if (/^https?:\/\//.test(spec)) return mirrorSource(spec);
  throw new Error(`--from "${spec}": use hf (Hugging Face), an http(s):// mirror base, or s3://bucket/prefix`);
}
