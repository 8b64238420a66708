// The consumer loop over the real embedded queue (SQLite in a temp dir) with short timeouts.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteQueue } from "../../../functions/queue/sqlite.js";
import { Consumer, type Disposition, type MessageHandler } from "../../../functions/worker/consumer.js";

let dir: string;
let queue: SqliteQueue;
const consumers: Consumer[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "tw-consumer-"));
  queue = new SqliteQueue({ path: path.join(dir, "q.sqlite"), visibilityTimeoutSeconds: 1, pollIntervalMs: 20 });
});
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.stop()));
  await queue.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function consumer(handle: MessageHandler, extra: Partial<ConstructorParameters<typeof Consumer>[0]> = {}) {
  const c = new Consumer({ queue, handle, visibilityTimeoutS: 1, heartbeatIntervalS: 0.25, waitSeconds: 0.2, ...extra });
  consumers.push(c);
  return c;
}

describe("Consumer", () => {
  it("handles each message once and acks it", async () => {
    const seen: string[] = [];
    const c = consumer(async (m) => {
      seen.push(m.body.jobId);
      return { action: "ack" };
    });
    await queue.send({ jobId: "a", model: "demo" });
    await queue.send({ jobId: "b", model: "demo" });
    c.start();
    await expect.poll(() => seen.length, { timeout: 5000 }).toBe(2);
    expect(seen).toEqual(["a", "b"]);
    await sleep(1200); // past the visibility timeout: nothing comes back
    expect(seen).toHaveLength(2);
    expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 0 });
  });

  it("heartbeats the lease so a long job is not redelivered to a second consumer", async () => {
    const first: string[] = [];
    const second: string[] = [];
    const a = consumer(async (m) => {
      first.push(m.body.jobId);
      await sleep(2500); // 2.5 × the visibility timeout
      return { action: "ack" };
    });
    await queue.send({ jobId: "long", model: "demo" });
    a.start();
    await expect.poll(() => first.length).toBe(1);
    const b = consumer(async (m) => {
      second.push(m.body.jobId);
      return { action: "ack" };
    });
    b.start();
    await a.stop({ graceMs: 5000 });
    expect(second).toEqual([]);
    expect(await queue.stats()).toMatchObject({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it("stop() waits for the message in flight, then reports stopped", async () => {
    let finished = false;
    const c = consumer(async () => {
      await sleep(400);
      finished = true;
      return { action: "ack" };
    });
    let stopped = false;
    c.on("stopped", () => (stopped = true));
    await queue.send({ jobId: "j", model: "demo" });
    c.start();
    await expect.poll(() => c.current?.body.jobId).toBe("j");
    await c.stop({ graceMs: 5000 });
    expect(finished).toBe(true);
    expect(stopped).toBe(true);
    expect(c.isRunning).toBe(false);
  });

  it("past the grace period it aborts the handler with reason shutdown and releases the message", async () => {
    let reason: unknown;
    const c = consumer(async (_m, { signal }) => {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      reason = signal.reason;
      return { action: "release" } satisfies Disposition;
    });
    await queue.send({ jobId: "slow", model: "demo" });
    c.start();
    await expect.poll(() => c.current?.body.jobId).toBe("slow");
    const t = Date.now();
    await c.stop({ graceMs: 200 });
    expect(Date.now() - t).toBeLessThan(2000);
    expect(reason).toBe("shutdown");
    const [again] = await queue.receive();
    expect(again?.body.jobId).toBe("slow");
    expect(again?.receiveCount).toBe(2);
  });

  it("a handler that throws gets its message released for a retry and the loop goes on", async () => {
    const seen: string[] = [];
    const errors: Error[] = [];
    const c = consumer(async (m) => {
      seen.push(m.body.jobId);
      if (m.body.jobId === "bad") throw new Error("boom");
      return { action: "ack" };
    });
    c.on("error", (e) => errors.push(e));
    await queue.send({ jobId: "bad", model: "demo" });
    await queue.send({ jobId: "good", model: "demo" });
    c.start();
    await expect.poll(() => seen.includes("good")).toBe(true);
    expect(errors.map((e) => e.message)).toEqual(["boom"]);
    expect((await queue.stats()).delayed).toBe(1);
  });

  it("reports it is alive on every answered poll and every lease heartbeat", async () => {
    let alive = 0;
    const c = consumer(async () => {
      await sleep(800);
      return { action: "ack" };
    });
    c.on("alive", () => alive++);
    c.start();
    await expect.poll(() => alive).toBeGreaterThan(1); // empty polls
    const before = alive;
    await queue.send({ jobId: "j", model: "demo" });
    await expect.poll(() => c.current?.body.jobId).toBe("j");
    await expect.poll(() => alive - before, { timeout: 3000 }).toBeGreaterThanOrEqual(3); // receive + heartbeats
  });

  it("serves only its models", async () => {
    const seen: string[] = [];
    const c = consumer(
      async (m) => {
        seen.push(m.body.model);
        return { action: "ack" };
      },
      { models: ["demo"] },
    );
    await queue.send({ jobId: "1", model: "wan2.1-t2v-14b" });
    await queue.send({ jobId: "2", model: "demo" });
    c.start();
    await expect.poll(() => seen).toEqual(["demo"]);
    await sleep(300);
    expect(seen).toEqual(["demo"]);
    expect((await queue.stats()).visible).toBe(1);
  });

  it("refuses a heartbeat interval at or above the visibility timeout", () => {
    expect(() => new Consumer({ queue, handle: async () => ({ action: "ack" }), visibilityTimeoutS: 10, heartbeatIntervalS: 10 })).toThrow(
      /below the visibility timeout/,
    );
  });
});
