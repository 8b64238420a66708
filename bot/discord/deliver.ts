// Delivers a job's events to the Discord interaction that asked for it: progress edits to the
// original response (throttled, latest-wins), then the result with the mp4 attached when it fits
// the channel's upload limit (else a smaller copy, else a link). After the 15-minute interaction
// token window the result goes to the channel with the bot token instead.
import type { JobArtifacts, JobEvent, JobRecord, ReplyTo } from "../../functions/jobs/model.js";
import type { BotLogger } from "../config.js";
import { silentLogger } from "../config.js";
import { isTokenGone, isTooLarge, isNotYetKnown, isUnknownMessage, type DiscordApi, type MessageBody, type UploadFile } from "./api.js";
import { renderCancelled, renderFailed, renderProgress, renderQueued, renderRetrying, renderStarted, renderSucceeded, type ResultMedia } from "./render.js";
import { DEFAULT_ATTACHMENT_LIMIT } from "./to-job.js";

export const TOKEN_LIFETIME_MS = 15 * 60_000;
/** Stop using the token a little early: a request started at 14:59 may land after 15:00. */
export const TOKEN_MARGIN_MS = 30_000;

type DiscordReply = Extract<ReplyTo, { platform: "discord" }>;

/** A re-encoded copy the worker may add when the mp4 is large (optional fields on artifacts). */
type ArtifactsWithSmall = JobArtifacts & { videoSmall?: string; videoSmallBytes?: number };

export interface DiscordDeliveryDeps {
  api: DiscordApi;
  readArtifact(key: string): Promise<Uint8Array | undefined>;
  clock?: () => number;
  progressIntervalMs?: number;
  logger?: BotLogger;
}

interface JobState {
  lastSentAt: number;
  timer?: ReturnType<typeof setTimeout>;
  /** Settles when the pending throttled edit has been sent (or dropped). */
  timerDone?: Promise<void>;
  settleTimer?: () => void;
  pending?: MessageBody;
  chain: Promise<void>;
  done: boolean;
}

