// The GPU worker: a queue consumer whose handler runs jobs on warm engine pipelines.
// Knows the JobEvents interface only; the entry point decides where events go.
import type { Logger } from "pino";
import sharp from "sharp";
import type { ModelName } from "../../native/src/types.js";
import type { JobEvents } from "../jobs/model.js";
import type { Queue } from "../queue/queue.js";
import type { Store } from "../store/store.js";
import { silentLogger } from "../log.js";
import { Consumer } from "./consumer.js";
import { startDeadLetterSweeps } from "./dead-letters.js";
import { EnginePool, type EngineModule, type EnginePoolOptions } from "./engine-pool.js";
import { createJobRunner, type VideoEncoder } from "./job-runner.js";

export interface WorkerOptions {
  queue: Queue;
  store: Store;
  events: JobEvents;
  encoder: VideoEncoder;
  /** Models this worker serves. */
  models: ModelName[];
  /** Ask the queue for these models only (the embedded queue); false where the queue is already
   * one per model (SQS). Default true. */
  filterByModel?: boolean;
  /** An engine pool to share; otherwise one is made from modelsDir/backend. */
  pool?: EnginePool;
  modelsDir?: string;
  backend?: "auto" | "cpu" | "cuda";
  maxResidentModels?: number;
  /** umT5 weight format on the GPU (TURBOWAN_TEXT_ENCODER_WEIGHTS); "auto": int8 on cards under 40 GiB. */
  textEncoderWeights?: EnginePoolOptions["textEncoderWeights"];
  engine?: EngineModule | (() => Promise<EngineModule>);
  log?: Logger;
  /** How long SIGTERM/stop() lets the current job finish before releasing it. Default 60 s. */
  graceMs?: number;
  visibilityTimeoutS?: number;
  heartbeatIntervalS?: number;
  waitSeconds?: number;
  idleDelayMs?: number;
  progressIntervalMs?: number;
  cancelPollMs?: number;
  retryDelaySeconds?: number;
  tmpDir?: string;
  /** How often dead-lettered jobs are marked failed (ms). Default 60 s; 0 turns the sweep off. */
  deadLetterSweepMs?: number;
  /** Load the first of `models` as soon as start() is called, instead of when the first job comes,
   * so a fresh worker (a scale-up from zero) is warm before its first job. Default false. */
  preload?: boolean;
}

export interface Worker {
  readonly consumer: Consumer;
  readonly pool: EnginePool;
  start(): void;
  /** Settles when the preloaded model is ready (at once without preload); never rejects — a failed
   * preload is logged and the first job loads (and reports) again. */
  ready(): Promise<void>;
  /** Stop polling, let the current job finish within the grace period (else release it), unload models. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

export function createWorker(opts: WorkerOptions): Worker {
  const log = opts.log ?? silentLogger;
  const pool =
    opts.pool ??
    new EnginePool({
      modelsDir: opts.modelsDir ?? "./models",
      backend: opts.backend,
      maxResident: opts.maxResidentModels,
      textEncoderWeights: opts.textEncoderWeights,
      engine: opts.engine,
      log,
    });
  const handle = createJobRunner({
    store: opts.store,
    events: opts.events,
    pool,
    encoder: opts.encoder,
    loadImage: decodeRgb,
    log,
    progressIntervalMs: opts.progressIntervalMs,
    cancelPollMs: opts.cancelPollMs,
    retryDelaySeconds: opts.retryDelaySeconds,
    tmpDir: opts.tmpDir,
  });
  const consumer = new Consumer({
    queue: opts.queue,
    handle,
    models: opts.filterByModel === false ? undefined : opts.models,
    visibilityTimeoutS: opts.visibilityTimeoutS,
    heartbeatIntervalS: opts.heartbeatIntervalS,
    waitSeconds: opts.waitSeconds,
    idleDelayMs: opts.idleDelayMs,
    log,
  });
  let stopping: Promise<void> | undefined;
  let stopSweeps: (() => void) | undefined;
  const sweepMs = opts.deadLetterSweepMs ?? 60_000;
  let ready: Promise<void> | undefined;
  const preload = async (model: ModelName) => {
    const t = Date.now();
    try {
      (await pool.acquire(model, log)).release();
      // Cold start as a user of a fresh worker sees it: process start → model on the device.
      log.info({ model, loadMs: Date.now() - t, sinceProcessStartMs: Math.round(process.uptime() * 1000) }, "ready to generate");
    } catch (err) {
      log.warn({ model, err }, "preloading the model failed; the first job will try again");
    }
  };
  return {
    consumer,
    pool,
    start() {
      if (opts.preload && opts.models[0]) ready ??= preload(opts.models[0]);
      consumer.start();
      if (sweepMs > 0) stopSweeps ??= startDeadLetterSweeps(opts.queue, { store: opts.store, events: opts.events }, log, sweepMs);
    },
    ready: () => ready ?? Promise.resolve(),
    stop(stopOpts = {}) {
      stopSweeps?.();
      stopping ??= (async () => {
        await consumer.stop({ graceMs: stopOpts.graceMs ?? opts.graceMs ?? 60_000 });
        if (!opts.pool) await pool.close();
      })();
      return stopping;
    },
  };
}

/** An I2V input image as RGB8 (alpha flattened onto white). */
export async function decodeRgb(bytes: Uint8Array): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(bytes).flatten({ background: "#ffffff" }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}
