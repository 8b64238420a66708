// A loopback HTTP file server for the weights tests: byte ranges, a switch to ignore them, cut
// connections, and the Hugging Face resolve → CDN redirect with the LFS sha256 in X-Linked-Etag.
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ServedRequest {
  method: string;
  path: string;
  range?: string;
}

export interface FileServer {
  url: string;
  /** pathname → content */
  files: Map<string, Buffer>;
  requests: ServedRequest[];
  /** Send a 200 with the whole body to range requests. */
  ignoreRange: boolean;
  /** pathname → bytes to send before destroying the socket, once (on the first longer response). */
  cutOnce: Map<string, number>;
  /** Serve `/<repo>/resolve/<rev>/<path>` as a 302 to `/cdn/<repo>/<path>` with X-Linked-Etag. */
  hub: boolean;
  close(): Promise<void>;
}

export const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

export async function startFileServer(): Promise<FileServer> {
  const state = {
    files: new Map<string, Buffer>(),
    requests: [] as ServedRequest[],
    ignoreRange: false,
    cutOnce: new Map<string, number>(),
    hub: false,
  };
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    state.requests.push({ method: req.method ?? "GET", path: pathname, range: req.headers.range });
    const resolve = /^\/(.+?\/.+?)\/resolve\/[^/]+\/(.+)$/.exec(pathname);
    if (state.hub && resolve) {
      const cdn = `/cdn/${resolve[1]}/${resolve[2]}`;
      const body = state.files.get(cdn);
      if (!body) return void res.writeHead(404).end();
      res.writeHead(302, { location: cdn, "x-linked-etag": `"${sha256(body)}"`, "x-linked-size": String(body.length) });
      return void res.end();
    }
    const body = state.files.get(pathname);
    if (!body) return void res.writeHead(404).end();
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    let start = 0;
    let end = body.length; // exclusive
    if (m && !state.ignoreRange) {
      start = Number(m[1]);
      if (m[2]) end = Math.min(body.length, Number(m[2]) + 1);
      if (start >= body.length) {
        return void res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
      }
      res.writeHead(206, { "content-range": `bytes ${start}-${end - 1}/${body.length}`, "content-length": String(end - start) });
    } else {
      res.writeHead(200, { "content-length": String(body.length), "accept-ranges": "bytes" });
    }
    if (req.method === "HEAD") return void res.end();
    const cut = state.cutOnce.get(pathname);
    if (cut !== undefined && end - start > cut) {
      state.cutOnce.delete(pathname);
      res.write(body.subarray(start, Math.min(end, start + cut)), () => setTimeout(() => res.destroy(), 250));
      return;
    }
    res.end(body.subarray(start, end));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
