// Progress throttling: stage changes always go out, otherwise at most one update per interval,
// and the last update of a burst is not lost.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import type { JobEvent } from "../../../functions/jobs/model.js";
import { markRunning } from "../../../functions/jobs/records.js";
import { silentLogger } from "../../../functions/log.js";
import { LocalStore } from "../../../functions/store/local.js";
import { progressReporter } from "../../../functions/worker/job-runner.js";

let dir: string;
let store: LocalStore;
const events: JobEvent[] = [];

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "tw-progress-"));
  store = new LocalStore({ root: dir, publicUrl: "http://tw.test" });
  events.length = 0;
  const at = new Date().toISOString();
  await store.putRecord({
    id: "job1",
    request: {
      kind: "t2v",
      prompt: "p",
      options: { model: "demo", resolution: "480p", aspectRatio: "16:9", frames: 5, steps: 1, attention: "sagesla", topk: 0.1, ode: false },
      replyTo: { platform: "cli" },
      requester: { platform: "cli", id: "t" },
      idempotencyKey: "k",
    },
    status: "queued",
    seed: 1,
    timingsMs: {},
    artifacts: {},
    attempts: 0,
    createdAt: at,
    updatedAt: at,
  });
  await markRunning({ store }, "job1");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it("sends stage changes at once and at most one update per interval within a stage", async () => {
  const ctx = { store, events: { emit: async (e: JobEvent) => void events.push(e) } };
  const p = progressReporter(ctx, "job1", 200, silentLogger);
  p.report({ stage: "load", step: 0, total: 1 });
  for (let i = 1; i <= 50; i++) p.report({ stage: "denoise", step: i, total: 50 });
  await new Promise((r) => setTimeout(r, 350));
  p.report({ stage: "decode", step: 1, total: 1 });
  await p.flush();
  p.stop();
  const seen = events.map((e) => (e.type === "progress" ? `${e.progress.stage}:${e.progress.step}` : e.type));
  // load; first denoise (stage change); the last denoise step after the interval; decode.
  expect(seen).toEqual(["load:0", "denoise:1", "denoise:50", "decode:1"]);
  const record = (await store.getRecord("job1"))!;
  expect(record.progress).toEqual({ stage: "decode", step: 1, total: 1 });
});
