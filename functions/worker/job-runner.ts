// Runs one job from a queue message: the worker's per-message handler.
//   load record → cancelled? ack → already done? re-announce, ack → markRunning → generate (progress,
//   cancel) → encode mp4 + poster + preview → store → markSucceeded (emits succeeded) → ack.
// At-least-once safe: artifact keys are fixed per job, so a redelivery after a crash between
// "stored" and "acked" finds the result and only announces it again.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import type { FrameChunk, GenerateRequest, GeneratedVideo, Progress } from "../../native/src/types.js";
import { JOB_ID } from "../jobs/ids.js";
import type { JobArtifacts, JobEvents, JobProgress, JobRecord } from "../jobs/model.js";
import {
  announceSucceeded,
  isCancelRequested,
  JobFinishedError,
  JobNotFoundError,
  markCancelled,
  markFailed,
  markRunning,
  markSucceeded,
  updateProgress,
  type RecordContext,
} from "../jobs/records.js";
import { MAX_RECEIVES } from "../queue/constants.js";
import type { ReceivedMessage } from "../queue/queue.js";
import { contentTypeFor, type Store } from "../store/store.js";
import type { AbortReason, Disposition, HandlerContext } from "./consumer.js";
import type { EnginePool } from "./engine-pool.js";
import { classifyEngineError } from "./errors.js";

/** Encodes generated frames into files in `dir` (functions/media does the work). Poster and
 * preview file names end in their format's extension. */
export interface VideoEncoder {
  encode(
    video: GeneratedVideo,
    dir: string,
    opts: { maxBytes?: number; signal?: AbortSignal; streamed?: StreamedVideo; preview?: boolean },
  ): Promise<EncodedFiles>;
  /** Optional: an mp4 encode in `dir` fed by the engine's decoded chunks while later ones still
   * decode (pipelined); encode() then keeps its file or, failing that, encodes again. */
  stream?(dir: string, opts?: { signal?: AbortSignal }): StreamedVideo;
}

export interface EncodedFiles {
  video: string;
  poster?: string;
  preview?: string;
  /** What the mp4 encode did, for the job's log. */
  summary?: string;
  /** Why the streamed encode was not used (then the mp4 was encoded again from the frames). */
  notes?: string[];
  /** The mp4 is the one encoded during the decode. */
  streamed?: boolean;
  /** ms from the start of encode() (generate() had returned) to the mp4 being complete. */
  mp4Ms?: number;
}

/** An encode running while the engine decodes (its chunks, sample after sample); encode() takes it over. */
export interface StreamedVideo {
  onFrames(chunk: FrameChunk): void;
  /** generate() returned `frames` frames for the mp4: waits a bounded time for chunks still on
   * their way, ends ffmpeg's input and says whether the file is complete and usable. */
  finish(frames: number): Promise<StreamOutcome>;
  /** Kills ffmpeg and deletes its partial file; resolves once ffmpeg has exited. A no-op after a
   * successful finish(). */
  abort(reason?: string): Promise<void>;
}

export type StreamOutcome =
  | { ok: true; file: string; bytes: number; width: number; height: number; fps: number; attempt: { setting: string; bytes: number }; summary: string }
  | { ok: false; why: string };

/** Fixed artifact keys per job: a redelivery writes (or finds) the same objects. Poster and
 * preview keep the extension of their format (jpg|png, webp|gif). */
export const artifactKeys = (jobId: string) => ({
  video: `videos/${jobId}/video.mp4`,
  poster: (ext = "jpg") => `videos/${jobId}/poster.${ext}`,
  preview: (ext = "webp") => `videos/${jobId}/preview.${ext}`,
});
const POSTER_EXTS = ["jpg", "png"];
const PREVIEW_EXTS = ["webp", "gif"];

export interface JobRunnerOptions {
  store: Store;
  events: JobEvents;
  pool: EnginePool;
  encoder: VideoEncoder;
  /** Loads an I2V input image as RGB8. */
  loadImage: (bytes: Uint8Array) => Promise<{ data: Uint8Array; width: number; height: number }>;
  log: Logger;
  /** At most one progress event per job per this many ms (stage changes always go out). Default 500. */
  progressIntervalMs?: number;
  /** How often a running job checks for a cancel request. Default 1000. */
  cancelPollMs?: number;
  /** Delay before a retryable failure is retried. Default 30 s. */
  retryDelaySeconds?: number;
  maxReceives?: number;
  tmpDir?: string;
  now?: () => Date;
}

