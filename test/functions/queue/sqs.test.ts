import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODELS } from "../../../functions/jobs/model.js";
import { SqsQueue } from "../../../functions/queue/sqs.js";
import { startAwsEmulator } from "../../support/aws-emulator.js";
import type { AwsEmulator } from "../../support/aws-emulator.js";
import { queueContract } from "./contract.js";

let aws: AwsEmulator;
beforeAll(async () => {
  aws = await startAwsEmulator();
});
afterAll(async () => {
  await aws?.stop();
});

let n = 0;
const client = () => ({ endpoint: aws.endpoint, region: aws.region, credentials: aws.credentials });

// The contract needs receive-by-model, so it runs on the one-queue-per-model layout.
queueContract("sqs (fauxqs, one queue per model)", (o) =>
  SqsQueue.createQueues({ ...client(), ...o, queueName: `jobs${n++}`, routeByModel: true, models: MODELS }),
);

// The default layout (what TURBOWAN_SQS_QUEUE_URL alone gives): one queue, every model.
queueContract(
  "sqs (fauxqs, one queue)",
  (o) => SqsQueue.createQueues({ ...client(), ...o, queueName: `single${n++}` }),
  { routesByModel: false },
);

describe("sqs queue", () => {
  it("sets a RedrivePolicy to the dead-letter queue on the queues it creates", async () => {
    const q = await SqsQueue.createQueues({ ...client(), queueName: "redrive", maxReceives: 5 });
    const inspected = aws.server.inspectQueue("redrive");
    expect(JSON.parse(inspected!.attributes.RedrivePolicy!)).toMatchObject({ maxReceiveCount: 5 });
    expect(JSON.parse(inspected!.attributes.RedrivePolicy!).deadLetterTargetArn).toMatch(/redrive-dlq$/);
    await q.close();
  });

  it("one queue for all models: carries the model attribute and refuses a receive by model", async () => {
    const q = await SqsQueue.createQueues({ ...client(), queueName: "all-models" });
    await q.send({ jobId: "a", model: "demo" });
    const [m] = await q.receive({ waitSeconds: 1 });
    expect(m?.attributes.model).toBe("demo");
    await expect(q.receive({ model: "demo" })).rejects.toThrow(/cannot receive by model/);
    await q.close();
  });

  it("says which queue is missing and how to create it", async () => {
    const q = new SqsQueue({ ...client(), queueUrl: `${aws.endpoint}/000000000000/nope` });
    await expect(q.send({ jobId: "x", model: "demo" })).rejects.toThrow(/does not exist: create it/);
    await q.close();
  });
});
