// The queue contract: every driver runs this suite against a real backend (a SQLite file, an
// SQS-compatible server on loopback). Timeouts are short (1 s leases) so the suite stays fast.
import { afterAll, describe, expect, it } from "vitest";
import { LeaseLostError } from "../../../functions/queue/queue.js";
import type { Queue } from "../../../functions/queue/queue.js";

export interface QueueFactoryOptions {
  visibilityTimeoutSeconds: number;
  maxReceives: number;
}

/** Returns a fresh, empty queue each call. */
export type QueueFactory = (options: QueueFactoryOptions) => Promise<Queue>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const job = (n: number, model = "demo") => ({ jobId: `job-${n}`, model });

/** routesByModel: false for a driver layout that refuses receive-by-model (one SQS queue for all models). */
export function queueContract(name: string, factory: QueueFactory, options: { routesByModel?: boolean } = {}): void {
  // Concurrent: each test has its own queue, and most of the time is spent waiting out leases.
  describe.concurrent(`queue contract: ${name}`, () => {
    const open: Queue[] = [];
    async function make(options: Partial<QueueFactoryOptions> = {}): Promise<Queue> {
      const q = await factory({ visibilityTimeoutSeconds: 1, maxReceives: 3, ...options });
      open.push(q);
      return q;
    }
    afterAll(async () => {
      await Promise.all(open.splice(0).map((q) => q.close()));
    });

    it("delivers a sent message with its body, model attribute and receive count 1", async () => {
      const q = await make();
      const id = await q.send(job(1, "wan2.1-t2v-1.3b"), { attributes: { origin: "test" } });
      const [m, ...rest] = await q.receive({ waitSeconds: 1 });
      expect(rest).toEqual([]);
      expect(m).toBeDefined();
      expect(m!.id).toBe(id);
      expect(m!.body).toEqual(job(1, "wan2.1-t2v-1.3b"));
      expect(m!.attributes).toMatchObject({ model: "wan2.1-t2v-1.3b", origin: "test" });
      expect(m!.receiveCount).toBe(1);
      expect(typeof m!.receipt).toBe("string");
      expect(Math.abs(m!.sentAt - Date.now())).toBeLessThan(10_000);
    });

    it("returns an empty list at once when nothing is queued and waitSeconds is 0", async () => {
      const q = await make();
      const t = Date.now();
      expect(await q.receive({ waitSeconds: 0 })).toEqual([]);
      expect(Date.now() - t).toBeLessThan(1000);
    });

    it("long-polls: a message sent during the wait is returned before the wait ends", async () => {
      const q = await make();
      const t = Date.now();
      setTimeout(() => void q.send(job(2)), 300);
      const got = await q.receive({ waitSeconds: 5 });
      expect(got.map((m) => m.body.jobId)).toEqual(["job-2"]);
      expect(Date.now() - t).toBeLessThan(4000);
    });

    it("stops a long poll when the signal aborts", async () => {
      const q = await make();
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 200);
      const t = Date.now();
      expect(await q.receive({ waitSeconds: 5, signal: ac.signal })).toEqual([]);
      expect(Date.now() - t).toBeLessThan(3000);
    });

    it("returns at most `max` messages and never the same one twice while leased", async () => {
      const q = await make({ visibilityTimeoutSeconds: 30 });
      for (let i = 0; i < 5; i++) await q.send(job(i));
      const seen: string[] = [];
      for (let tries = 0; tries < 10 && seen.length < 5; tries++) {
        const got = await q.receive({ max: 3, waitSeconds: 1 });
        expect(got.length).toBeLessThanOrEqual(3);
        seen.push(...got.map((m) => m.body.jobId));
      }
      expect(seen.sort()).toEqual(["job-0", "job-1", "job-2", "job-3", "job-4"]);
      expect(await q.receive({ waitSeconds: 0 })).toEqual([]);
    });

    it("redelivers an unacked message after its visibility timeout, with a new receipt and count 2", async () => {
      const q = await make();
      await q.send(job(3));
      const [first] = await q.receive({ waitSeconds: 1 });
      expect(await q.receive({ waitSeconds: 0 })).toEqual([]);
      await sleep(1300);
      const [again] = await q.receive({ waitSeconds: 2 });
      expect(again?.body).toEqual(job(3));
      expect(again?.receiveCount).toBe(2);
      expect(again?.receipt).not.toBe(first!.receipt);
    });

    it("honours a per-receive visibility timeout", async () => {
      const q = await make({ visibilityTimeoutSeconds: 30 });
      await q.send(job(4));
      await q.receive({ waitSeconds: 1, visibilityTimeoutSeconds: 1 });
      await sleep(1300);
      expect((await q.receive({ waitSeconds: 2 })).map((m) => m.receiveCount)).toEqual([2]);
    });

    it("ack deletes the message for good", async () => {
      const q = await make();
      await q.send(job(5));
      const [m] = await q.receive({ waitSeconds: 1 });
      await q.ack(m!.receipt);
      await sleep(1300);
      expect(await q.receive({ waitSeconds: 0 })).toEqual([]);
      expect(await q.stats()).toMatchObject({ visible: 0, inFlight: 0, dead: 0 });
    });

    it("extendVisibility keeps a running job hidden past its first timeout (heartbeat)", async () => {
      // 2 s leases renewed every 0.8 s (a 1.2 s margin for a loaded machine), outliving the first lease.
      const q = await make({ visibilityTimeoutSeconds: 2 });
      await q.send(job(6));
      const [m] = await q.receive({ waitSeconds: 1 });
      for (let i = 0; i < 3; i++) {
        await sleep(800);
        await q.extendVisibility(m!.receipt, 2);
      }
      expect(await q.receive({ waitSeconds: 0 })).toEqual([]);
      await q.ack(m!.receipt);
    });

    it("extendVisibility with a lease that was taken over throws LeaseLostError", async () => {
      const q = await make();
      await q.send(job(7));
      const [m] = await q.receive({ waitSeconds: 1 });
      await sleep(1300);
      const [again] = await q.receive({ waitSeconds: 2 });
      expect(again).toBeDefined();
      await expect(q.extendVisibility(m!.receipt, 5)).rejects.toBeInstanceOf(LeaseLostError);
      await q.extendVisibility(again!.receipt, 5);
    });

    it("release hands a message back at once, keeping its receive count", async () => {
      const q = await make({ visibilityTimeoutSeconds: 30 });
      await q.send(job(8));
      const [m] = await q.receive({ waitSeconds: 1 });
      await q.release(m!.receipt);
      const [again] = await q.receive({ waitSeconds: 2 });
      expect(again?.body).toEqual(job(8));
      expect(again?.receiveCount).toBe(2);
    });

    it("release with a delay retries later (delayed retry)", async () => {
      const q = await make({ visibilityTimeoutSeconds: 30 });
      await q.send(job(9));
      const [m] = await q.receive({ waitSeconds: 1 });
      await q.release(m!.receipt, 2);
      expect(await q.receive({ waitSeconds: 0 })).toEqual([]);
      expect((await q.stats()).visible).toBe(0);
      await sleep(2200);
      expect((await q.receive({ waitSeconds: 2 })).map((x) => x.body.jobId)).toEqual(["job-9"]);
    });

    it("send with delaySeconds holds the message back", async () => {
      const q = await make();
      await q.send(job(10), { delaySeconds: 2 });
      expect(await q.receive({ waitSeconds: 0 })).toEqual([]);
      expect((await q.stats()).delayed).toBe(1);
      await sleep(2200);
      expect((await q.receive({ waitSeconds: 2 })).map((x) => x.body.jobId)).toEqual(["job-10"]);
    });

    it("moves a message to the dead-letter queue after maxReceives deliveries", async () => {
      const q = await make({ maxReceives: 2 });
      await q.send(job(11));
      for (let n = 1; n <= 2; n++) {
        const [m] = await q.receive({ waitSeconds: 2 });
        expect(m?.receiveCount).toBe(n);
        await sleep(1200);
      }
      expect(await q.receive({ waitSeconds: 1 })).toEqual([]);
      const dead = await q.deadLetters();
      expect(dead.map((d) => d.body)).toEqual([job(11)]);
      // At least: SQS has no peek, so listing the DLQ itself counts as a receive there.
      expect(dead[0]!.receiveCount).toBeGreaterThanOrEqual(2);
      expect((await q.stats()).dead).toBe(1);
    });

    it.skipIf(options.routesByModel === false)("routes by model: a receive for one model never returns another's messages", async () => {
      const q = await make();
      await q.send(job(12, "wan2.1-t2v-1.3b"));
      await q.send(job(13, "wan2.2-i2v-a14b"));
      const a = await q.receive({ model: "wan2.2-i2v-a14b", waitSeconds: 1 });
      expect(a.map((m) => m.body.jobId)).toEqual(["job-13"]);
      expect(await q.receive({ model: "wan2.2-i2v-a14b", waitSeconds: 0 })).toEqual([]);
      const b = await q.receive({ model: "wan2.1-t2v-1.3b", waitSeconds: 1 });
      expect(b.map((m) => m.body.jobId)).toEqual(["job-12"]);
    });

    it("counts visible and in-flight messages", async () => {
      const q = await make({ visibilityTimeoutSeconds: 30 });
      await q.send(job(14));
      await q.send(job(15));
      await q.receive({ waitSeconds: 1 });
      expect(await q.stats()).toEqual({ visible: 1, inFlight: 1, delayed: 0, dead: 0 });
    });
  });
}
