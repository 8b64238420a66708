import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteQueue } from "../../../functions/queue/sqlite.js";
import { queueContract } from "./contract.js";

const dir = mkdtempSync(join(tmpdir(), "turbowan-queue-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `q${n++}`, "queue.sqlite");

queueContract("sqlite", async (o) => new SqliteQueue({ path: freshPath(), pollIntervalMs: 50, ...o }));

describe("sqlite queue", () => {
  it("survives a restart: messages and leases are in the file, not the process", async () => {
    const path = freshPath();
    const a = new SqliteQueue({ path, visibilityTimeoutSeconds: 30 });
    await a.send({ jobId: "kept", model: "demo" });
    await a.send({ jobId: "leased", model: "demo" });
    const [leased] = await a.receive({ model: "demo" });
    await a.close();

    const b = new SqliteQueue({ path, visibilityTimeoutSeconds: 30 });
    const got = await b.receive({ max: 10 });
    // The lease taken before the restart still holds (only the other message is receivable), and its
    // receipt still works in the new process.
    const other = leased!.body.jobId === "kept" ? "leased" : "kept";
    expect(got.map((m) => m.body.jobId)).toEqual([other]);
    await b.ack(leased!.receipt);
    expect(await b.stats()).toEqual({ visible: 0, inFlight: 1, delayed: 0, dead: 0 });
    await b.close();
  });

  it("never hands one message to two worker processes racing on the same file", async () => {
    const path = freshPath();
    const q = new SqliteQueue({ path });
    const total = 200;
    for (let i = 0; i < total; i++) await q.send({ jobId: `j${i}`, model: "demo" });
    const child = join(import.meta.dirname, "sqlite-racer.ts");
    // Start all racers first and release them together, so process start-up time cannot decide the race.
    const racers = [0, 1, 2].map(() => {
      const p = fork(child, [path], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
      const ready = new Promise<void>((resolve) => p.once("message", () => resolve()));
      const done = new Promise<string[]>((resolve, reject) => {
        p.on("message", (m) => m !== "ready" && resolve(m as string[]));
        p.on("error", reject);
        p.on("exit", (code) => code && reject(new Error(`racer exited with ${code}`)));
      });
      return { p, ready, done };
    });
    await Promise.all(racers.map((r) => r.ready));
    for (const r of racers) r.p.send("go");
    const [a = [], b = [], c = []] = await Promise.all(racers.map((r) => r.done));
    const all = [...a, ...b, ...c];
    expect(all.length).toBe(total);
    expect(new Set(all).size).toBe(total);
    // Each process got a share: they really raced.
    expect(Math.min(a.length, b.length, c.length)).toBeGreaterThan(0);
    expect(await q.stats()).toMatchObject({ visible: 0, inFlight: total });
    await q.close();
  });

  it("rejects use after close with a clear message", async () => {
    const q = new SqliteQueue({ path: freshPath() });
    await q.close();
    await expect(q.receive()).rejects.toThrow(/queue is closed/);
  });
});
