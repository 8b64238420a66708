// The cloud shape on loopback: SQS + S3 (fauxqs), the ingress job service from buildIngress, and
// `turbowan worker` as a real process configured only by environment variables, as in the container.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildIngress, type Ingress } from "../../../functions/cli/stack.js";
import { loadConfig } from "../../../functions/config.js";
import { silentLogger } from "../../../functions/log.js";
import { SqsQueue } from "../../../functions/queue/sqs.js";
import { startAwsEmulator, type AwsEmulator } from "../../support/aws-emulator.js";

const BIN = path.resolve("functions/cli/bin.mjs");
let aws: AwsEmulator;
let tmp: string;
let env: Record<string, string>;
let ingress: Ingress;
let worker: ChildProcess | undefined;

beforeAll(async () => {
  aws = await startAwsEmulator();
  tmp = mkdtempSync(path.join(os.tmpdir(), "tw-cloud-"));
  const q = await SqsQueue.createQueues({ endpoint: aws.endpoint, region: aws.region, credentials: aws.credentials, queueName: "turbowan-jobs-demo" });
  await q.close();
  // CreateQueue is idempotent and answers with the queue's URL.
  const sqs = new SQSClient({ endpoint: aws.endpoint, region: aws.region, credentials: aws.credentials });
  const urlOf = async (name: string) => (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const queueUrl = await urlOf("turbowan-jobs-demo");
  const dlqUrl = await urlOf("turbowan-jobs-demo-dlq");
  sqs.destroy();
  aws.server.createBucket("artifacts");
  env = {
    TURBOWAN_QUEUE: "sqs",
    TURBOWAN_SQS_QUEUE_URL: queueUrl,
    TURBOWAN_SQS_DLQ_URL: dlqUrl,
    TURBOWAN_STORE: "s3",
    TURBOWAN_S3_BUCKET: "artifacts",
    TURBOWAN_S3_PREFIX: "jobs/",
    AWS_REGION: aws.region,
    AWS_ENDPOINT_URL: aws.endpoint,
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    TURBOWAN_MODELS_DIR: path.join(tmp, "models"),
    TURBOWAN_BACKEND: "cpu",
    TURBOWAN_MODELS: "demo",
  };
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" });
  ingress = await buildIngress(loadConfig(env), silentLogger, undefined, { console: false });
});
afterAll(async () => {
  if (worker && worker.exitCode === null) worker.kill("SIGKILL");
  await ingress?.core.close();
  await aws?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("cloud wiring (SQS + S3 on fauxqs)", () => {
  it("the ingress job service enqueues on SQS and records in S3", async () => {
    const { job } = await ingress.jobs.submit({
      kind: "t2v",
      prompt: "a paper boat on a river",
      options: { model: "demo", frames: 5, steps: 1 },
      replyTo: { platform: "cli" },
      requester: { platform: "cli", id: "test" },
      idempotencyKey: "cloud-1",
    });
    expect((await ingress.core.store.getRecord(job.id))?.status).toBe("queued");
    expect((await ingress.core.queue.stats()).visible).toBe(1);
  });

  it("`turbowan worker` takes the job from SQS, stores the mp4 in S3 and acks", async () => {
    const [job] = await ingress.jobs.list({ limit: 1 });
    worker = spawn(process.execPath, [BIN, "worker", "--grace", "5"], {
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? tmp, LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    worker.stderr!.on("data", (d) => (stderr += String(d)));
    const until = Date.now() + 90_000;
    let record = await ingress.core.store.getRecord(job!.id);
    while (record?.status !== "succeeded" && record?.status !== "failed" && Date.now() < until && worker.exitCode === null) {
      await new Promise((r) => setTimeout(r, 200));
      record = await ingress.core.store.getRecord(job!.id);
    }
    expect(record?.status, `${record?.error ?? ""} ${stderr}`).toBe("succeeded");
    expect(await ingress.core.store.exists(record!.artifacts.video!)).toBe(true);
    expect(await ingress.core.store.url(record!.artifacts.video!)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/artifacts\/jobs\/.*video\.mp4\?.*X-Amz-Signature=/);
    const exited = new Promise<number | null>((resolve) => worker!.on("exit", (code) => resolve(code)));
    worker.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(await ingress.core.queue.stats()).toMatchObject({ visible: 0, inFlight: 0 });
  }, 120_000);
});
