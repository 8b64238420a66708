// A real local job platform for worker tests: SQLite queue + local store under a temp dir, the job
// service, the real demo engine (CPU) and real ffmpeg. Records every event and every log line.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { createJobService } from "../../../functions/jobs/job-service.js";
import type { JobEvent, JobRecord, JobRequestInput } from "../../../functions/jobs/model.js";
import type { JobService } from "../../../functions/jobs/service.js";
import { createLogger } from "../../../functions/log.js";
import { SqliteQueue } from "../../../functions/queue/sqlite.js";
import { LocalStore } from "../../../functions/store/local.js";
import { createVideoEncoder } from "../../../functions/worker/encoder.js";
import { createWorker, type Worker, type WorkerOptions } from "../../../functions/worker/worker.js";


/** Small enough to run in about a second on a laptop CPU with the demo model. */
export const TINY = { model: "demo", frames: 5, steps: 1, resolution: "480p", aspectRatio: "16:9" } as const;

export interface Harness {
  dir: string;
  dataDir: string;
  /** The demo model is written here on first use (per harness: suites run in parallel). */
  modelsDir: string;
  queue: SqliteQueue;
  store: LocalStore;
  jobs: JobService;
  events: (JobEvent & { at: number })[];
  logs: Record<string, unknown>[];
  log: ReturnType<typeof createLogger>;
  workers: Worker[];
  worker(extra?: Partial<WorkerOptions>): Worker;
  submit(extra?: Partial<JobRequestInput> & { options?: Record<string, unknown> }): Promise<JobRecord>;
  waitFor(id: string, statuses: JobRecord["status"][], timeoutMs?: number): Promise<JobRecord>;
  eventsOf(id: string, type?: JobEvent["type"]): (JobEvent & { at: number })[];
  close(): Promise<void>;
}

let counter = 0;

export async function createHarness(opts: { visibilityTimeoutS?: number } = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "tw-worker-"));
  const dataDir = path.join(dir, "data");
  const modelsDir = path.join(dir, "models");
  mkdirSync(modelsDir, { recursive: true });
  // The same layout as loadConfig({ TURBOWAN_DATA_DIR: dataDir }), so a CLI child process shares it.
  const queue = new SqliteQueue({ path: path.join(dataDir, "queue.sqlite"), visibilityTimeoutSeconds: opts.visibilityTimeoutS ?? 2, pollIntervalMs: 20 });
  const store = new LocalStore({ root: path.join(dataDir, "store"), publicUrl: "http://tw.test" });
  const jobs = createJobService({ queue, store });
  const events: (JobEvent & { at: number })[] = [];
  jobs.subscribe((e) => events.push({ ...e, at: Date.now() }));
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n")) if (line.trim()) logs.push(JSON.parse(line));
      cb();
    },
  });
  const log = createLogger({ level: "debug", destination: sink });
  const workers: Worker[] = [];

  const h: Harness = {
    dir,
    dataDir,
    modelsDir,
    queue,
    store,
    jobs,
    events,
    logs,
    log,
    workers,
    worker(extra = {}) {
      const w = createWorker({
        queue,
        store,
        events: jobs.events,
        encoder: createVideoEncoder(),
        models: ["demo"],
        modelsDir,
        backend: "cpu",
        log,
        visibilityTimeoutS: opts.visibilityTimeoutS ?? 2,
        heartbeatIntervalS: 0.5,
        waitSeconds: 0.2,
        progressIntervalMs: 500,
        cancelPollMs: 100,
        retryDelaySeconds: 0,
        graceMs: 10_000,
        ...extra,
      });
      workers.push(w);
      return w;
    },
    async submit(extra = {}) {
      const { options, ...rest } = extra;
      const { job } = await jobs.submit({
        kind: "t2v",
        prompt: "a red fox running through fresh snow",
        options: { ...TINY, ...options },
        replyTo: { platform: "cli" },
        requester: { platform: "cli", id: "test" },
        idempotencyKey: `test-${process.pid}-${++counter}-${Date.now()}`,
        ...rest,
      } as JobRequestInput);
      return job;
    },
    async waitFor(id, statuses, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const r = await store.getRecord(id);
        if (r && statuses.includes(r.status)) return r;
        if (Date.now() > until) throw new Error(`job ${id} is ${r?.status} (${r?.error ?? "no error"}), not ${statuses.join("/")}, after ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 25));
      }
    },
    eventsOf(id, type) {
      return events.filter((e) => e.job.id === id && (!type || e.type === type));
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop({ graceMs: 0 })));
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
