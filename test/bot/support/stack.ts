// The real job platform for the frontend suites: job service over the embedded SQLite queue and
// the local directory store in a temp dir, plus a stand-in GPU that takes the queued message and
// walks the job through the same record helpers the worker uses (running → progress → result).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createJobService } from "../../../functions/jobs/job-service.js";
import type { JobEvent, JobEvents, JobRecord } from "../../../functions/jobs/model.js";
import { markFailed, markRunning, markSucceeded, updateProgress } from "../../../functions/jobs/records.js";
import type { JobService } from "../../../functions/jobs/service.js";
import { SqliteQueue } from "../../../functions/queue/sqlite.js";
import { LocalStore } from "../../../functions/store/local.js";

export const PUBLIC_URL = "http://turbowan.test";

export interface Stack {
  jobs: JobService;
  store: LocalStore;
  queue: SqliteQueue;
  events: JobEvent[];
  setSink(sink: JobEvents): void;
  /** Receives the next queued job and runs it to the end. */
  runNext(opts?: RunOptions): Promise<JobRecord>;
  queuedCount(): Promise<number>;
  close(): Promise<void>;
}

export interface RunOptions {
  progressSteps?: number;
  /** Pause between progress events (ms). */
  stepDelayMs?: number;
  /** Before the result. */
  beforeResult?: () => Promise<void>;
  videoBytes?: number;
  smallVideoBytes?: number;
  fail?: { error: string; retryable: boolean };
}

export async function startStack(): Promise<Stack> {
  const dir = await mkdtemp(path.join(tmpdir(), "turbowan-bot-"));
  const queue = new SqliteQueue({ path: path.join(dir, "queue.sqlite") });
  const store = new LocalStore({ root: path.join(dir, "store"), publicUrl: PUBLIC_URL });
  const events: JobEvent[] = [];
  let sink: JobEvents | undefined;
  const jobs = createJobService({
    queue,
    store,
    events: {
      async emit(e) {
        events.push(e);
        await sink?.emit(e);
      },
    },
  });
  const ctx = { store, events: jobs.events };

  return {
    jobs,
    store,
    queue,
    events,
    setSink: (s) => (sink = s),
    async queuedCount() {
      const s = await queue.stats();
      return s.visible + s.inFlight + s.delayed;
    },
    async runNext(opts = {}) {
      const [msg] = await queue.receive({ max: 1 });
      if (!msg) throw new Error("stand-in GPU: nothing queued");
      const id = msg.body.jobId;
      await markRunning(ctx, id);
      const steps = opts.progressSteps ?? 4;
      for (let i = 1; i <= steps; i++) {
        await updateProgress(ctx, id, { stage: "denoise", step: i, total: steps });
        if (opts.stepDelayMs) await new Promise((r) => setTimeout(r, opts.stepDelayMs));
      }
      await opts.beforeResult?.();
      let record: JobRecord;
      if (opts.fail) {
        record = await markFailed(ctx, id, opts.fail.error, { retryable: opts.fail.retryable });
      } else {
        const video = `jobs/${id}/video.mp4`;
        const bytes = opts.videoBytes ?? 200_000;
        await store.putArtifact(video, Buffer.alloc(bytes, 7), "video/mp4");
        await store.putArtifact(`jobs/${id}/poster.png`, Buffer.from("png"), "image/png");
        const artifacts: Record<string, unknown> = { video, poster: `jobs/${id}/poster.png`, videoBytes: bytes };
        if (opts.smallVideoBytes) {
          await store.putArtifact(`jobs/${id}/video-small.mp4`, Buffer.alloc(opts.smallVideoBytes, 3), "video/mp4");
          Object.assign(artifacts, { videoSmall: `jobs/${id}/video-small.mp4`, videoSmallBytes: opts.smallVideoBytes });
        }
        record = await markSucceeded(ctx, id, artifacts);
      }
      await queue.ack(msg.receipt);
      return record;
    },
    async close() {
      await queue.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
