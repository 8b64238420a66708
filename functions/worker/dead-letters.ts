// Jobs whose message went to the dead-letter queue (every delivery crashed or timed out) would stay
// "queued" or "running" forever: nobody will run them again. The sweep marks them failed, so the
// requester hears about it (a `failed` event) and can retry.
import type { Logger } from "pino";
import { markFailed, TERMINAL, type RecordContext } from "../jobs/records.js";
import type { Queue } from "../queue/queue.js";

export const DEAD_LETTER_MESSAGE =
  "This job stopped the worker on every attempt, so it was given up. Try again, perhaps with fewer frames or a lower resolution.";

/** One sweep; returns the ids it marked failed. */
export async function sweepDeadLetters(queue: Queue, ctx: RecordContext, log: Logger): Promise<string[]> {
  const marked: string[] = [];
  for (const letter of await queue.deadLetters()) {
    const record = await ctx.store.getRecord(letter.body.jobId);
    if (!record || TERMINAL.has(record.status)) continue;
    try {
      await markFailed(ctx, record.id, DEAD_LETTER_MESSAGE, { retryable: false });
      log.warn({ jobId: record.id, receiveCount: letter.receiveCount }, "job dead-lettered: marked failed");
      marked.push(record.id);
    } catch (err) {
      log.warn({ jobId: record.id, err }, "could not mark a dead-lettered job failed");
    }
  }
  return marked;
}

/** Sweeps now and every intervalMs until stopped. A queue that cannot list dead letters (SQS without
 * TURBOWAN_SQS_DLQ_URL) is reported once and not asked again. */
export function startDeadLetterSweeps(queue: Queue, ctx: RecordContext, log: Logger, intervalMs: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const run = async () => {
    try {
      await sweepDeadLetters(queue, ctx, log);
    } catch (err) {
      log.info({ err: (err as Error).message }, "dead-letter sweeps off: the queue cannot list dead letters");
      return;
    }
    if (!stopped) timer = setTimeout(run, intervalMs);
  };
  timer = setTimeout(run, 0);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
