// Shared bits of the loopback stand-in servers: start/stop, body reading (JSON or multipart via
// undici's FormData parser), and a fetch that maps platform attachment hosts onto the stand-in.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedFile {
  field: string;
  name: string;
  size: number;
  contentType: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  authorization?: string;
  json?: unknown;
  files: RecordedFile[];
  at: number;
}

export async function readBody(req: IncomingMessage): Promise<{ json?: unknown; files: RecordedFile[]; raw: Buffer }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  const type = req.headers["content-type"] ?? "";
  if (raw.length === 0) return { files: [], raw };
  if (type.startsWith("multipart/form-data")) {
    const form = await new Request("http://standin/", { method: "POST", headers: { "content-type": type }, body: raw }).formData();
    const files: RecordedFile[] = [];
    let json: unknown;
    for (const [field, value] of form.entries()) {
      if (typeof value === "string") {
        if (field === "payload_json") json = JSON.parse(value);
      } else {
        files.push({ field, name: value.name, size: value.size, contentType: value.type });
      }
    }
    return { json, files, raw };
  }
  return { json: type.includes("json") ? JSON.parse(raw.toString("utf8")) : undefined, files: [], raw };
}

export function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers }).end(text);
}

export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<{ server: Server; base: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { message: String(err) });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    base: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Files a stand-in serves as if from `https://<host>/<path>` (CDN / attachment hosts). */
export class HostedFiles {
  private readonly files = new Map<string, { status: number; body?: Buffer; contentType?: string; location?: string }>();
  add(url: string, body: Buffer, contentType: string) {
    this.files.set(url, { status: 200, body, contentType });
  }
  redirect(url: string, location: string) {
    this.files.set(url, { status: 302, location });
  }
  /** Serves /__host/<host>/<path>; returns false when the path is not a hosted one. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    const m = /^\/__host\/([^/]+)(\/.*)$/.exec(req.url ?? "");
    if (!m) return false;
    const file = this.files.get(`https://${m[1]}${m[2]}`);
    if (!file) send(res, 404, { message: "Not Found" });
    else if (file.location) res.writeHead(file.status, { location: file.location }).end();
    else res.writeHead(200, { "content-type": file.contentType!, "content-length": file.body!.length }).end(file.body);
    return true;
  }
}

/** A fetch that sends https://<host>/<path> to the stand-in's /__host/<host>/<path>. */
export function hostMappingFetch(base: string): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    if (url.protocol !== "https:") throw new Error(`test fetch: refusing ${url.href}`);
    const res = await fetch(`${base}/__host/${url.hostname}${url.pathname}${url.search}`, { ...init, redirect: "manual" });
    return res;
  }) as typeof fetch;
}
