// The AWS SQS queue driver.
//
// Routing by model: SQS cannot filter a receive by attribute, so with routeByModel each model gets
// its own queue, named `<base>-<model>` ('.' → '_') next to the base queue, all redriving to one
// dead-letter queue (the AWS "one queue per runtime" layout). A worker that serves one model
// long-polls that model's queue; a receive without a model short-polls every model queue in turn.
// Without routeByModel there is one queue; the `model` attribute is still set on every message, and
// a receive filtered by model is refused (it cannot be honoured without consuming other messages).
//
// Heartbeats are ChangeMessageVisibility; release is ChangeMessageVisibility to the delay (so a
// released message counts as in flight until then); dead-lettering is SQS's own RedrivePolicy.
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  SQSServiceException,
} from "@aws-sdk/client-sqs";
import type { Message } from "@aws-sdk/client-sqs";
import { LONG_POLL_S, MAX_RECEIVES, VISIBILITY_TIMEOUT_S } from "./constants.js";
import { LeaseLostError } from "./queue.js";
import type {
  DeadLetter,
  JobMessage,
  Queue,
  QueueStats,
  ReceivedMessage,
  ReceiveOptions,
  SendOptions,
} from "./queue.js";

export interface SqsQueueOptions {
  /** The base queue (TURBOWAN_SQS_QUEUE_URL). */
  queueUrl: string;
  /** The dead-letter queue (TURBOWAN_SQS_DLQ_URL); needed for deadLetters() and stats().dead. */
  deadLetterQueueUrl?: string;
  /** A client, or the settings to build one (AWS_REGION, AWS_ENDPOINT_URL). */
  client?: SQSClient;
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** One queue per model (see the top of this file). */
  routeByModel?: boolean;
  /** The models a receive without a model polls, when routeByModel. */
  models?: readonly string[];
  /** Default lease for receives, and the queues' VisibilityTimeout when created here. */
  visibilityTimeoutSeconds?: number;
  /** maxReceiveCount of the RedrivePolicy when queues are created here. */
  maxReceives?: number;
}

const queueNameOf = (url: string) => url.slice(url.lastIndexOf("/") + 1);
const siblingUrl = (url: string, name: string) => url.slice(0, url.lastIndexOf("/") + 1) + name;
export const modelQueueName = (base: string, model: string) => `${base}-${model.replace(/[^A-Za-z0-9_-]/g, "_")}`;

export class SqsQueue implements Queue {
  private readonly client: SQSClient;
  private ownsClient: boolean;
  private readonly options: SqsQueueOptions;
  private readonly visibility: number;

