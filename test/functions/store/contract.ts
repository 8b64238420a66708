// The store contract: every driver runs this suite against a real backend (a temp directory, an
// S3-compatible server on loopback).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { newJobId } from "../../../functions/jobs/ids.js";
import type { JobRecord, JobStatus } from "../../../functions/jobs/model.js";
import { InvalidKeyError } from "../../../functions/store/store.js";
import type { Store } from "../../../functions/store/store.js";

export interface StoreContractOptions {
  /** A presigned/served URL can be fetched in the test (S3); the local URL needs the ingress. */
  urlsDownload: boolean;
}

export function makeRecord(status: JobStatus = "queued", requesterId = "u1"): JobRecord {
  const at = new Date().toISOString();
  return {
    id: newJobId(),
    request: {
      kind: "t2v",
      prompt: "a cat surfing",
      options: {
        model: "demo",
        resolution: "480p",
        aspectRatio: "16:9",
        frames: 17,
        steps: 4,
        seed: 7,
        attention: "sagesla",
        topk: 0.1,
        ode: false,
      },
      replyTo: { platform: "cli" },
      requester: { platform: "cli", id: requesterId },
      idempotencyKey: `k-${Math.random()}`,
    },
    status,
    seed: 7,
    timingsMs: {},
    artifacts: {},
    attempts: 0,
    createdAt: at,
    updatedAt: at,
  };
}

export function storeContract(name: string, makeStore: () => Promise<Store>, options: StoreContractOptions): void {
  describe(`store contract: ${name}`, () => {
    it("writes, replaces and reads a record; an unknown id reads as undefined", async () => {
      const store = await makeStore();
      const r = makeRecord();
      await store.putRecord(r);
      expect(await store.getRecord(r.id)).toEqual(r);
      r.status = "running";
      await store.putRecord(r);
      expect((await store.getRecord(r.id))?.status).toBe("running");
      expect(await store.getRecord(newJobId())).toBeUndefined();
    });

    it("lists records newest first, filtered by status and requester, up to a limit", async () => {
      const store = await makeStore();
      const a = makeRecord("queued", "alice");
      const b = makeRecord("succeeded", "bob");
      const c = makeRecord("succeeded", "alice");
      for (const r of [a, b, c]) await store.putRecord(r);
      expect((await store.listRecords()).map((r) => r.id)).toEqual([c.id, b.id, a.id]);
      expect((await store.listRecords({ status: "succeeded" })).map((r) => r.id)).toEqual([c.id, b.id]);
      expect((await store.listRecords({ requesterId: "alice" })).map((r) => r.id)).toEqual([c.id, a.id]);
      expect((await store.listRecords({ limit: 1 })).map((r) => r.id)).toEqual([c.id]);
    });

    it("stores artifacts from bytes with their content type; exists and delete work", async () => {
      const store = await makeStore();
      const bytes = new TextEncoder().encode("not really a png");
      expect(await store.putArtifact("jobs/x/poster.png", bytes, "image/png")).toEqual({
        key: "jobs/x/poster.png",
        bytes: bytes.byteLength,
        contentType: "image/png",
      });
      const got = await store.getArtifact("jobs/x/poster.png");
      expect(got?.contentType).toBe("image/png");
      expect(Buffer.from(got!.data).toString()).toBe("not really a png");
      expect(await store.exists("jobs/x/poster.png")).toBe(true);
      await store.delete("jobs/x/poster.png");
      expect(await store.exists("jobs/x/poster.png")).toBe(false);
      expect(await store.getArtifact("jobs/x/poster.png")).toBeUndefined();
      await store.delete("jobs/x/poster.png"); // absent: not an error
    });

    it("stores a file artifact and streams it whole or as a byte range", async () => {
      const store = await makeStore();
      const file = join(mkdtempSync(join(tmpdir(), "turbowan-art-")), "video.mp4");
      const content = "0123456789".repeat(300_000); // 3 MB: more than one S3 part/buffer
      writeFileSync(file, content);
      const info = await store.putArtifact("jobs/y/video.mp4", { file }, "video/mp4");
      expect(info.bytes).toBe(content.length);
      const whole = await store.readStream("jobs/y/video.mp4");
      expect(whole).toMatchObject({ bytes: content.length, contentType: "video/mp4", start: 0, end: content.length - 1 });
      expect(await text(whole!.stream)).toBe(content);
      const part = await store.readStream("jobs/y/video.mp4", { start: 5, end: 14 });
      expect(part).toMatchObject({ start: 5, end: 14, bytes: content.length });
      expect(await text(part!.stream)).toBe("5678901234");
      expect(await store.readStream("jobs/y/missing.mp4")).toBeUndefined();
    });

    it("gives each artifact a URL under its key", async () => {
      const store = await makeStore();
      await store.putArtifact("jobs/z/clip.mp4", new TextEncoder().encode("mp4 bytes"), "video/mp4");
      const url = await store.url("jobs/z/clip.mp4");
      expect(url).toMatch(/^https?:\/\/.+jobs\/z\/clip\.mp4/);
      if (options.urlsDownload) {
        const res = await fetch(url);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe("mp4 bytes");
      }
    });

    it("rejects keys that could escape the store, with a message saying what a key may hold", async () => {
      const store = await makeStore();
      for (const key of ["../etc/passwd", "/abs/path", "a//b", "a/../b", "a\\b", "", "a/./b"]) {
        await expect(store.putArtifact(key, new Uint8Array([1]), "text/plain")).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(store.getArtifact(key)).rejects.toThrow(/no '\.\.' or empty segments/);
      }
    });

    it("markers: set, read, first writer wins with ifAbsent, delete", async () => {
      const store = await makeStore();
      expect(await store.getMarker("idempotency/abc")).toBeUndefined();
      expect(await store.setMarker("idempotency/abc", "job-1", { ifAbsent: true })).toBe(true);
      expect(await store.setMarker("idempotency/abc", "job-2", { ifAbsent: true })).toBe(false);
      expect(await store.getMarker("idempotency/abc")).toBe("job-1");
      await store.setMarker("idempotency/abc", "job-3");
      expect(await store.getMarker("idempotency/abc")).toBe("job-3");
      await store.deleteMarker("idempotency/abc");
      expect(await store.getMarker("idempotency/abc")).toBeUndefined();
    });

    it("keeps markers and records out of the artifact namespace", async () => {
      const store = await makeStore();
      const r = makeRecord();
      await store.putRecord(r);
      await store.setMarker("cancel/x", "me");
      expect(await store.exists(`records/${r.id}.json`)).toBe(false);
      expect(await store.exists("cancel/x")).toBe(false);
      expect(await store.exists("markers/cancel/x")).toBe(false);
    });
  });
}
