// The web console's JSON API and its live event stream (server-sent events).
import { randomUUID } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { streamSSE } from "hono/streaming";
import type { Logger } from "pino";
import { z } from "zod";
import {
  ASPECTS,
  ATTENTIONS,
  generationOptionsSchema,
  IMAGE_MAX_BYTES,
  MODELS,
  RESOLUTIONS,
  type JobEvent,
  type JobRecord,
  type JobRequestInput,
} from "../jobs/model.js";
import { TERMINAL } from "../jobs/records.js";
import { JobRejectedError, type JobService } from "../jobs/service.js";
import type { Store } from "../store/store.js";

export interface ApiDeps {
  jobs: JobService;
  store: Store;
  /** Models the worker(s) serve; the console offers these, first one preselected. */
  models: readonly string[];
  log: Logger;
  /** SSE keep-alive comment interval. Default 15 s. */
  keepAliveMs?: number;
}

/** A job record plus download URLs once it has artifacts. */
export type JobView = JobRecord & { urls?: { video: string; poster?: string; preview?: string } };

const submitSchema = z.object({
  kind: z.enum(["t2v", "i2v"], { error: "kind must be t2v or i2v." }),
  prompt: z.string({ error: "The prompt must be text." }),
  imageKey: z.string().min(1).optional(),
  options: z.record(z.string(), z.unknown()).default({}),
  /** The browser's id for this submission: resubmitting the same one never makes a second job. */
  requestId: z.string().min(1).max(100).optional(),
});

const STATUS = z.enum(["queued", "running", "succeeded", "failed", "cancelled"]);

/**
 * Refuses state-changing requests that a browser sends from another site (a page elsewhere posting
 * a form to http://localhost:8787). Browsers always send Origin on such requests; scripts and curl
 * send none and are let through.
 */
export function sameOriginOnly(): MiddlewareHandler {
  return async function sameOriginOnly(c, next) {
    if (c.req.method === "GET" || c.req.method === "HEAD" || c.req.method === "OPTIONS") return next();
    const origin = c.req.header("origin");
    if (origin && origin !== "null") {
      let host: string | undefined;
      try {
        host = new URL(origin).host;
      } catch {
        host = undefined;
      }
      if (host === (c.req.header("host") ?? new URL(c.req.url).host)) return next();
    }
    if (origin) return c.json({ error: "Cross-site requests are not accepted; use the console on this server." }, 403);
    return next();
  };
}