  constructor(options: SqsQueueOptions) {
    this.options = options;
    this.ownsClient = !options.client;
    this.client =
      options.client ??
      new SQSClient({
        ...(options.region ? { region: options.region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
    this.visibility = options.visibilityTimeoutSeconds ?? VISIBILITY_TIMEOUT_S;
    if (options.routeByModel && !options.models?.length) {
      throw new Error("SqsQueue: routeByModel needs the list of models (options.models) to know which queues to poll.");
    }
  }

  /** Creates the dead-letter queue and the queue(s) with a RedrivePolicy, for local and dev use
   * (production queues come from infra/). Idempotent: CreateQueue returns an existing queue. */
  static async createQueues(
    options: Omit<SqsQueueOptions, "queueUrl" | "deadLetterQueueUrl"> & { queueName: string; deadLetterQueueName?: string },
  ): Promise<SqsQueue> {
    const probe = new SqsQueue({ ...options, queueUrl: "unused/unused", routeByModel: false });
    const client = probe.client;
    const dlqName = options.deadLetterQueueName ?? `${options.queueName}-dlq`;
    const dlq = await client.send(new CreateQueueCommand({ QueueName: dlqName }));
    const dlqArn = (
      await client.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"] }))
    ).Attributes?.QueueArn;
    const attributes = {
      VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? VISIBILITY_TIMEOUT_S),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: options.maxReceives ?? MAX_RECEIVES }),
    };
    const names = [options.queueName, ...(options.routeByModel ? (options.models ?? []).map((m) => modelQueueName(options.queueName, m)) : [])];
    let baseUrl = "";
    for (const name of names) {
      const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
      if (name === options.queueName) baseUrl = QueueUrl!;
    }
    const queue = new SqsQueue({ ...options, client, queueUrl: baseUrl, deadLetterQueueUrl: dlq.QueueUrl! });
    // The client was made here unless one was passed in: the queue owns it and closes it.
    queue.ownsClient = !options.client;
    return queue;
  }

  private urlFor(model: string): string {
    if (!this.options.routeByModel) return this.options.queueUrl;
    return siblingUrl(this.options.queueUrl, modelQueueName(queueNameOf(this.options.queueUrl), model));
  }

  async send(message: JobMessage, options: SendOptions = {}): Promise<string> {
    const attributes = { ...options.attributes, model: message.model };
    const url = this.urlFor(message.model);
    const out = await this.call(url, () =>
      this.client.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: JSON.stringify(message),
          ...(options.delaySeconds ? { DelaySeconds: options.delaySeconds } : {}),
          MessageAttributes: Object.fromEntries(
            Object.entries(attributes).map(([k, v]) => [k, { DataType: "String", StringValue: v }]),
          ),
        }),
      ),
    );
    return out.MessageId!;
  }

  async receive(options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const max = Math.max(1, Math.min(10, options.max ?? 1));
    const wait = Math.min(options.waitSeconds ?? 0, LONG_POLL_S);
    const visibility = options.visibilityTimeoutSeconds ?? this.visibility;
    if (options.model && !this.options.routeByModel) {
      throw new Error(
        "This SQS queue holds every model in one queue, so it cannot receive by model: " +
          "create the queue with routeByModel (one queue per model) or receive without a model.",
      );
    }
    if (options.model || !this.options.routeByModel) {
      const url = options.model ? this.urlFor(options.model) : this.options.queueUrl;
      return this.receiveFrom(url, max, wait, visibility, options.signal);
    }
    // Several queues: short polls in turn until something arrives or the wait is over. (Parallel long
    // polls would over-receive, and aborting one could strand messages it had already leased.)
    const deadline = Date.now() + wait * 1000;
    const urls = this.options.models!.map((m) => this.urlFor(m));
    for (;;) {
      const got: ReceivedMessage[] = [];
      for (const url of urls) {
        if (got.length >= max) break;
        got.push(...(await this.receiveFrom(url, max - got.length, 0, visibility, options.signal)));
      }
      if (got.length > 0 || Date.now() >= deadline || options.signal?.aborted) return got;
      await sleep(Math.min(500, deadline - Date.now()), options.signal);
    }
  }

  private async receiveFrom(
    url: string,
    max: number,
    waitSeconds: number,
    visibility: number,
    signal?: AbortSignal,
  ): Promise<ReceivedMessage[]> {
    if (signal?.aborted) return [];
    let out;
    try {
      out = await this.call(url, () =>
        this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: max,
            WaitTimeSeconds: waitSeconds,
            VisibilityTimeout: visibility,
            MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
            MessageAttributeNames: ["All"],
          }),
          signal ? { abortSignal: signal } : {},
        ),
      );
    } catch (err) {
      // Aborted long poll (worker shutdown): anything the server leased meanwhile comes back after
      // its visibility timeout.
      if (signal?.aborted) return [];
      throw err;
    }
    return (out.Messages ?? []).map((m) => toReceived(url, m));
  }

  async extendVisibility(receipt: string, seconds: number): Promise<void> {
    const { url, handle } = decodeReceipt(receipt);
    try {
      await this.client.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: handle, VisibilityTimeout: seconds }),
      );
    } catch (err) {
      if (isLeaseGone(err)) throw new LeaseLostError();
      throw err;
    }
  }

  async ack(receipt: string): Promise<void> {
    const { url, handle } = decodeReceipt(receipt);
    try {
      await this.client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: handle }));
    } catch (err) {
      if (!isLeaseGone(err)) throw err; // a stale receipt: someone else owns the message now
    }
  }

  async release(receipt: string, delaySeconds = 0): Promise<void> {
    const { url, handle } = decodeReceipt(receipt);
    try {
      await this.client.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: handle, VisibilityTimeout: delaySeconds }),
      );
    } catch (err) {
      if (!isLeaseGone(err)) throw err; // already visible again or taken: nothing to give back
    }
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    const url = this.options.deadLetterQueueUrl;
    if (!url) throw new Error("Set TURBOWAN_SQS_DLQ_URL (deadLetterQueueUrl) to list dead letters.");
    // SQS has no peek: receive with a zero visibility timeout leaves the messages where they are.
    // It also adds one to their receive count, which is why deadLetters reports "at least".
    const seen = new Map<string, DeadLetter>();
    for (let round = 0; round < 10 && seen.size < limit; round++) {
      const got = await this.receiveFrom(url, Math.min(10, limit - seen.size), 0, 0);
      if (got.length === 0) break;
      let fresh = 0;
      for (const m of got) {
        if (seen.has(m.id)) continue;
        fresh++;
        seen.set(m.id, { id: m.id, body: m.body, receiveCount: m.receiveCount, attributes: m.attributes, sentAt: m.sentAt });
      }
      if (fresh === 0) break;
    }
    return [...seen.values()].sort((a, b) => a.sentAt - b.sentAt);
  }

  async stats(): Promise<QueueStats> {
    const urls = this.options.routeByModel ? this.options.models!.map((m) => this.urlFor(m)) : [this.options.queueUrl];
    const total: QueueStats = { visible: 0, inFlight: 0, delayed: 0, dead: 0 };
    for (const url of urls) {
      const a = await this.attributes(url);
      total.visible += a.ApproximateNumberOfMessages;
      total.inFlight += a.ApproximateNumberOfMessagesNotVisible;
      total.delayed += a.ApproximateNumberOfMessagesDelayed;
    }
    if (this.options.deadLetterQueueUrl) {
      const d = await this.attributes(this.options.deadLetterQueueUrl);
      total.dead = d.ApproximateNumberOfMessages + d.ApproximateNumberOfMessagesNotVisible + d.ApproximateNumberOfMessagesDelayed;
    }
    return total;
  }

  private async attributes(url: string) {
    const names = [
      "ApproximateNumberOfMessages",
      "ApproximateNumberOfMessagesNotVisible",
      "ApproximateNumberOfMessagesDelayed",
    ] as const;
    const out = await this.call(url, () =>
      this.client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [...names] })),
    );
    const n = (k: (typeof names)[number]) => Number(out.Attributes?.[k] ?? 0);
    return {
      ApproximateNumberOfMessages: n("ApproximateNumberOfMessages"),
      ApproximateNumberOfMessagesNotVisible: n("ApproximateNumberOfMessagesNotVisible"),
      ApproximateNumberOfMessagesDelayed: n("ApproximateNumberOfMessagesDelayed"),
    };
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }

  // Turns "queue does not exist" into a sentence that says what to create.
  private async call<T>(url: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof QueueDoesNotExist || (err as { name?: string }).name === "AWS.SimpleQueueService.NonExistentQueue") {
        throw new Error(
          `The SQS queue ${url} does not exist: create it (infra/ deploys it; for local use call SqsQueue.createQueues) ` +
            `or fix TURBOWAN_SQS_QUEUE_URL.`,
          { cause: err },
        );
      }
      throw err;
    }
  }
}

function toReceived(url: string, m: Message): ReceivedMessage {
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) if (v.StringValue !== undefined) attributes[k] = v.StringValue;
  return {
    id: m.MessageId!,
    body: JSON.parse(m.Body!) as JobMessage,
    receipt: `${encodeURIComponent(url)}|${m.ReceiptHandle}`,
    receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
    attributes,
    sentAt: Number(m.Attributes?.SentTimestamp ?? Date.now()),
  };
}

// The receipt carries its queue's URL: with one queue per model, ack must know which queue to call.
function decodeReceipt(receipt: string): { url: string; handle: string } {
  const bar = receipt.indexOf("|");
  if (bar < 0) throw new Error("Not a receipt from SqsQueue.receive: pass the receipt of a received message.");
  return { url: decodeURIComponent(receipt.slice(0, bar)), handle: receipt.slice(bar + 1) };
}

function isLeaseGone(err: unknown): boolean {
  if (!(err instanceof SQSServiceException)) return false;
  if (/MessageNotInflight|ReceiptHandleIsInvalid/.test(err.name)) return true;
  // AWS reports an expired handle as InvalidParameterValue "… The receipt handle has expired."
  return err.name === "InvalidParameterValue" && /receipt ?handle/i.test(err.message);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
