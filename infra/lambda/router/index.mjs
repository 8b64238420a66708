// Moves each job from the intake queue (where the ingress sends everything) to its model's queue,
// by the `model` message attribute the queue driver sets (or `model` in the JSON body). Per-model
// queues keep a 1.3B job from waiting behind a 14B model swap and let each model's GPU service
// scale on its own backlog. Plain ESM JavaScript: Lambda runs it as is, with the AWS SDK that the
// Node.js runtime ships.
//
// ROUTES (env): JSON {"<model>": "<queue url>"}. A message for an unknown model is reported as a
// batch item failure, so after the intake redrive count it lands in the intake dead-letter queue.
import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";

/** @param {{ routes: Record<string, string>, sendBatch: (queueUrl: string, entries: object[]) => Promise<{ Failed?: { Id: string }[] }> }} deps */
export function createRouter({ routes, sendBatch }) {
  /** @param {{ Records: any[] }} event */
  return async function route(event) {
    const failures = [];
    /** @type {Map<string, { record: any, entry: object }[]>} */
    const byQueue = new Map();
    for (const record of event.Records) {
      const model = modelOf(record);
      const url = model === undefined ? undefined : routes[model];
      if (!url) {
        console.error(JSON.stringify({ msg: "no queue for this model", model, messageId: record.messageId }));
        failures.push({ itemIdentifier: record.messageId });
        continue;
      }
      const list = byQueue.get(url) ?? [];
      list.push({ record, entry: { Id: String(list.length), MessageBody: record.body, MessageAttributes: toSendAttributes(record.messageAttributes) } });
      byQueue.set(url, list);
    }
    for (const [url, items] of byQueue) {
      for (let i = 0; i < items.length; i += 10) {
        const chunk = items.slice(i, i + 10);
        try {
          const out = await sendBatch(url, chunk.map((c) => c.entry));
          const failed = new Set((out.Failed ?? []).map((f) => f.Id));
          for (const c of chunk) if (failed.has(c.entry.Id)) failures.push({ itemIdentifier: c.record.messageId });
        } catch (err) {
          console.error(JSON.stringify({ msg: "send to model queue failed", url, error: String(err) }));
          for (const c of chunk) failures.push({ itemIdentifier: c.record.messageId });
        }
      }
    }
    return { batchItemFailures: failures };
  };
}

function modelOf(record) {
  const attr = record.messageAttributes?.model?.stringValue;
  if (attr) return attr;
  try {
    const body = JSON.parse(record.body);
    return typeof body?.model === "string" ? body.model : undefined;
  } catch {
    return undefined;
  }
}

/** Lambda's event shape ({stringValue, dataType}) → SendMessage's ({StringValue, DataType}). */
function toSendAttributes(attrs) {
  if (!attrs) return undefined;
  const out = {};
  for (const [name, a] of Object.entries(attrs)) {
    out[name] =
      a.binaryValue !== undefined && a.binaryValue !== null
        ? { DataType: a.dataType, BinaryValue: Buffer.from(a.binaryValue, "base64") }
        : { DataType: a.dataType, StringValue: a.stringValue };
  }
  return Object.keys(out).length ? out : undefined;
}

let live;
/** The Lambda entry point. */
export async function handler(event) {
  if (!live) {
    const sqs = new SQSClient({});
    live = createRouter({
      routes: JSON.parse(process.env.ROUTES ?? "{}"),
      sendBatch: (QueueUrl, Entries) => sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries })),
    });
  }
  return live(event);
}
