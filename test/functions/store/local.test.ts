import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalStore } from "../../../functions/store/local.js";
import { storeContract } from "./contract.js";

const makeStore = async () =>
  new LocalStore({ root: mkdtempSync(join(tmpdir(), "turbowan-store-")), publicUrl: "http://localhost:8787/" });

storeContract("local", makeStore, { urlsDownload: false });

describe("local store", () => {
  it("serves URLs at ${publicUrl}/files/<key>", async () => {
    const store = await makeStore();
    expect(await store.url("jobs/abc/video.mp4")).toBe("http://localhost:8787/files/jobs/abc/video.mp4");
  });

  it("of many concurrent ifAbsent markers exactly one wins and no temp files remain", async () => {
    const root = mkdtempSync(join(tmpdir(), "turbowan-store-"));
    const store = new LocalStore({ root, publicUrl: "http://x" });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.setMarker("idempotency/k", `job-${i}`, { ifAbsent: true })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect(await store.getMarker("idempotency/k")).toBe(`job-${winner}`);
    expect(readdirSync(join(root, "markers", "idempotency"))).toEqual(["k"]);
  });
});
