// Downloads an input image from a platform's own attachment hosts, and nothing else: every
// redirect hop is checked against the allowed hosts, the size is capped while reading, and the
// whole download has a deadline.
export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DownloadError";
  }
}

export interface DownloadOptions {
  allowedHosts: readonly string[];
  maxBytes: number;
  fetchImpl?: typeof fetch;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

const MB = 1024 * 1024;

export async function downloadImage(url: string, options: DownloadOptions): Promise<Uint8Array> {
  const fetchImpl = options.fetchImpl ?? fetch;
  const signal = AbortSignal.timeout(options.timeoutMs ?? 20_000);
  let current = url;
  for (let hop = 0; hop < 5; hop++) {
    const u = new URL(current);
    if (u.protocol !== "https:" || !options.allowedHosts.includes(u.hostname.toLowerCase())) {
      throw new DownloadError("The image link points outside the platform's attachment hosts, so it was not fetched.");
    }
    let res: Response;
    try {
      res = await fetchImpl(current, { redirect: "manual", signal, headers: options.headers });
    } catch {
      throw new DownloadError("The image could not be downloaded; attach it again.");
    }
    if (res.status >= 300 && res.status < 400 && res.headers.get("location")) {
      current = new URL(res.headers.get("location")!, current).toString();
      continue;
    }
    if (!res.ok || !res.body) throw new DownloadError(`The image could not be downloaded (HTTP ${res.status}); attach it again.`);
    const declared = Number(res.headers.get("content-length") ?? NaN);
    const tooBig = () =>
      new DownloadError(`The image is larger than ${Math.round(options.maxBytes / MB)} MB; send a smaller file.`);
    if (declared > options.maxBytes) throw tooBig();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > options.maxBytes) throw tooBig();
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }
  throw new DownloadError("The image link redirects too many times; attach the image again.");
}
