// Whole-job latency through the real local stack, as a user sees it: an HTTP request in
// (POST /api/jobs) → the job on the embedded SQLite queue → the worker (engine, ffmpeg, store) →
// the mp4's bytes downloaded over HTTP. The worker preloads its model as `turbowan worker` does;
// the first line is the cold start (process start → ready to generate). The first job is the
// first on a fresh process (cold caches, cuBLAS heuristics); the rest are warm. Each job prints one
// JSON line with the worker's per-stage breakdown; the last line is a summary.
//
//   tsx bench/e2e/job-latency.ts --model demo --frames 5 --steps 1 --jobs 2
//   node job-latency.mjs --model wan2.1-t2v-1.3b --models-dir /tmp/models --jobs 3   (bundled, GPU machine)
//
// The stack is the one `turbowan serve` runs (functions/cli/stack.ts); nothing is stubbed.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs, promisify } from "node:util";
import pino from "pino";
import { loadConfig } from "../../functions/config.js";
import type { JobEvent, JobRecord } from "../../functions/jobs/model.js";
import { createLogger } from "../../functions/log.js";
import { startLocalStack } from "../../functions/cli/stack.js";

export interface JobLatency {
  job: number;
  id: string;
  /** POST sent → last byte of the mp4 received. */
  requestToMp4Ms: number;
  /** POST sent → the worker marked the job succeeded. */
  requestToDoneMs: number;
  downloadMs: number;
  mp4Bytes: number;
  /** The worker's and engine's own per-stage times (load, encode-text, denoise, decode, encode-video, upload, total …). */
  stagesMs: Record<string, number>;
  ffprobe?: { codec: string; width: number; height: number; frames: number; fps: string } | string;
}

export interface LatencyOptions {
  model: string;
  modelsDir?: string;
  resolution: string;
  aspectRatio: string;
  frames: number;
  steps: number;
  jobs: number;
  backend: string;
  prompt: string;
  logFile?: string;
}

