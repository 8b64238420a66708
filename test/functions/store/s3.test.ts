import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Store } from "../../../functions/store/s3.js";
import { startAwsEmulator } from "../../support/aws-emulator.js";
import type { AwsEmulator } from "../../support/aws-emulator.js";
import { storeContract } from "./contract.js";

let aws: AwsEmulator;
beforeAll(async () => {
  aws = await startAwsEmulator();
});
afterAll(async () => {
  await aws?.stop();
});

let n = 0;
// A fresh bucket (and prefix) per store keeps the listing tests independent.
async function makeStore(extra: Partial<ConstructorParameters<typeof S3Store>[0]> = {}) {
  const bucket = `turbowan-${n++}`;
  aws.server.createBucket(bucket);
  return new S3Store({
    bucket,
    prefix: "tw/",
    endpoint: aws.endpoint,
    region: aws.region,
    credentials: aws.credentials,
    ...extra,
  });
}

storeContract("s3 (fauxqs)", () => makeStore(), { urlsDownload: true });

describe("s3 store", () => {
  it("keeps everything under the prefix", async () => {
    const store = await makeStore();
    await store.putArtifact("jobs/a/video.mp4", new Uint8Array([1, 2, 3]), "video/mp4");
    const url = new URL(await store.url("jobs/a/video.mp4"));
    expect(url.pathname).toMatch(/\/tw\/files\/jobs\/a\/video\.mp4$/);
    expect(url.searchParams.get("X-Amz-Expires")).toBe("604800");
  });

  it("presigns with the configured expiry", async () => {
    const store = await makeStore({ urlExpirySeconds: 600 });
    await store.putArtifact("a.png", new Uint8Array([1]), "image/png");
    expect(new URL(await store.url("a.png")).searchParams.get("X-Amz-Expires")).toBe("600");
  });

  it("uses a public base URL when configured", async () => {
    const store = await makeStore({ publicBaseUrl: "https://cdn.example.com/v/" });
    expect(await store.url("jobs/a/video.mp4")).toBe("https://cdn.example.com/v/jobs/a/video.mp4");
  });

  it("says to create the bucket when it is missing", async () => {
    const store = new S3Store({ bucket: "missing-bucket", endpoint: aws.endpoint, region: aws.region, credentials: aws.credentials });
    await expect(store.getRecord("01abc")).rejects.toThrow(/does not exist: create it or fix TURBOWAN_S3_BUCKET/);
  });
});
