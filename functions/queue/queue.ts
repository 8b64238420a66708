// The job queue contract. Two drivers implement it (sqlite.ts: embedded default; sqs.ts: AWS) and
// pass one contract suite (test/functions/queue/contract.ts).
//
// Semantics (both drivers):
// - At-least-once: a received message is leased for visibilityTimeoutSeconds; without ack it becomes
//   visible again and is redelivered. Consumers must be idempotent (the job id is the key).
// - receiveCount counts deliveries. A message already delivered maxReceives times is moved to the
//   dead-letter queue on the next attempt to deliver it instead of being delivered again.
// - ack with a stale receipt (the lease expired and someone else took the message) does nothing;
//   extendVisibility with a stale receipt throws LeaseLostError so a heartbeat can tell.
// - release(receipt, delay) hands the message back without acking: visible again after delay seconds
//   (a delayed retry). It keeps its receive count.

/** What travels on the queue: the job record holds everything else. */
export interface JobMessage {
  jobId: string;
  /** Model name, also sent as the `model` attribute so receives can be routed by model. */
  model: string;
}

export interface SendOptions {
  /** Seconds before the message can be received (SQS caps this at 900). */
  delaySeconds?: number;
  /** Extra string attributes; `model` is always set from the message. */
  attributes?: Record<string, string>;
}

export interface ReceiveOptions {
  /** Most messages to return (1–10). Default 1. */
  max?: number;
  /** Long-poll up to this many seconds when nothing is visible. Default 0 (return at once). */
  waitSeconds?: number;
  /** Lease length for the returned messages. Default: the driver's visibility timeout. */
  visibilityTimeoutSeconds?: number;
  /** Only messages for this model. */
  model?: string;
  /** Stops a long poll early (worker shutdown); resolves with what was received so far (usually []). */
  signal?: AbortSignal;
}

export interface ReceivedMessage {
  id: string;
  body: JobMessage;
  /** Opaque lease token for ack/extendVisibility/release; valid until the lease expires. */
  receipt: string;
  /** 1 on first delivery. */
  receiveCount: number;
  attributes: Record<string, string>;
  /** ms since epoch when the message was first sent. */
  sentAt: number;
}

export interface DeadLetter {
  id: string;
  body: JobMessage;
  /** At least the deliveries before dead-lettering (SQS counts the listing itself too). */
  receiveCount: number;
  attributes: Record<string, string>;
  sentAt: number;
}

export interface QueueStats {
  /** Receivable now. */
  visible: number;
  /** Leased by a consumer (SQS also counts released-with-delay messages here). */
  inFlight: number;
  /** Sent with a delay, or released with a delay (sqlite), not yet visible. */
  delayed: number;
  /** In the dead-letter queue. */
  dead: number;
}

export interface Queue {
  /** Returns the message id. */
  send(message: JobMessage, options?: SendOptions): Promise<string>;
  receive(options?: ReceiveOptions): Promise<ReceivedMessage[]>;
  /** Heartbeat: the lease now ends `seconds` from now. Throws LeaseLostError if the lease is gone. */
  extendVisibility(receipt: string, seconds: number): Promise<void>;
  /** Done: delete the message. */
  ack(receipt: string): Promise<void>;
  /** Give the message back, receivable again after delaySeconds (default 0). */
  release(receipt: string, delaySeconds?: number): Promise<void>;
  /** Messages that exhausted their receives, oldest first (up to `limit`, default 100). */
  deadLetters(limit?: number): Promise<DeadLetter[]>;
  stats(): Promise<QueueStats>;
  close(): Promise<void>;
}

/** The lease behind a receipt expired or was taken over: stop working on the message or accept a duplicate. */
export class LeaseLostError extends Error {
  constructor(message = "The message lease was lost: its visibility timeout expired or it was received again.") {
    super(message);
    this.name = "LeaseLostError";
  }
}
