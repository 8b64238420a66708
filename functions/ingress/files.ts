// Artifact downloads at /files/<key> for the local store, with HTTP Range support (a <video>
// element seeks with Range requests and Safari refuses to play without them).
import { Readable } from "node:stream";
import { Hono } from "hono";
import { assertSafeKey, InvalidKeyError, type Store } from "../store/store.js";

export function createFilesApp(store: Store): Hono {
  const files = new Hono();
  files.on(["GET", "HEAD"], "/*", async (c) => {
    const key = decodeURIComponent(c.req.path.replace(/^.*?\/files\//, ""));
    try {
      assertSafeKey(key);
    } catch (err) {
      if (err instanceof InvalidKeyError) return c.text("Not found", 404);
      throw err;
    }
    const range = parseRange(c.req.header("range"));
    if (range === "invalid") return c.text("Range not satisfiable", 416);
    let wanted = range ?? undefined;
    if (wanted?.suffix !== undefined) {
      // bytes=-n: the last n bytes; the size is needed first.
      const whole = await store.readStream(key);
      if (!whole) return c.text("Not found", 404);
      whole.stream.destroy();
      wanted = { start: Math.max(0, whole.bytes - wanted.suffix) };
    }
    const found = await store.readStream(key, wanted && { start: wanted.start, end: wanted.end });
    if (!found) return c.text("Not found", 404);
    const headers: Record<string, string> = {
      "content-type": found.contentType,
      "accept-ranges": "bytes",
      "content-length": String(found.end - found.start + 1),
      // Keys are per job and never rewritten with other content.
      "cache-control": "public, max-age=31536000, immutable",
    };
    if (range) headers["content-range"] = `bytes ${found.start}-${found.end}/${found.bytes}`;
    if (c.req.method === "HEAD") {
      found.stream.destroy();
      return c.body(null, range ? 206 : 200, headers);
    }
    return c.body(Readable.toWeb(found.stream) as ReadableStream, range ? 206 : 200, headers);
  });
  return files;
}

/** One range of the form bytes=a-b, a- or -n (suffix); anything else is served whole. */
function parseRange(header: string | undefined): { start?: number; end?: number; suffix?: number } | null | "invalid" {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") return { suffix: Number(m[2]) };
  const start = Number(m[1]);
  const end = m[2] === "" ? undefined : Number(m[2]);
  if (end !== undefined && end < start) return "invalid";
  return { start, ...(end !== undefined ? { end } : {}) };
}