class Cancelled extends Error {}

export function createJobRunner(opts: JobRunnerOptions) {
  const ctx: RecordContext = { store: opts.store, events: opts.events, now: opts.now };
  const progressIntervalMs = opts.progressIntervalMs ?? 500;
  const cancelPollMs = opts.cancelPollMs ?? 1000;
  const maxReceives = opts.maxReceives ?? MAX_RECEIVES;

  return async function runJob(message: ReceivedMessage, hctx: HandlerContext): Promise<Disposition> {
    const jobId = message.body?.jobId;
    const log = opts.log.child({ jobId, messageId: message.id, receiveCount: message.receiveCount });
    if (typeof jobId !== "string" || !JOB_ID.test(jobId)) {
      // Not ours (a stray or hand-made message): retrying cannot help.
      log.error({ body: message.body }, "message without a valid job id; dropping it");
      return { action: "ack" };
    }
    const record = await opts.store.getRecord(jobId);
    if (!record) {
      log.error(new JobNotFoundError(jobId).message);
      return { action: "ack" };
    }
    if (record.status === "cancelled" || record.status === "failed") {
      log.info({ status: record.status }, "job already finished; acknowledging");
      return { action: "ack" };
    }
    if (record.status === "succeeded") {
      log.info("redelivered finished job: announcing the stored result again");
      await announceSucceeded(ctx, record);
      return { action: "ack" };
    }
    if (await isCancelRequested(ctx, jobId)) {
      log.info("cancelled before it started");
      await markCancelled(ctx, jobId).catch(ignoreFinished);
      return { action: "ack" };
    }
    // A previous attempt may have stored everything and died before recording it.
    const keys = artifactKeys(jobId);
    if (await opts.store.exists(keys.video)) {
      const stored = await existingArtifacts(opts.store, keys);
      if (stored) {
        log.info("result already stored by an earlier attempt: recording and announcing it");
        await markSucceeded(ctx, jobId, stored).catch(ignoreFinished);
        return { action: "ack" };
      }
    }

    let running: JobRecord;
    try {
      running = await markRunning(ctx, jobId);
    } catch (err) {
      if (err instanceof JobFinishedError) return { action: "ack" };
      throw err;
    }
    log.info({ attempt: running.attempts, model: running.request.options.model }, "job started");

    const cancel = new AbortController();
    const signal = AbortSignal.any([hctx.signal, cancel.signal]);
    const cancelPoll = setInterval(() => {
      isCancelRequested(ctx, jobId).then(
        (yes) => {
          if (yes && !cancel.signal.aborted) {
            log.info("cancel requested: stopping at the next step");
            cancel.abort("cancelled");
          }
        },
        (err) => log.warn({ err }, "could not check for a cancel request"),
      );
    }, cancelPollMs);
    const progress = progressReporter(ctx, jobId, progressIntervalMs, log);
    const workDir = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), `turbowan-${jobId}-`));
    const timings: Record<string, number> = {};
    const started = Date.now();
    // Where a failure happened decides whether a retry can help (see settleFailure).
    let phase: "generate" | "store" = "generate";
    // The mp4 encode starts with the first decoded chunk and runs alongside the rest of the decode.
    const streamed = opts.encoder.stream?.(workDir, { signal });
    try {
      const video = await generate(running, signal, progress.report, timings, log, streamed);
      if (signal.aborted) throw new Cancelled();
      progress.report({ stage: "encode-video", step: 0, total: 1 });
      let t = Date.now();
      const maxBytes = running.request.replyTo.platform === "discord" ? running.request.replyTo.attachmentSizeLimit : undefined;
      // The animated preview is shown only in GitHub comments (bot/github/render.ts; elsewhere the
      // mp4 plays inline). It costs ~2 s of single-threaded GIF work at 480p, so only jobs that
      // answer on GitHub wait for it.
      const preview = running.request.replyTo.platform === "github";
      const files = await opts.encoder.encode(video, workDir, { maxBytes, signal, preview, ...(streamed ? { streamed } : {}) });
      timings["encode-video"] = Date.now() - t;
      if (files.mp4Ms !== undefined) timings["mp4-after-decode"] = files.mp4Ms;
      if (files.notes?.length) log.warn({ notes: files.notes, mp4: files.summary }, "streamed encode not used: the mp4 was encoded again from the frames");
      else log.info({ mp4: files.summary, streamed: files.streamed ?? false }, "video encoded");
      if (signal.aborted) throw new Cancelled();
      progress.report({ stage: "upload", step: 0, total: 1 });
      phase = "store";
      t = Date.now();
      const artifacts = await upload(opts.store, keys, files);
      timings.upload = Date.now() - t;
      timings.total = Date.now() - started;
      await progress.flush();
      await markSucceeded(ctx, jobId, artifacts, timings);
      log.info({ timingsMs: timings, bytes: artifacts.videoBytes }, "job succeeded");
      return { action: "ack" };
    } catch (err) {
      await progress.flush();
      return await settleFailure(err, phase, signal, cancel.signal, hctx.signal, running, message, log);
    } finally {
      clearInterval(cancelPoll);
      progress.stop();
      // Failed, cancelled or shut down mid-stream: ffmpeg must be gone before its folder is.
      await streamed?.abort("the job ended").catch(() => undefined);
      await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    }
  };

  async function generate(
    record: JobRecord,
    signal: AbortSignal,
    onProgress: (p: JobProgress) => void,
    timings: Record<string, number>,
    log: Logger,
    streamed?: StreamedVideo,
  ): Promise<GeneratedVideo> {
    const o = record.request.options;
    onProgress({ stage: "load", step: 0, total: 1 });
    const t = Date.now();
    const lease = await opts.pool.acquire(o.model, log);
    timings.load = Date.now() - t;
    try {
      if (signal.aborted) throw new Cancelled();
      const req: GenerateRequest = {
        prompt: record.request.prompt,
        resolution: o.resolution,
        aspectRatio: o.aspectRatio,
        frames: o.frames,
        steps: o.steps,
        seed: record.seed,
        ode: o.ode,
        attention: o.attention,
        topk: o.topk,
        onProgress: (p: Progress) => onProgress({ stage: p.stage, step: p.step, total: p.total }),
        signal,
        ...(streamed ? { onFrames: (c: FrameChunk) => streamed.onFrames(c) } : {}),
      };
      if (o.sigmaMax !== undefined) req.sigmaMax = o.sigmaMax;
      if (record.request.kind === "i2v" && record.request.imageKey) {
        const image = await opts.store.getArtifact(record.request.imageKey);
        if (!image) throw new Error("The input image is no longer in the store; submit the job again with the image.");
        req.image = await opts.loadImage(image.data);
        req.adaptiveResolution = true;
      }
      const video = await lease.pipeline.generate(req);
      Object.assign(timings, video.timingsMs);
      log.debug({ frames: video.numFrames, width: video.width, height: video.height }, "generated");
      return video;
    } finally {
      lease.release();
    }
  }

  async function settleFailure(
    err: unknown,
    phase: "generate" | "store",
    signal: AbortSignal,
    cancelSignal: AbortSignal,
    workerSignal: AbortSignal,
    record: JobRecord,
    message: ReceivedMessage,
    log: Logger,
  ): Promise<Disposition> {
    if (signal.aborted) {
      if (cancelSignal.aborted) {
        await markCancelled(ctx, record.id).catch(ignoreFinished);
        log.info("job cancelled");
        return { action: "ack" };
      }
      const reason = workerSignal.reason as AbortReason;
      if (reason === "lease-lost") {
        // Another worker owns the message now; it will finish the job. Touch nothing.
        log.warn("stopped after losing the lease");
        return { action: "none" };
      }
      log.warn("worker shutting down: job released back to the queue");
      await markFailed(ctx, record.id, "The worker shut down during this job; it will run again.", { retryable: true }).catch(
        ignoreFinished,
      );
      return { action: "release", delaySeconds: 0 };
    }
    // The store failing (S3 down, disk full) says nothing about the job: try again later; the
    // next attempt finds whatever was uploaded already.
    const failure =
      phase === "store"
        ? { kind: "store", retryable: true, message: `Saving the result failed: ${String((err as Error)?.message ?? err).split("\n")[0]}` }
        : classifyEngineError(err);
    const lastAttempt = message.receiveCount >= maxReceives;
    const retryable = failure.retryable && !lastAttempt;
    log.error({ err, retryable, kind: failure.kind }, "job failed");
    await markFailed(ctx, record.id, failure.message, { retryable }).catch(ignoreFinished);
    return retryable ? { action: "release", delaySeconds: opts.retryDelaySeconds ?? 30 } : { action: "ack" };
  }
}

