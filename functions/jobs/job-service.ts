// JobService over a Queue and a Store: the one implementation every frontend uses.
import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Queue } from "../queue/queue.js";
import type { Store } from "../store/store.js";
import { newJobId, randomSeed } from "./ids.js";
import { InvalidImageError, validateImage } from "./image.js";
import { describeValidationError, jobRequestSchema } from "./model.js";
import type { JobEvent, JobEvents, JobRecord, JobRequestInput } from "./model.js";
import { cancelMarker, markCancelled, TERMINAL, UNKNOWN_CANCELLER } from "./records.js";
import { JobRejectedError } from "./service.js";
import type { JobService, SubmitResult } from "./service.js";

export interface JobServiceOptions {
  queue: Queue;
  store: Store;
  /** Platform renderers (Discord, GitHub): every event also goes here, after the subscribers. */
  events?: JobEvents;
  now?: () => Date;
}

export const idempotencyMarker = (key: string) =>
  `idempotency/${createHash("sha256").update(key).digest("hex")}`;

export function createJobService(options: JobServiceOptions): JobService {
  const { queue, store } = options;
  const now = options.now ?? (() => new Date());
  const emitter = new EventEmitter();
  // The web console may hold many SSE connections; each subscribes once.
  emitter.setMaxListeners(0);

  const events: JobEvents = {
    async emit(event: JobEvent) {
      emitter.emit("event", event);
      await options.events?.emit(event);
    },
  };
  const ctx = { store, events, now };

  async function submit(input: JobRequestInput): Promise<SubmitResult> {
    const parsed = jobRequestSchema.safeParse(input);
    if (!parsed.success) throw new JobRejectedError(describeValidationError(parsed.error), "invalid");
    const request = parsed.data;

    const existing = await findByIdempotencyKey(request.idempotencyKey);
    if (existing) return { job: existing, created: false };

    if (request.imageKey && !(await store.exists(request.imageKey))) {
      throw new JobRejectedError("The input image was not found; upload it again.", "invalid");
    }

    const id = newJobId(now().getTime());
    // Claim the key before writing anything else: of two racing submits only one enqueues.
    const won = await store.setMarker(idempotencyMarker(request.idempotencyKey), id, { ifAbsent: true });
    if (!won) {
      const winner = await waitForWinner(request.idempotencyKey);
      if (winner) return { job: winner, created: false };
      throw new JobRejectedError("This request is already being submitted; try again in a moment.", "limit");
    }

    const at = now().toISOString();
    const record: JobRecord = {
      id,
      request,
      status: "queued",
      // Recorded now so a retry, or a "same seed again" button, reproduces the video.
      seed: request.options.seed ?? randomSeed(),
      timingsMs: {},
      artifacts: {},
      attempts: 0,
      createdAt: at,
      updatedAt: at,
    };
    record.request.options.seed = record.seed;
    await store.putRecord(record);
    try {
      await queue.send({ jobId: id, model: request.options.model });
    } catch (err) {
      // Without a message the job would wait forever, and its key would keep returning it: fail
      // the record and free the key so the frontend's retry creates a fresh job.
      record.status = "failed";
      record.error = "The job could not be queued; try again.";
      record.finishedAt = record.updatedAt = now().toISOString();
      await store.putRecord(record).catch(() => {});
      await store.deleteMarker(idempotencyMarker(request.idempotencyKey)).catch(() => {});
      throw err;
    }
    const position = await queuePosition();
    await events.emit({ type: "queued", job: record, ...(position ? { position } : {}) });
    return { job: record, created: true, ...(position ? { position } : {}) };
  }

  async function findByIdempotencyKey(key: string): Promise<JobRecord | undefined> {
    const id = await store.getMarker(idempotencyMarker(key));
    return id ? store.getRecord(id) : undefined;
  }

  // The winner of a race writes its record right after claiming the key.
  async function waitForWinner(key: string): Promise<JobRecord | undefined> {
    for (let i = 0; i < 20; i++) {
      const record = await findByIdempotencyKey(key);
      if (record) return record;
      await new Promise((r) => setTimeout(r, 50));
    }
    return undefined;
  }

  async function queuePosition(): Promise<number | undefined> {
    try {
      const stats = await queue.stats();
      return stats.visible + stats.delayed || undefined;
    } catch {
      return undefined; // position is a nicety; never fail a submit over it
    }
  }

  async function cancel(id: string, by?: string): Promise<JobRecord | undefined> {
    const record = await store.getRecord(id);
    if (!record) return undefined;
    if (TERMINAL.has(record.status)) return record;
    // The marker first: a worker that picks the job up right now sees it before it starts.
    await store.setMarker(cancelMarker(id), by ?? UNKNOWN_CANCELLER);
    if (record.status === "queued") {
      // The queue message stays; the worker acks it when it finds the job cancelled.
      return markCancelled(ctx, id, by);
    }
    // Running: the worker owns the record now (writing it here could undo its markSucceeded), so
    // only the marker is written; the worker records the cancel when it stops.
    return { ...record, cancelRequestedAt: now().toISOString(), ...(by ? { cancelledBy: by } : {}) };
  }

  async function putInputImage(bytes: Uint8Array, _contentType?: string): Promise<string> {
    let image;
    try {
      image = await validateImage(bytes);
    } catch (err) {
      if (err instanceof InvalidImageError) throw new JobRejectedError(err.message, "invalid");
      throw err;
    }
    // Content-addressed: uploading the same image twice stores it once.
    const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 32);
    const key = `inputs/${digest}.${image.extension}`;
    if (!(await store.exists(key))) await store.putArtifact(key, bytes, image.contentType);
    return key;
  }

  return {
    submit,
    get: (id) => store.getRecord(id),
    list: (filter) => store.listRecords(filter),
    cancel,
    putInputImage,
    subscribe(listener) {
      // A failing subscriber (a closed SSE stream) must not break the worker that emitted.
      const safe = (event: JobEvent) => {
        try {
          listener(event);
        } catch {
          /* the subscriber's problem */
        }
      };
      emitter.on("event", safe);
      return () => emitter.off("event", safe);
    },
    events,
  };
}