function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export function createDiscordDelivery(deps: DiscordDeliveryDeps) {
  const now = deps.clock ?? Date.now;
  const interval = deps.progressIntervalMs ?? 3000;
  const log = deps.logger ?? silentLogger;
  const states = new Map<string, JobState>();

  const stateOf = (id: string, r?: DiscordReply): JobState => {
    let s = states.get(id);
    if (!s) {
      // The deferred reply counts as the first message: the first edit waits one interval after
      // it, so it never reaches Discord before the reply it edits.
      s = { lastSentAt: r ? r.tokenIssuedAt : -Infinity, chain: Promise.resolve(), done: false };
      states.set(id, s);
    }
    return s;
  };
  const enqueue = (s: JobState, jobId: string, what: string, work: () => Promise<void>) => {
    s.chain = s.chain.then(work).catch((err: unknown) => log.warn({ err, jobId, what }, "discord: delivery failed"));
    return s.chain;
  };
  const tokenValid = (r: DiscordReply) => now() - r.tokenIssuedAt < TOKEN_LIFETIME_MS - TOKEN_MARGIN_MS;

  async function editOriginal(r: DiscordReply, body: MessageBody, files?: UploadFile[]): Promise<void> {
    try {
      await deps.api.editOriginal(r.applicationId, r.interactionToken, body, files);
    } catch (err) {
      // Right after the deferred reply Discord may not know the message yet: wait once and retry.
      if (isNotYetKnown(err) && now() - r.tokenIssuedAt < 10_000) {
        await new Promise((res) => setTimeout(res, 1000));
        await deps.api.editOriginal(r.applicationId, r.interactionToken, body, files);
        return;
      }
      throw err;
    }
  }

  /** Progress-type updates: latest wins, at most one edit per interval, none after the window. */
  function update(job: JobRecord, r: DiscordReply, body: MessageBody): void {
    const s = stateOf(job.id, r);
    if (s.done) return;
    if (!tokenValid(r)) {
      // Past the token window nothing more is edited; the result goes to the channel.
      if (!s.timer) states.delete(job.id);
      return;
    }
    const since = now() - s.lastSentAt;
    if (since >= interval && !s.timer) {
      s.lastSentAt = now();
      void enqueue(s, job.id, "progress", () => editOriginal(r, body));
      return;
    }
    s.pending = body;
    if (!s.timer) {
      let settle!: () => void;
      s.timerDone = new Promise<void>((res) => (settle = res));
      s.settleTimer = settle;
      s.timer = setTimeout(() => {
        s.timer = undefined;
        const latest = s.pending;
        s.pending = undefined;
        if (!latest || s.done || !tokenValid(r)) return settle();
        s.lastSentAt = now();
        void enqueue(s, job.id, "progress", () => editOriginal(r, latest)).then(settle);
      }, interval - since);
      s.timer.unref?.();
    }
  }

  /** The last message of a job: in the original response while the token lives, else the channel. */
  async function final(job: JobRecord, r: DiscordReply, render: (media: ResultMedia) => MessageBody, files?: UploadFile[], fallback?: ResultMedia): Promise<void> {
    const s = stateOf(job.id, r);
    s.done = true;
    if (s.timer) clearTimeout(s.timer);
    s.settleTimer?.();
    s.timer = undefined;
    s.timerDone = undefined;
    s.pending = undefined;
    const userId = job.request.requester.id;
    const primary: ResultMedia = files ? { attachmentName: files[0]!.name } : (fallback ?? {});
    const toChannel = async (reason: string) => {
      if (!deps.api.hasBotToken) {
        log.warn({ jobId: job.id, reason }, "discord: token window over and no DISCORD_BOT_TOKEN; the result cannot be posted");
        return;
      }
      if (!r.channelId) return;
      try {
        await deps.api.createChannelMessage(r.channelId, render({ ...primary, mentionUserId: userId }), files);
      } catch (err) {
        if (files && isTooLarge(err) && fallback) {
          await deps.api.createChannelMessage(r.channelId, render({ ...fallback, mentionUserId: userId }));
          return;
        }
        throw err;
      }
    };
    await enqueue(s, job.id, "result", async () => {
      if (!tokenValid(r)) return toChannel("expired");
      try {
        await editOriginal(r, render(primary), files);
      } catch (err) {
        if (files && isTooLarge(err) && fallback) {
          await editOriginal(r, render(fallback));
        } else if (isTokenGone(err)) {
          await toChannel("token refused");
        } else if (isUnknownMessage(err)) {
          // The "thinking…" message was deleted: a follow-up on the same token still reaches them.
          await deps.api.followUp(r.applicationId, r.interactionToken, render(primary), files);
        } else {
          throw err;
        }
      }
    });
    states.delete(job.id);
  }

  /** Chooses the mp4 to attach: the video, else the worker's smaller copy, else none (a link). */
  async function resultFiles(job: JobRecord, r: DiscordReply, videoUrl: string): Promise<{ files?: UploadFile[]; fallback: ResultMedia }> {
    const limit = r.attachmentSizeLimit ?? DEFAULT_ATTACHMENT_LIMIT;
    const a = job.artifacts as ArtifactsWithSmall;
    const overNote = (bytes: number | undefined) =>
      `The video${bytes ? ` is ${mb(bytes)},` : " is"} over this channel's ${mb(limit)} upload limit, so here is a link.`;
    const fallback: ResultMedia = { link: videoUrl, note: overNote(a.videoBytes) };
    const candidates = [
      { key: a.video, bytes: a.videoBytes, small: false },
      { key: a.videoSmall, bytes: a.videoSmallBytes, small: true },
    ];
    for (const c of candidates) {
      if (!c.key || (c.bytes !== undefined && c.bytes > limit)) continue;
      const data = await deps.readArtifact(c.key);
      if (!data || data.byteLength > limit) continue;
      const files = [{ name: `turbowan-${job.id}${c.small ? "-small" : ""}.mp4`, data, contentType: "video/mp4" }];
      return { files, fallback };
    }
    return { fallback };
  }

  async function deliver(event: JobEvent): Promise<void> {
    const r = event.job.request.replyTo;
    if (r.platform !== "discord") return;
    const job = event.job;
    switch (event.type) {
      case "queued":
        return update(job, r, renderQueued(job, event.position));
      case "started":
        return update(job, r, renderStarted(job, now()));
      case "progress":
        return update(job, r, renderProgress(job, event.progress, now()));
      case "succeeded": {
        const { files, fallback } = await resultFiles(job, r, event.urls.video);
        const small = files?.[0]?.name.endsWith("-small.mp4");
        const note = small ? `A smaller copy to fit this channel's upload limit; full quality: ${event.urls.video}` : undefined;
        return final(job, r, (media) => renderSucceeded(job, { ...media, ...(note && media.attachmentName ? { note } : {}) }, now()), files, fallback);
      }
      case "failed":
        // retryable: the job went back to the queue and the worker tries again; not the end.
        if (event.retryable) return update(job, r, renderRetrying(job, event.error));
        return final(job, r, (media) => renderFailed(job, event.error, media.mentionUserId));
      case "cancelled":
        return final(job, r, () => renderCancelled(job));
    }
  }

  return {
    deliver,
    /** Waits until every job's pending and throttled edits have been sent (tests, shutdown). */
    async idle(): Promise<void> {
      for (;;) {
        const waits = [...states.values()].flatMap((s) => [s.chain, ...(s.timerDone ? [s.timerDone] : [])]);
        const before = [...states.values()].map((s) => s.chain);
        await Promise.all(waits);
        const after = [...states.values()].map((s) => s.chain);
        if (before.length === after.length && before.every((c, i) => c === after[i]) && [...states.values()].every((s) => !s.timer)) return;
      }
    },
  };
}