function ignoreFinished(err: unknown): undefined {
  if (err instanceof JobFinishedError) return undefined;
  throw err;
}

async function existingArtifacts(store: Store, keys: ReturnType<typeof artifactKeys>): Promise<JobArtifacts | undefined> {
  const video = await store.readStream(keys.video, { start: 0, end: 0 });
  if (!video) return undefined;
  video.stream.destroy();
  const artifacts: JobArtifacts = { video: keys.video, videoBytes: video.bytes };
  for (const ext of POSTER_EXTS) if (!artifacts.poster && (await store.exists(keys.poster(ext)))) artifacts.poster = keys.poster(ext);
  for (const ext of PREVIEW_EXTS) if (!artifacts.preview && (await store.exists(keys.preview(ext)))) artifacts.preview = keys.preview(ext);
  return artifacts;
}

/** Poster and preview first, the video last: the video's presence means the result is complete. */
async function upload(
  store: Store,
  keys: ReturnType<typeof artifactKeys>,
  files: { video: string; poster?: string; preview?: string },
): Promise<JobArtifacts> {
  const artifacts: JobArtifacts = {};
  const ext = (file: string) => path.extname(file).slice(1).toLowerCase().replace("jpeg", "jpg");
  if (files.poster) {
    const key = keys.poster(ext(files.poster));
    await store.putArtifact(key, { file: files.poster }, contentTypeFor(key));
    artifacts.poster = key;
  }
  if (files.preview) {
    const key = keys.preview(ext(files.preview));
    await store.putArtifact(key, { file: files.preview }, contentTypeFor(key));
    artifacts.preview = key;
  }
  const info = await store.putArtifact(keys.video, { file: files.video }, "video/mp4");
  artifacts.video = keys.video;
  artifacts.videoBytes = info.bytes;
  return artifacts;
}