export function createApi(deps: ApiDeps): Hono {
  const api = new Hono();
  const { jobs, store } = deps;
  api.use(sameOriginOnly());

  async function view(job: JobRecord): Promise<JobView> {
    const a = job.artifacts;
    if (!a.video) return job;
    const urls: NonNullable<JobView["urls"]> = { video: await store.url(a.video) };
    if (a.poster) urls.poster = await store.url(a.poster);
    if (a.preview) urls.preview = await store.url(a.preview);
    return { ...job, urls };
  }

  const rejected = (err: unknown) => {
    if (!(err instanceof JobRejectedError)) throw err;
    const status = err.reason === "invalid" ? 400 : err.reason === "limit" ? 429 : 403;
    return { status, body: { error: err.message, reason: err.reason } } as const;
  };

  api.get("/config", (c) =>
    c.json({
      models: deps.models,
      defaults: generationOptionsSchema.parse({}),
      choices: { model: MODELS, resolution: RESOLUTIONS, aspectRatio: ASPECTS, attention: ATTENTIONS },
    }),
  );

  api.get("/jobs", async (c) => {
    const status = STATUS.safeParse(c.req.query("status"));
    const limit = Math.min(200, Math.max(1, Number(c.req.query("limit") ?? 50) || 50));
    const list = await jobs.list({ limit, ...(status.success ? { status: status.data } : {}) });
    return c.json({ jobs: await Promise.all(list.map(view)) });
  });

  api.get("/jobs/:id", async (c) => {
    const job = await jobs.get(c.req.param("id"));
    if (!job) return c.json({ error: "No job with that id." }, 404);
    return c.json({ job: await view(job) });
  });

  api.post("/jobs", async (c) => {
    const raw = await c.req.json().catch(() => undefined);
    const parsed = submitSchema.safeParse(raw);
    if (!parsed.success) {
      return c.json({ error: parsed.error.issues.map((i) => i.message).join(" ") || "Send a JSON body.", reason: "invalid" }, 400);
    }
    const b = parsed.data;
    const request: JobRequestInput = {
      kind: b.kind,
      prompt: b.prompt,
      ...(b.imageKey ? { imageKey: b.imageKey } : {}),
      options: b.options as JobRequestInput["options"],
      replyTo: { platform: "web" },
      requester: { platform: "web", id: "local" },
      idempotencyKey: `web:${b.requestId ?? randomUUID()}`,
    };
    try {
      const result = await jobs.submit(request);
      deps.log.info({ jobId: result.job.id, created: result.created }, "web job submitted");
      return c.json({ job: await view(result.job), created: result.created, position: result.position }, result.created ? 201 : 200);
    } catch (err) {
      const r = rejected(err);
      return c.json(r.body, r.status);
    }
  });

  api.post("/jobs/:id/cancel", async (c) => {
    const job = await jobs.cancel(c.req.param("id"), "web:local");
    if (!job) return c.json({ error: "No job with that id." }, 404);
    return c.json({ job: await view(job) });
  });

  api.post("/jobs/:id/retry", async (c) => {
    const id = c.req.param("id");
    const job = await jobs.get(id);
    if (!job) return c.json({ error: "No job with that id." }, 404);
    if (!TERMINAL.has(job.status)) return c.json({ error: `The job is still ${job.status}; cancel it first or wait.` }, 409);
    const body = (await c.req.json().catch(() => ({}))) as { requestId?: unknown };
    const requestId = typeof body.requestId === "string" && body.requestId ? body.requestId.slice(0, 100) : randomUUID();
    const { request } = job;
    try {
      const result = await jobs.submit({
        kind: request.kind,
        prompt: request.prompt,
        ...(request.imageKey ? { imageKey: request.imageKey } : {}),
        // The same options, seed included: a retry reproduces the video the job would have made.
        options: { ...request.options, seed: job.seed },
        replyTo: { platform: "web" },
        requester: request.requester,
        idempotencyKey: `web:retry:${id}:${requestId}`,
      });
      return c.json({ job: await view(result.job), created: result.created, position: result.position, retryOf: id }, 201);
    } catch (err) {
      const r = rejected(err);
      return c.json(r.body, r.status);
    }
  });

  api.post(
    "/images",
    bodyLimit({
      maxSize: IMAGE_MAX_BYTES + 64 * 1024,
      onError: (c) => c.json({ error: `The image is over ${IMAGE_MAX_BYTES / 1024 / 1024} MB; send a smaller file.` }, 413),
    }),
    async (c) => {
      let bytes: Uint8Array;
      let type = c.req.header("content-type") ?? "";
      if (type.startsWith("multipart/form-data")) {
        const form = await c.req.formData();
        const file = form.get("image");
        if (!(file instanceof File)) return c.json({ error: "Send the image in a form field named image." }, 400);
        bytes = new Uint8Array(await file.arrayBuffer());
        type = file.type;
      } else {
        bytes = new Uint8Array(await c.req.arrayBuffer());
      }
      try {
        const key = await jobs.putInputImage(bytes, type || undefined);
        return c.json({ key }, 201);
      } catch (err) {
        const r = rejected(err);
        return c.json(r.body, r.status);
      }
    },
  );

  api.get("/events", (c) =>
    streamSSE(c, async (stream) => {
      const queue: JobEvent[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = jobs.subscribe((event) => {
        queue.push(event);
        wake?.();
      });
      const keepAlive = setInterval(() => wake?.(), deps.keepAliveMs ?? 15_000);
      stream.onAbort(() => {
        clearInterval(keepAlive);
        unsubscribe();
        wake?.();
      });
      await stream.writeSSE({ event: "hello", data: "{}", retry: 2000 });
      while (!stream.aborted && !stream.closed) {
        const event = queue.shift();
        if (!event) {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          if (queue.length === 0 && !stream.aborted) await stream.write(": keep-alive\n\n");
          continue;
        }
        const job = event.type === "succeeded" ? { ...event.job, urls: event.urls } : await view(event.job);
        const { job: _omit, ...rest } = event;
        await stream.writeSSE({ event: event.type, id: `${event.job.id}:${event.job.updatedAt}`, data: JSON.stringify({ ...rest, job }) });
      }
      clearInterval(keepAlive);
      unsubscribe();
    }),
  );

  return api;
}
