// The turbowan CLI: argument and config errors, jobs list/show/cancel, generate and serve as real processes.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../functions/cli/main.js";
import { createJobService } from "../../../functions/jobs/job-service.js";
import { SqliteQueue } from "../../../functions/queue/sqlite.js";
import { LocalStore } from "../../../functions/store/local.js";

const BIN = path.resolve("functions/cli/bin.mjs");
const run = promisify(execFile);
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "tw-cli-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function capture(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a) => void out.push(a.join(" ")));
  const error = vi.spyOn(console, "error").mockImplementation((...a) => void err.push(a.join(" ")));
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await main(argv);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    process.env = saved;
    log.mockRestore();
    error.mockRestore();
  }
}

describe("turbowan main", () => {
  it("prints help, refuses unknown commands and bad flags with exit code 2", async () => {
    expect((await capture(["help"])).out).toMatch(/generate[\s\S]*serve[\s\S]*worker[\s\S]*jobs/);
    expect((await capture([])).code).toBe(2);
    const unknown = await capture(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command "frobnicate"/);
    const frames = await capture(["generate", "--frames", "6", "a fox"]);
    expect(frames.code).toBe(2);
    expect(frames.err).toMatch(/frames must be 4k\+1/);
    const flag = await capture(["serve", "--bogus"]);
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/bogus/);
    expect((await capture(["generate"])).err).toMatch(/give the prompt/);
    expect((await capture(["worker", "--heartbeat", "5", "--visibility", "5"])).err).toMatch(/--heartbeat must be below --visibility/);
  });

  it("stops on invalid configuration with what to set", async () => {
    const r = await capture(["jobs", "list"], { TURBOWAN_QUEUE: "sqs" });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/set TURBOWAN_SQS_QUEUE_URL/);
    const g = await capture(["gateway"], { TURBOWAN_DATA_DIR: path.join(tmp, "gw") });
    expect(g.code).toBe(2);
    expect(g.err).toMatch(/gateway needs Discord: set DISCORD_APPLICATION_ID, DISCORD_PUBLIC_KEY and DISCORD_BOT_TOKEN/);
  });

  it("jobs list, show and cancel read the configured store", async () => {
    const dataDir = path.join(tmp, "jobs-data");
    const queue = new SqliteQueue({ path: path.join(dataDir, "queue.sqlite") });
    const store = new LocalStore({ root: path.join(dataDir, "store"), publicUrl: "http://localhost:8787" });
    const service = createJobService({ queue, store });
    const { job } = await service.submit({
      kind: "t2v",
      prompt: "a lighthouse in a storm",
      options: { model: "demo", frames: 5, steps: 1 },
      replyTo: { platform: "cli" },
      requester: { platform: "cli", id: "me" },
      idempotencyKey: "cli-test-1",
    });
    await queue.close();
    const env = { TURBOWAN_DATA_DIR: dataDir };
    const list = await capture(["jobs", "list"], env);
    expect(list.code).toBe(0);
    expect(list.out).toContain(job.id);
    expect(list.out).toMatch(/queued .*demo 480p 5f .*"a lighthouse in a storm"/);
    const json = JSON.parse((await capture(["jobs", "list", "--json", "--status", "queued"], env)).out);
    expect(json.map((j: { id: string }) => j.id)).toEqual([job.id]);
    expect((await capture(["jobs", "list", "--status", "nope"], env)).err).toMatch(/--status must be one of/);
    const show = await capture(["jobs", "show", job.id], env);
    expect(show.out).toMatch(/seed \d+, attempts 0/);
    expect((await capture(["jobs", "show", "01nonexistent"], env)).code).toBe(1);
    const cancel = await capture(["jobs", "cancel", job.id], env);
    expect(cancel.out).toBe(`cancelled ${job.id}`);
    expect((await capture(["jobs", "list", "--status", "cancelled"], env)).out).toContain(job.id);
  });
});

describe("turbowan as a process", () => {
  const env = () => ({
    PATH: process.env.PATH!,
    HOME: process.env.HOME ?? tmp,
    TURBOWAN_MODELS_DIR: path.join(tmp, "models"),
    TURBOWAN_BACKEND: "cpu",
    LOG_LEVEL: "warn",
  });

  it("generate writes a playable mp4 with the demo model", async () => {
    const out = path.join(tmp, "fox.mp4");
    const { stdout, stderr } = await run(process.execPath, [BIN, "generate", "-o", out, "--frames", "5", "--steps", "1", "--seed", "3", "a red fox in snow"], {
      env: env(),
      cwd: tmp,
    });
    expect(stdout).toMatch(/wrote .*fox\.mp4 \(5 frames, \d+x\d+, seed 3/);
    // Not a TTY: one plain line per stage instead of a redrawn bar.
    expect(stderr).toMatch(/loading model\.\.\.[\s\S]*denoising\.\.\.[\s\S]*encoding mp4\.\.\./);
    const bytes = readFileSync(out);
    expect(bytes.subarray(4, 8).toString("latin1")).toBe("ftyp");
    // Streamed while decoding, like the worker: every frame made it into the file.
    const probe = await run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", out]);
    expect(probe.stdout.trim()).toBe("5");
  }, 120_000);

  it("generate draws a progress bar on a terminal", async () => {
    // `script` (util-linux) runs the command on a pseudo-terminal.
    const out = path.join(tmp, "tty.mp4");
    const cmd = [process.execPath, BIN, "generate", "-o", out, "--frames", "9", "--steps", "2", "'a fox on a tty'"].join(" ");
    const { stdout } = await run("script", ["-qec", cmd, "/dev/null"], { env: env(), cwd: tmp });
    expect(stdout).toContain("\r\x1b[2K[");
    expect(stdout).toMatch(/\[#+\] denoising 2\/2/);
    expect(stdout).toMatch(/wrote .*tty\.mp4 \(9 frames/);
  }, 120_000);

  it("serve starts the console, answers /healthz and the console page, and stops on SIGTERM", async () => {
    const proc = spawn(process.execPath, [BIN, "serve", "--port", "0"], {
      env: { ...env(), TURBOWAN_DATA_DIR: path.join(tmp, "serve-data") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let stderr = "";
      const url = await new Promise<string>((resolve, reject) => {
        proc.stderr!.on("data", (d) => {
          stderr += String(d);
          const m = /turbowan console: (http:\/\/\S+)/.exec(stderr);
          if (m) resolve(m[1]!);
        });
        proc.on("exit", (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      });
      expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ ok: true });
      expect(await (await fetch(url)).text()).toContain("<title>turbowan console</title>");
      const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
  }, 60_000);
});
