// The queue consumer loop, in the manner of sqs-consumer: each poll is scheduled after the previous
// one finishes; a message being handled has its lease heartbeated well below the visibility timeout;
// stop() stops polling, waits for the message in flight (up to a grace period, then aborts it so
// the handler releases it back to the queue) and then reports stopped.
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { HEARTBEAT_INTERVAL_S, LONG_POLL_S, VISIBILITY_TIMEOUT_S } from "../queue/constants.js";
import { LeaseLostError, type Queue, type ReceivedMessage } from "../queue/queue.js";
import { silentLogger } from "../log.js";

/** What to do with a message once its handler returns. */
export type Disposition = { action: "ack" } | { action: "release"; delaySeconds?: number } | { action: "none" };

/** Why a handler's signal fired. */
export type AbortReason = "shutdown" | "lease-lost";

export interface HandlerContext {
  /** Fires when the worker shuts down past its grace period or the lease is lost. reason: AbortReason. */
  signal: AbortSignal;
}

export type MessageHandler = (message: ReceivedMessage, ctx: HandlerContext) => Promise<Disposition>;

export interface ConsumerOptions {
  queue: Queue;
  handle: MessageHandler;
  /** Models this consumer serves; each poll asks the queue for one of them in turn. Leave unset
   * where the queue itself is per model (SQS in the cloud: one queue per model). */
  models?: string[];
  visibilityTimeoutS?: number;
  heartbeatIntervalS?: number;
  /** Long poll length when serving one model. */
  waitSeconds?: number;
  /** Pause after an empty poll (ms); long polls make this small. */
  idleDelayMs?: number;
  /** Pause after a failed receive (ms). */
  errorDelayMs?: number;
  log?: Logger;
}

export interface ConsumerEvents {
  started: [];
  message_received: [ReceivedMessage];
  message_processed: [ReceivedMessage, Disposition];
  error: [Error, ReceivedMessage | undefined];
  empty: [];
  /** The loop is alive: a receive answered, or a lease heartbeat went through (health checks). */
  alive: [];
  stopped: [];
}

export class Consumer extends EventEmitter<ConsumerEvents> {
  private running = false;
  private pollTimer?: NodeJS.Timeout;
  private pollAbort?: AbortController;
  private inFlight?: { message: ReceivedMessage; abort: AbortController; done: Promise<void> };
  private loop?: Promise<void>;
  private modelCursor = 0;
  private readonly log: Logger;
  private readonly visibilityTimeoutS: number;
  private readonly heartbeatIntervalS: number;

  constructor(private readonly opts: ConsumerOptions) {
    super();
    this.log = opts.log ?? silentLogger;
    this.visibilityTimeoutS = opts.visibilityTimeoutS ?? VISIBILITY_TIMEOUT_S;
    this.heartbeatIntervalS = opts.heartbeatIntervalS ?? HEARTBEAT_INTERVAL_S;
    if (this.heartbeatIntervalS >= this.visibilityTimeoutS) {
      throw new Error(
        `The heartbeat interval (${this.heartbeatIntervalS} s) must be below the visibility timeout (${this.visibilityTimeoutS} s).`,
      );
    }
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** The message being handled now, if any. */
  get current(): ReceivedMessage | undefined {
    return this.inFlight?.message;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.log.info({ models: this.opts.models }, "consumer started");
    this.emit("started");
    this.schedule(0);
  }

  /**
   * Stops polling and waits for the message in flight. After graceMs the handler's signal is
   * aborted with reason "shutdown" (it should release the message) and stop() waits for it to return.
   */
  async stop(opts: { graceMs?: number } = {}): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    clearTimeout(this.pollTimer);
    this.pollAbort?.abort();
    const current = this.inFlight;
    if (current) {
      const grace = opts.graceMs ?? 0;
      this.log.info({ messageId: current.message.id, jobId: current.message.body.jobId, graceMs: grace }, "stopping: waiting for the job in flight");
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        current.done.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), grace))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.log.warn({ jobId: current.message.body.jobId }, "grace period over: aborting the job in flight");
        current.abort.abort("shutdown" satisfies AbortReason);
        await current.done;
      }
    }
    await this.loop;
    if (wasRunning) {
      this.log.info("consumer stopped");
      this.emit("stopped");
    }
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.pollTimer = setTimeout(() => {
      this.loop = this.pollOnce().then((next) => this.schedule(next));
    }, delayMs);
  }

  private nextModel(): string | undefined {
    const models = this.opts.models;
    if (!models || models.length === 0) return undefined;
    return models[this.modelCursor++ % models.length];
  }

  /** One receive and, if a message came, its handling. Returns the delay before the next poll. */
  private async pollOnce(): Promise<number> {
    if (!this.running) return 0;
    const single = (this.opts.models?.length ?? 0) <= 1;
    this.pollAbort = new AbortController();
    let messages: ReceivedMessage[];
    try {
      messages = await this.opts.queue.receive({
        max: 1,
        waitSeconds: single ? (this.opts.waitSeconds ?? LONG_POLL_S) : 0,
        visibilityTimeoutSeconds: this.visibilityTimeoutS,
        ...(this.opts.models?.length ? { model: this.nextModel() } : {}),
        signal: this.pollAbort.signal,
      });
    } catch (err) {
      if (!this.running) return 0;
      this.log.error({ err }, "receiving from the queue failed");
      this.emit("error", err as Error, undefined);
      return this.opts.errorDelayMs ?? 1000;
    }
    this.emit("alive");
    const message = messages[0];
    if (!message) {
      this.emit("empty");
      return this.opts.idleDelayMs ?? (single ? 0 : 250);
    }
    if (!this.running) {
      // Received as we were stopping: hand it straight back.
      await this.opts.queue.release(message.receipt, 0).catch(() => undefined);
      return 0;
    }
    await this.process(message);
    return 0;
  }

  private async process(message: ReceivedMessage): Promise<void> {
    const abort = new AbortController();
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    this.inFlight = { message, abort, done };
    const log = this.log.child({ jobId: message.body.jobId, messageId: message.id });
    this.emit("message_received", message);
    const heartbeat = setInterval(() => {
      this.opts.queue.extendVisibility(message.receipt, this.visibilityTimeoutS).then(
        () => {
          log.debug("lease extended");
          this.emit("alive");
        },
        (err) => {
          if (err instanceof LeaseLostError) {
            log.warn("lease lost: another worker may take this job; stopping it");
            abort.abort("lease-lost" satisfies AbortReason);
          } else {
            log.warn({ err }, "heartbeat failed; will retry at the next interval");
          }
        },
      );
    }, this.heartbeatIntervalS * 1000);
    try {
      let disposition: Disposition;
      try {
        disposition = await this.opts.handle(message, { signal: abort.signal });
      } catch (err) {
        log.error({ err }, "handler failed unexpectedly; releasing the message for a retry");
        this.emit("error", err as Error, message);
        disposition = { action: "release", delaySeconds: 10 };
      }
      clearInterval(heartbeat);
      try {
        if (disposition.action === "ack") await this.opts.queue.ack(message.receipt);
        else if (disposition.action === "release") await this.opts.queue.release(message.receipt, disposition.delaySeconds ?? 0);
      } catch (err) {
        // A stale receipt: the message comes back and the handler's idempotency takes care of it.
        log.warn({ err, action: disposition.action }, "could not settle the message");
      }
      this.emit("message_processed", message, disposition);
    } finally {
      clearInterval(heartbeat);
      this.inFlight = undefined;
      resolveDone();
    }
  }
}
