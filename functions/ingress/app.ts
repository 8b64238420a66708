// The ingress: one hono app for every HTTP entry (Node server locally, Lambda in the cloud).
//   /                 web console (plain HTML/CSS/JS)
//   /api/*            console JSON API and /api/events (SSE)
//   /files/<key>      artifact downloads (local store)
//   /discord/interactions, /github/webhooks   platform sub-apps, when configured
//   /healthz
import { readFileSync } from "node:fs";
import { Hono } from "hono";
import type { Logger } from "pino";
import type { JobService } from "../jobs/service.js";
import type { Queue } from "../queue/queue.js";
import type { Store } from "../store/store.js";
import { silentLogger } from "../log.js";
import { createApi } from "./api.js";
import { createFilesApp } from "./files.js";

export interface IngressDeps {
  jobs: JobService;
  store: Store;
  /** For /healthz queue stats; optional. */
  queue?: Queue;
  /** Models served (the console offers them). Default ["demo"]. */
  models?: readonly string[];
  /** Serve /files/<key> from the store (the local store's URLs point here). Default true. */
  serveFiles?: boolean;
  /** Serve the console and /api. Default true. */
  console?: boolean;
  /** Built by bot/discord's createDiscordApp(deps); mounted at /discord/interactions. */
  discord?: Hono;
  /** Built by bot/github's createGitHubApp(deps); mounted at /github/webhooks. */
  github?: Hono;
  log?: Logger;
  keepAliveMs?: number;
}

const asset = (name: string) => readFileSync(new URL(`./console/${name}`, import.meta.url), "utf8");
let assets: { html: string; js: string; css: string } | undefined;
// Read once, and only by apps that serve the console (the Lambda ingress does not).
const consoleAssets = () => (assets ??= { html: asset("index.html"), js: asset("console.js"), css: asset("console.css") });

export function createIngressApp(deps: IngressDeps): Hono {
  const log = deps.log ?? silentLogger;
  const app = new Hono();

  app.onError((err, c) => {
    log.error({ err, path: c.req.path }, "request failed");
    return c.json({ error: "Something went wrong on the server; see its log." }, 500);
  });

  app.get("/healthz", async (c) => {
    const queue = deps.queue ? await deps.queue.stats().catch(() => undefined) : undefined;
    return c.json({ ok: true, ...(queue ? { queue } : {}) });
  });

  if (deps.console !== false) {
    const CONSOLE = consoleAssets();
    const headers = { "cache-control": "no-cache", "x-content-type-options": "nosniff" };
    app.get("/", (c) =>
      c.html(CONSOLE.html, 200, {
        ...headers,
        "content-security-policy": // Result URLs name TURBOWAN_PUBLIC_URL, which may be another spelling of this origin
        // (localhost vs 127.0.0.1) or a bucket: allow http(s) media, nothing else from elsewhere.
        "default-src 'self'; img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:",
      }),
    );
    app.get("/console.js", (c) => c.body(CONSOLE.js, 200, { ...headers, "content-type": "text/javascript; charset=utf-8" }));
    app.get("/console.css", (c) => c.body(CONSOLE.css, 200, { ...headers, "content-type": "text/css; charset=utf-8" }));
    app.route("/api", createApi({ jobs: deps.jobs, store: deps.store, models: deps.models ?? ["demo"], log, keepAliveMs: deps.keepAliveMs }));
  }
  if (deps.serveFiles !== false) app.route("/files", createFilesApp(deps.store));
  if (deps.discord) app.route("/discord/interactions", deps.discord);
  if (deps.github) app.route("/github/webhooks", deps.github);
  return app;
}