export async function measureJobLatency(o: LatencyOptions, print: (line: string) => void = console.log): Promise<JobLatency[]> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "tw-latency-"));
  const config = loadConfig({
    ...process.env,
    TURBOWAN_DATA_DIR: dataDir,
    TURBOWAN_MODELS_DIR: o.modelsDir ?? path.join(dataDir, "models"),
    TURBOWAN_MODELS: o.model,
    TURBOWAN_PORT: "0",
    TURBOWAN_BACKEND: o.backend,
  });
  const log = createLogger({ level: "info", destination: pino.destination({ dest: o.logFile ?? path.join(dataDir, "stack.log"), sync: true }) });
  // Preload as `turbowan worker` does: process start → "ready to generate" is the cold start.
  const stack = await startLocalStack(config, { log, hostname: "127.0.0.1", tuning: { idleDelayMs: 5, waitSeconds: 1, preload: true } });
  const loadStarted = performance.now();
  await stack.worker!.ready();
  const readyAt = { processStartToReadyMs: Math.round(process.uptime() * 1000), modelLoadMs: Math.round(performance.now() - loadStarted) };
  print(JSON.stringify({ ready: true, model: o.model, ...readyAt }));
  const done = new Map<string, (e: JobEvent) => void>();
  const unsubscribe = stack.jobs.subscribe((e) => {
    if (e.type === "succeeded" || e.type === "failed" || e.type === "cancelled") done.get(e.job.id)?.(e);
  });
  const results: JobLatency[] = [];
  try {
    for (let i = 0; i < o.jobs; i++) {
      const t0 = performance.now();
      const res = await fetch(`${stack.url}/api/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          kind: "t2v",
          prompt: `${o.prompt} (take ${i + 1})`, // a new prompt each time: the text encoder runs every job
          options: { model: o.model, resolution: o.resolution, aspectRatio: o.aspectRatio, frames: o.frames, steps: o.steps, seed: 1000 + i },
        }),
      });
      const body = (await res.json()) as { job?: JobRecord; error?: string };
      if (!res.ok || !body.job) throw new Error(`POST /api/jobs answered ${res.status}: ${body.error ?? "no job"}`);
      const id = body.job.id;
      const terminal = await new Promise<JobEvent>((resolve) => {
        done.set(id, resolve);
        // The job may have finished between the POST's answer and the listener (never in practice).
        void stack.jobs.get(id).then((j) => j && j.status === "succeeded" && resolve({ type: "succeeded", job: j } as JobEvent));
      });
      const tDone = performance.now();
      if (terminal.type !== "succeeded") throw new Error(`job ${id} ${terminal.type}: ${JSON.stringify(terminal.job.error ?? {})}`);
      const view = (await (await fetch(`${stack.url}/api/jobs/${id}`)).json()) as { job: JobRecord & { urls?: { video: string } } };
      const videoUrl = view.job.urls?.video;
      if (!videoUrl) throw new Error(`job ${id} succeeded without a video URL`);
      const tDl = performance.now();
      const mp4 = Buffer.from(await (await fetch(videoUrl)).arrayBuffer());
      const t1 = performance.now();
      const r: JobLatency = {
        job: i + 1,
        id,
        requestToMp4Ms: Math.round(t1 - t0),
        requestToDoneMs: Math.round(tDone - t0),
        downloadMs: Math.round(t1 - tDl),
        mp4Bytes: mp4.length,
        stagesMs: view.job.timingsMs ?? {},
        ffprobe: await probe(mp4, dataDir),
      };
      results.push(r);
      print(JSON.stringify(r));
    }
  } finally {
    unsubscribe();
    await stack.close({ graceMs: 1000 });
    if (!o.logFile) await rm(dataDir, { recursive: true, force: true });
  }
  const warm = results.slice(1).map((r) => r.requestToMp4Ms).sort((a, b) => a - b);
  print(
    JSON.stringify({
      summary: true,
      model: o.model,
      resolution: o.resolution,
      frames: o.frames,
      steps: o.steps,
      ...readyAt,
      firstJobMs: results[0]?.requestToMp4Ms,
      warmMedianMs: warm.length ? warm[Math.floor((warm.length - 1) / 2)] : undefined,
      warmMinMs: warm[0],
    }),
  );
  return results;
}

/** ffprobe's view of the downloaded bytes (codec, size, frame count), or why it could not look. */
async function probe(mp4: Buffer, dir: string): Promise<JobLatency["ffprobe"]> {
  const file = path.join(dir, "probe.mp4");
  await writeFile(file, mp4);
  try {
    const { stdout } = await promisify(execFile)(process.env.FFPROBE ?? "ffprobe", [
      "-v", "error", "-count_frames", "-select_streams", "v:0",
      "-show_entries", "stream=codec_name,width,height,nb_read_frames,r_frame_rate", "-of", "json", file,
    ]);
    const s = (JSON.parse(stdout) as { streams: Record<string, string | number>[] }).streams[0]!;
    return { codec: String(s.codec_name), width: Number(s.width), height: Number(s.height), frames: Number(s.nb_read_frames), fps: String(s.r_frame_rate) };
  } catch (err) {
    return `ffprobe failed: ${(err as Error).message.split("\n")[0]}`;
  }
}

const isMain = process.argv[1] && /job-latency\.(ts|mjs|js)$/.test(process.argv[1]);
if (isMain) {
  const { values } = parseArgs({
    options: {
      model: { type: "string", default: "demo" },
      "models-dir": { type: "string" },
      resolution: { type: "string", default: "480p" },
      aspect: { type: "string", default: "16:9" },
      frames: { type: "string", default: "81" },
      steps: { type: "string", default: "4" },
      jobs: { type: "string", default: "3" },
      backend: { type: "string", default: "auto" },
      prompt: { type: "string", default: "a red fox running through fresh snow at dawn, cinematic" },
      log: { type: "string" },
    },
  });
  const frames = Number(values.frames);
  const results = await measureJobLatency({
    model: values.model,
    modelsDir: values["models-dir"],
    resolution: values.resolution,
    aspectRatio: values.aspect,
    frames,
    steps: Number(values.steps),
    jobs: Number(values.jobs),
    backend: values.backend,
    prompt: values.prompt,
    logFile: values.log,
  });
  // The GPU end-to-end test's verdict: every job gave an H.264 mp4 that ffprobe decodes fully.
  const bad = results.filter((r) => typeof r.ffprobe !== "object" || r.ffprobe.codec !== "h264" || r.ffprobe.frames !== frames);
  console.log(bad.length === 0 ? `PASS: ${results.length} playable mp4s (h264, ${frames} frames each)` : `FAIL: ${JSON.stringify(bad.map((r) => r.ffprobe))}`);
  process.exitCode = bad.length === 0 ? 0 : 1;
}
