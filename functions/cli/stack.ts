// Wiring from a Config to running parts: queue + store drivers, the job service with the platform
// renderers plugged in, the ingress app, the worker. Entry points (serve, worker, lambda, tests)
// call these instead of assembling the pieces themselves.
import { createServer } from "node:net";
import type { Hono } from "hono";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { createJobService } from "../jobs/job-service.js";
import type { JobEvent, JobEvents } from "../jobs/model.js";
import type { JobService } from "../jobs/service.js";
import type { Queue } from "../queue/queue.js";
import type { Store } from "../store/store.js";
import type { PlatformNotifier } from "../../bot/notifier.js";
import { createIngressApp } from "../ingress/app.js";
import { listen } from "../ingress/node.js";
import { createVideoEncoder } from "../worker/encoder.js";
import { createWorker, type Worker, type WorkerOptions } from "../worker/worker.js";

export interface Core {
  queue: Queue;
  store: Store;
  close(): Promise<void>;
}

/** Opens the configured queue and store drivers. */
export async function openCore(config: Config, overrides: { visibilityTimeoutS?: number } = {}): Promise<Core> {
  let queue: Queue;
  if (config.queue.driver === "sqlite") {
    const { SqliteQueue } = await import("../queue/sqlite.js");
    queue = new SqliteQueue({ path: config.queue.path, visibilityTimeoutSeconds: overrides.visibilityTimeoutS });
  } else {
    const { SqsQueue } = await import("../queue/sqs.js");
    queue = new SqsQueue({
      queueUrl: config.queue.queueUrl,
      deadLetterQueueUrl: config.queue.dlqUrl,
      region: config.queue.region,
      endpoint: config.queue.endpoint,
      visibilityTimeoutSeconds: overrides.visibilityTimeoutS,
    });
  }
  let store: Store;
  if (config.store.driver === "local") {
    const { LocalStore } = await import("../store/local.js");
    store = new LocalStore({ root: config.store.dir, publicUrl: config.publicUrl });
  } else {
    const { S3Store } = await import("../store/s3.js");
    store = new S3Store({
      bucket: config.store.bucket,
      prefix: config.store.prefix,
      region: config.store.region,
      endpoint: config.store.endpoint,
    });
  }
  return { queue, store, close: () => queue.close() };
}

/** Both fan-out targets in order; one failing sink is logged, never fatal to the job. */
export function combineEvents(log: Logger, ...sinks: (JobEvents | undefined)[]): JobEvents {
  const active = sinks.filter((s): s is JobEvents => Boolean(s));
  return {
    async emit(event: JobEvent) {
      for (const sink of active) {
        try {
          await sink.emit(event);
        } catch (err) {
          log.warn({ err, jobId: event.job.id, event: event.type }, "an event sink failed");
        }
      }
    },
  };
}

// The platform packages (bot/) load only when their platform is configured (discord.js is large).

/** The Discord/GitHub renderers, when either platform is configured. */
export async function platformNotifier(config: Config, store: Store, log: Logger): Promise<PlatformNotifier | undefined> {
  if (!config.discord && !config.github) return undefined;
  const { createPlatformNotifier } = await import("../../bot/notifier.js");
  return createPlatformNotifier({ discord: config.discord, github: config.github, store, log });
}

async function platformApps(config: Config, jobs: JobService, log: Logger): Promise<{ discord?: Hono; github?: Hono }> {
  const apps: { discord?: Hono; github?: Hono } = {};
  if (!config.discord && !config.github) return apps;
  // One set of limits for every frontend, so a user's rate and concurrency count across platforms.
  const { createLimits } = await import("../../bot/limits.js");
  const limits = createLimits(config.limits, { jobs });
  if (config.discord) {
    const { createDiscordApp } = await import("../../bot/discord/app.js");
    apps.discord = createDiscordApp({ config: config.discord, jobs, log, limits });
  }
  if (config.github) {
    const { createGitHubApp } = await import("../../bot/github/app.js");
    apps.github = createGitHubApp({ config: config.github, jobs, log, limits });
  }
  return apps;
}

export interface Ingress {
  app: Hono;
  jobs: JobService;
  core: Core;
  notifier?: PlatformNotifier;
}

/** The ingress app over the configured drivers (Lambda, serve). `console: false` leaves out the
 * web console and its API (the public Lambda URL: the console has no login). */
export async function buildIngress(config: Config, log: Logger, core?: Core, opts: { console?: boolean } = {}): Promise<Ingress> {
  core ??= await openCore(config);
  const notifier = await platformNotifier(config, core.store, log);
  const jobs = createJobService({ queue: core.queue, store: core.store, events: notifier });
  const apps = await platformApps(config, jobs, log);
  const app = createIngressApp({
    jobs,
    store: core.store,
    queue: core.queue,
    models: config.models,
    serveFiles: config.store.driver === "local",
    console: opts.console ?? true,
    log,
    ...apps,
  });
  return { app, jobs, core, notifier };
}

export type WorkerTuning = Partial<
  Pick<
    WorkerOptions,
    | "graceMs"
    | "visibilityTimeoutS"
    | "heartbeatIntervalS"
    | "waitSeconds"
    | "idleDelayMs"
    | "progressIntervalMs"
    | "cancelPollMs"
    | "retryDelaySeconds"
    | "maxResidentModels"
    | "preload"
  >
>;

export function workerFor(config: Config, core: Core, events: JobEvents, log: Logger, tuning: WorkerTuning = {}): Worker {
  return createWorker({
    queue: core.queue,
    store: core.store,
    events,
    encoder: createVideoEncoder(),
    models: config.models,
    // In the cloud each model has its own SQS queue (infra/lib/stack.ts); the embedded queue is shared.
    filterByModel: config.queue.driver === "sqlite",
    modelsDir: config.modelsDir,
    backend: config.backend,
    textEncoderWeights: config.textEncoderWeights,
    log,
    ...tuning,
  });
}

export interface LocalStack {
  url: string;
  jobs: JobService;
  core: Core;
  worker?: Worker;
  /** Stop the worker (grace), the server and the queue, in that order. */
  close(opts?: { graceMs?: number }): Promise<void>;
}

/** `turbowan serve`: ingress + worker + embedded queue + store in this process. */
export async function startLocalStack(
  config: Config,
  opts: { log: Logger; hostname?: string; worker?: boolean; tuning?: WorkerTuning },
): Promise<LocalStack> {
  if (config.port === 0) {
    // Result URLs must name the real port, and the store is built before the server listens.
    const port = await freePort(opts.hostname ?? "127.0.0.1");
    config = { ...config, port, ...(config.publicUrlExplicit ? {} : { publicUrl: `http://localhost:${port}` }) };
  }
  const core = await openCore(config, { visibilityTimeoutS: opts.tuning?.visibilityTimeoutS });
  const ingress = await buildIngress(config, opts.log, core);
  // The worker reports through the job service: subscribers (console SSE) and platform renderers.
  const worker = opts.worker === false ? undefined : workerFor(config, core, ingress.jobs.events, opts.log, opts.tuning);
  const server = await listen(ingress.app, { port: config.port, hostname: opts.hostname });
  worker?.start();
  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    jobs: ingress.jobs,
    core,
    worker,
    close(closeOpts = {}) {
      closing ??= (async () => {
        await worker?.stop(closeOpts);
        await ingress.notifier?.idle();
        await server.close();
        await core.close();
      })();
      return closing;
    },
  };
}

function freePort(hostname: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, hostname, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