/**
 * Throttles progress: a stage change always goes out, otherwise at most one update per interval.
 * Updates are chained so records are written in order; the latest skipped update goes out when
 * the interval ends, so the last step of a stage is not lost.
 */
export function progressReporter(ctx: RecordContext, jobId: string, intervalMs: number, log: Logger) {
  let chain: Promise<unknown> = Promise.resolve();
  let lastSent = 0;
  let lastStage: string | undefined;
  let pending: JobProgress | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const send = (p: JobProgress) => {
    lastSent = Date.now();
    lastStage = p.stage;
    chain = chain
      .then(() => updateProgress(ctx, jobId, p))
      .catch((err) => {
        if (!(err instanceof JobFinishedError)) log.warn({ err }, "could not record progress");
      });
  };

  return {
    report(p: JobProgress) {
      if (stopped) return;
      if (p.stage !== lastStage || Date.now() - lastSent >= intervalMs) {
        clearTimeout(timer);
        timer = undefined;
        pending = undefined;
        send(p);
        return;
      }
      pending = p;
      timer ??= setTimeout(() => {
        timer = undefined;
        if (pending && !stopped) send(pending);
        pending = undefined;
      }, intervalMs - (Date.now() - lastSent));
    },
    /** Stops taking updates, drops any pending one and waits for those already written: a
     * terminal state follows, and a late engine callback must not write over it. */
    async flush() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      pending = undefined;
      await chain;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
