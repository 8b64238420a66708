// Record updates the worker makes while it runs a job, each followed by the matching JobEvent.
// They live here (not in the worker) so every writer of a JobRecord follows the same state rules:
//   queued → running → succeeded | failed | cancelled;  running → queued (retry);  queued → cancelled.
// A running job is owned by one worker (its queue lease), so read-modify-write is safe; the one
// write from elsewhere, a cancel request, goes to a separate marker (cancelMarker) so a progress
// update cannot overwrite it.
import type { Store } from "../store/store.js";
import type { JobArtifacts, JobEvent, JobEvents, JobProgress, JobRecord } from "./model.js";

export interface RecordContext {
  store: Store;
  /** Where events go (JobService.events); optional so tools can update records silently. */
  events?: JobEvents;
  now?: () => Date;
}

export const TERMINAL: ReadonlySet<JobRecord["status"]> = new Set(["succeeded", "failed", "cancelled"]);

export class JobNotFoundError extends Error {
  constructor(id: string) {
    super(`Job ${id} has no record in the store; it was deleted or the store is not the one the queue belongs to.`);
    this.name = "JobNotFoundError";
  }
}

/** The job already finished; a redelivered message for it must only be acknowledged. */
export class JobFinishedError extends Error {
  constructor(readonly record: JobRecord) {
    super(`Job ${record.id} is already ${record.status}.`);
    this.name = "JobFinishedError";
  }
}

export const cancelMarker = (id: string) => `cancel/${id}`;
/** Marker value when a cancel came without a name. */
export const UNKNOWN_CANCELLER = "unknown";

async function update(
  ctx: RecordContext,
  id: string,
  change: (r: JobRecord, now: string) => void,
  allowTerminal = false,
): Promise<JobRecord> {
  const record = await ctx.store.getRecord(id);
  if (!record) throw new JobNotFoundError(id);
  if (!allowTerminal && TERMINAL.has(record.status)) throw new JobFinishedError(record);
  const now = (ctx.now?.() ?? new Date()).toISOString();
  change(record, now);
  record.updatedAt = now;
  await ctx.store.putRecord(record);
  return record;
}

async function emit(ctx: RecordContext, event: JobEvent): Promise<void> {
  await ctx.events?.emit(event);
}

/** Start (or restart after a redelivery) a job. Throws JobFinishedError when it already finished. */
export async function markRunning(ctx: RecordContext, id: string): Promise<JobRecord> {
  const record = await update(ctx, id, (r, now) => {
    r.status = "running";
    r.attempts += 1;
    r.startedAt ??= now;
    r.progress = { stage: "load", step: 0, total: 0 };
    delete r.error;
  });
  await emit(ctx, { type: "started", job: record });
  return record;
}

/** Progress and, optionally, the wall time of stages finished so far (merged into timingsMs). */
export async function updateProgress(
  ctx: RecordContext,
  id: string,
  progress: JobProgress,
  timingsMs?: Record<string, number>,
): Promise<JobRecord> {
  const record = await update(ctx, id, (r) => {
    r.progress = progress;
    if (timingsMs) Object.assign(r.timingsMs, timingsMs);
  });
  await emit(ctx, { type: "progress", job: record, progress });
  return record;
}

export async function markSucceeded(
  ctx: RecordContext,
  id: string,
  artifacts: JobArtifacts,
  timingsMs?: Record<string, number>,
): Promise<JobRecord> {
  const record = await update(ctx, id, (r, now) => {
    r.status = "succeeded";
    r.artifacts = { ...r.artifacts, ...artifacts };
    if (timingsMs) Object.assign(r.timingsMs, timingsMs);
    r.finishedAt = now;
    delete r.progress;
  });
  await announceSucceeded(ctx, record);
  return record;
}

/** Emit "succeeded" again for a finished job (a redelivered message whose result exists). */
export async function announceSucceeded(ctx: RecordContext, record: JobRecord): Promise<void> {
  if (!record.artifacts.video) throw new Error(`Job ${record.id} succeeded without a video artifact; cannot announce it.`);
  const urls: { video: string; poster?: string; preview?: string } = {
    video: await ctx.store.url(record.artifacts.video),
  };
  if (record.artifacts.poster) urls.poster = await ctx.store.url(record.artifacts.poster);
  if (record.artifacts.preview) urls.preview = await ctx.store.url(record.artifacts.preview);
  await emit(ctx, { type: "succeeded", job: record, urls });
}

/** retryable=true puts the job back to "queued" (the worker releases the message for a delayed
 * retry); false makes the failure final. */
export async function markFailed(
  ctx: RecordContext,
  id: string,
  error: string,
  options: { retryable?: boolean } = {},
): Promise<JobRecord> {
  const retryable = options.retryable ?? false;
  const record = await update(ctx, id, (r, now) => {
    r.error = error;
    delete r.progress;
    if (retryable) {
      r.status = "queued";
    } else {
      r.status = "failed";
      r.finishedAt = now;
    }
  });
  await emit(ctx, { type: "failed", job: record, error, retryable });
  return record;
}

/** Final state for a job the worker stopped (or never started) because a cancel was requested. */
export async function markCancelled(ctx: RecordContext, id: string, by?: string): Promise<JobRecord> {
  // Who asked is in the cancel marker when the service set it.
  const asked = await ctx.store.getMarker(cancelMarker(id));
  if (asked && asked !== UNKNOWN_CANCELLER) by ??= asked;
  const record = await update(ctx, id, (r, now) => {
    r.status = "cancelled";
    r.finishedAt = now;
    r.cancelRequestedAt ??= now;
    if (by) r.cancelledBy ??= by;
    delete r.progress;
  });
  await emit(ctx, { type: "cancelled", job: record });
  return record;
}

/** Checked by the worker between steps (cheap: one marker read). */
export async function isCancelRequested(ctx: Pick<RecordContext, "store">, id: string): Promise<boolean> {
  return (await ctx.store.getMarker(cancelMarker(id))) !== undefined;
}
