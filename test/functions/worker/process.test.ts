// The worker as a real process (`turbowan worker`): killed mid-job, and stopped with SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { artifactKeys } from "../../../functions/worker/job-runner.js";
import { createHarness, type Harness } from "./harness.js";

const BIN = path.resolve("functions/cli/bin.mjs");
let h: Harness;
const children: ChildProcess[] = [];

beforeEach(async () => {
  h = await createHarness({ visibilityTimeoutS: 2 });
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await h.close();
});

interface Child {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnWorker(flags: string[]): Child {
  const proc = spawn(process.execPath, [BIN, "worker", "--visibility", "2", "--heartbeat", "0.5", ...flags], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TURBOWAN_DATA_DIR: h.dataDir,
      TURBOWAN_MODELS_DIR: h.modelsDir,
      TURBOWAN_BACKEND: "cpu",
      TURBOWAN_PUBLIC_URL: "http://tw.test",
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(proc);
  const lines: Record<string, unknown>[] = [];
  let buffered = "";
  proc.stdout!.on("data", (d) => {
    buffered += String(d);
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
  });
  let stderr = "";
  proc.stderr!.on("data", (d) => (stderr += String(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on("exit", (code, signal) => {
      if (code && code !== 0) console.error(stderr);
      resolve({ code, signal });
    }),
  );
  return { proc, lines, exited };
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))]);

describe("worker process", () => {
  it("killed mid-job: a second worker takes the job after the lease lapses and completes it exactly once", async () => {
    const job = await h.submit({ options: { frames: 17, steps: 2 } });
    const child = spawnWorker([]);
    await h.waitFor(job.id, ["running", "succeeded"], 60_000);
    child.proc.kill("SIGKILL");
    await child.exited;
    const orphan = (await h.store.getRecord(job.id))!;
    expect(orphan.status).toBe("running");
    expect(orphan.attempts).toBe(1);
    // Not acked: still leased by the dead worker, or visible again once its lease lapsed.
    const stats = await h.queue.stats();
    expect(stats.inFlight + stats.visible).toBe(1);

    const w = h.worker();
    w.start();
    const done = await h.waitFor(job.id, ["succeeded", "failed"], 90_000);
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(2);
    expect(h.eventsOf(job.id, "succeeded")).toHaveLength(1);
    expect(await h.store.exists(artifactKeys(job.id).video)).toBe(true);
    await expect.poll(() => h.queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0, dead: 0 });
    // The child logged JSON lines with the job id on each line about the job; it had loaded the
    // model at start (preload, before any job), so that line names no job.
    const about = child.lines.filter((l) => l.msg === "job started");
    expect(about.length).toBeGreaterThan(0);
    for (const l of about) expect(l.jobId).toBe(job.id);
    const ready = child.lines.find((l) => l.msg === "ready to generate");
    expect(ready).toMatchObject({ model: "demo" });
    expect(ready!.jobId).toBeUndefined();
  });

  it("SIGTERM past the grace period: the running job is released to the queue and the process exits", async () => {
    const job = await h.submit({ options: { frames: 17, steps: 2 } });
    const child = spawnWorker(["--grace", "0.2"]);
    await h.waitFor(job.id, ["running"], 60_000);
    child.proc.kill("SIGTERM");
    const { code } = await within(child.exited, 15_000, "worker shutdown");
    expect(code).toBe(0);
    const released = (await h.store.getRecord(job.id))!;
    expect(released.status, JSON.stringify(child.lines.map((l) => [l.msg, l.err ?? ""]))).toBe("queued");
    expect(released.error).toMatch(/shut down/);
    expect(await h.queue.stats()).toMatchObject({ visible: 1, inFlight: 0 });
    expect(child.lines.some((l) => l.msg === "worker stopped")).toBe(true);

    // The next worker finishes it.
    const w = h.worker();
    w.start();
    const done = await h.waitFor(job.id, ["succeeded", "failed"], 120_000);
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(2);
  });

  it("SIGTERM within the grace period: the running job finishes, then the process exits", async () => {
    const job = await h.submit({ options: { frames: 9, steps: 2 } });
    const child = spawnWorker(["--grace", "60"]);
    await h.waitFor(job.id, ["running"], 60_000);
    // The health check's file (container/healthcheck.sh) is fresh while the loop runs.
    const beat = path.join(h.dataDir, "worker.heartbeat");
    expect(Date.now() - statSync(beat).mtimeMs).toBeLessThan(30_000);
    child.proc.kill("SIGTERM");
    const { code } = await within(child.exited, 60_000, "worker shutdown");
    expect(code).toBe(0);
    const done = (await h.store.getRecord(job.id))!;
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(1);
    expect(existsSync(beat)).toBe(false);
    expect(await h.queue.stats()).toMatchObject({ visible: 0, inFlight: 0 });
  });
});
