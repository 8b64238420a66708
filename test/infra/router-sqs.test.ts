// The intake router between the real SQS driver on both sides, on an SQS emulator: the ingress's
// SqsQueue sends to turbowan-jobs, the router (infra/lambda/router/index.mjs) moves each message
// the way Lambda's SQS event source hands it over, and each model's worker-side SqsQueue receives
// only its own jobs, with the attributes it expects.
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modelQueueName, SqsQueue } from "../../functions/queue/sqs.js";
import { createRouter, type RouterRecord, type SendEntry } from "../../infra/lambda/router/index.mjs";
import { BASE_QUEUE_NAME } from "../../infra/lib/stack.js";
import { startAwsEmulator, type AwsEmulator } from "../support/aws-emulator.js";

const SMALL = "wan2.1-t2v-1.3b";
const BIG = "wan2.1-t2v-14b";
let aws: AwsEmulator;
let sqs: SQSClient;
const urls: Record<string, string> = {};

beforeAll(async () => {
  aws = await startAwsEmulator();
  sqs = new SQSClient({ region: aws.region, endpoint: aws.endpoint, credentials: aws.credentials });
  for (const name of [BASE_QUEUE_NAME, modelQueueName(BASE_QUEUE_NAME, SMALL), modelQueueName(BASE_QUEUE_NAME, BIG)]) {
    urls[name] = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  }
});
afterAll(async () => {
  sqs?.destroy();
  await aws?.stop();
});

const driver = (queueUrl: string) => new SqsQueue({ queueUrl, region: aws.region, endpoint: aws.endpoint, credentials: aws.credentials });

/** What Lambda's SQS event source does: receive a batch and hand it over as event records. */
async function pollIntake(): Promise<{ records: RouterRecord[]; receipts: Map<string, string> }> {
  const out = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: urls[BASE_QUEUE_NAME], MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ["All"] }),
  );
  const receipts = new Map<string, string>();
  const records = (out.Messages ?? []).map((m) => {
    receipts.set(m.MessageId!, m.ReceiptHandle!);
    return {
      messageId: m.MessageId!,
      body: m.Body!,
      messageAttributes: Object.fromEntries(
        Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, { dataType: v.DataType!, stringValue: v.StringValue }]),
      ),
    };
  });
  return { records, receipts };
}

describe("intake router on SQS", () => {
  it("delivers each job to its model's queue, where the worker's driver receives it", async () => {
    const ingress = driver(urls[BASE_QUEUE_NAME]!);
    await ingress.send({ jobId: "job-big", model: BIG });
    await ingress.send({ jobId: "job-small", model: SMALL });

    const route = createRouter({
      routes: { [SMALL]: urls[modelQueueName(BASE_QUEUE_NAME, SMALL)]!, [BIG]: urls[modelQueueName(BASE_QUEUE_NAME, BIG)]! },
      sendBatch: (QueueUrl: string, Entries: SendEntry[]) => sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries })),
    });
    const seen: RouterRecord[] = [];
    for (let i = 0; i < 5 && seen.length < 2; i++) {
      const { records, receipts } = await pollIntake();
      const result = await route({ Records: records });
      expect(result.batchItemFailures).toEqual([]);
      // Lambda deletes a batch's successful messages.
      for (const r of records) await sqs.send(new DeleteMessageCommand({ QueueUrl: urls[BASE_QUEUE_NAME], ReceiptHandle: receipts.get(r.messageId)! }));
      seen.push(...records);
    }
    expect(seen).toHaveLength(2);

    for (const [model, jobId] of [[BIG, "job-big"], [SMALL, "job-small"]] as const) {
      const worker = driver(urls[modelQueueName(BASE_QUEUE_NAME, model)]!);
      const got = await worker.receive({ waitSeconds: 1 });
      expect(got.map((m) => m.body)).toEqual([{ jobId, model }]);
      expect(got[0]!.attributes.model).toBe(model);
      await worker.ack(got[0]!.receipt);
      expect(await worker.receive({ waitSeconds: 0 })).toEqual([]);
      await worker.close();
    }
    await ingress.close();
  });
});
