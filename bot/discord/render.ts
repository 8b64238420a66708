// Pure rendering: job events → Discord message bodies. No I/O here; deliver.ts decides where a
// body goes (original response, follow-up or channel message) and attaches files.
import { ButtonStyle, ComponentType, MessageFlags, type APIActionRowComponent, type APIButtonComponent, type APIInteractionResponse } from "discord.js";
import type { JobProgress, JobRecord } from "../../functions/jobs/model.js";
import { describeOptions } from "../grammar.js";
import type { MessageBody } from "./api.js";

export const BUTTON_PREFIX = "turbowan";
export type ButtonAction = "reroll" | "hd" | "retry";

export function buttonId(action: ButtonAction, jobId: string): string {
  return `${BUTTON_PREFIX}:${action}:${jobId}`;
}

export function parseButtonId(customId: string): { action: ButtonAction; jobId: string } | undefined {
  const m = /^turbowan:(reroll|hd|retry):([A-Za-z0-9_-]{1,80})$/.exec(customId);
  return m ? { action: m[1] as ButtonAction, jobId: m[2]! } : undefined;
}

const STAGE_NAMES: Record<JobProgress["stage"], string> = {
  queued: "Waiting in the queue",
  load: "Loading the model",
  "encode-text": "Reading the prompt",
  "encode-image": "Reading the image",
  denoise: "Sampling",
  decode: "Decoding frames",
  "encode-video": "Encoding the mp4",
  upload: "Uploading",
};

// Rough share of the whole job each stage takes, so the bar moves steadily.
const STAGE_SPAN: Record<JobProgress["stage"], [number, number]> = {
  queued: [0, 0],
  load: [0, 0.1],
  "encode-text": [0.1, 0.15],
  "encode-image": [0.15, 0.2],
  denoise: [0.2, 0.8],
  decode: [0.8, 0.92],
  "encode-video": [0.92, 0.97],
  upload: [0.97, 1],
};

export function progressFraction(p: JobProgress): number {
  const [a, b] = STAGE_SPAN[p.stage];
  const within = p.total > 0 ? Math.min(1, Math.max(0, p.step / p.total)) : 0;
  return a + (b - a) * within;
}

function bar(fraction: number, width = 12): string {
  const full = Math.round(fraction * width);
  return "█".repeat(full) + "░".repeat(width - full);
}

function elapsed(job: JobRecord, now: number): string {
  const start = Date.parse(job.startedAt ?? job.createdAt);
  const s = Math.max(0, Math.round((now - start) / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

function quotePrompt(prompt: string): string {
  const short = prompt.length > 300 ? prompt.slice(0, 297) + "…" : prompt;
  return `> ${short.replace(/\n/g, "\n> ")}`;
}

function header(job: JobRecord): string {
  return `🎬 **${job.request.kind === "i2v" ? "Image to video" : "Text to video"}** · \`${job.id}\`\n${quotePrompt(job.request.prompt)}`;
}

const noMentions: Pick<MessageBody, "allowed_mentions"> = { allowed_mentions: { parse: [] } };

export function renderQueued(job: JobRecord, position?: number): MessageBody {
  const where = position ? ` — #${position} in the queue` : "";
  return { content: `${header(job)}\n⏳ Queued${where}.`, components: [], ...noMentions };
}

export function renderStarted(job: JobRecord, now: number): MessageBody {
  return { content: `${header(job)}\n⚙️ Starting… ⏱️ ${elapsed(job, now)}`, components: [], ...noMentions };
}

export function renderProgress(job: JobRecord, progress: JobProgress, now: number): MessageBody {
  const f = progressFraction(progress);
  const steps = progress.total > 0 ? ` (${progress.step}/${progress.total})` : "";
  return {
    content: `${header(job)}\n📊 ${bar(f)} ${Math.round(f * 100)}% · ${STAGE_NAMES[progress.stage]}${steps} · ⏱️ ${elapsed(job, now)}`,
    components: [],
    ...noMentions,
  };
}

function resultButtons(job: JobRecord): APIActionRowComponent<APIButtonComponent>[] {
  const buttons: APIButtonComponent[] = [
    { type: ComponentType.Button, style: ButtonStyle.Primary, label: "Re-roll", emoji: { name: "🎲" }, custom_id: buttonId("reroll", job.id) },
  ];
  if (job.request.options.resolution !== "720p") {
    buttons.push({ type: ComponentType.Button, style: ButtonStyle.Secondary, label: "Same seed at 720p", emoji: { name: "🔍" }, custom_id: buttonId("hd", job.id) });
  }
  return [{ type: ComponentType.ActionRow, components: buttons }];
}

export interface ResultMedia {
  /** Set when the mp4 goes as an attachment. */
  attachmentName?: string;
  /** Set when it goes as a link (too large to attach). */
  link?: string;
  /** A note on why a link or a smaller copy was sent. */
  note?: string;
  /** Someone to ping (channel messages after the token window). */
  mentionUserId?: string;
}

export function renderSucceeded(job: JobRecord, media: ResultMedia, now: number): MessageBody {
  const took = job.finishedAt && job.startedAt ? `${((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000).toFixed(1)}s` : elapsed(job, now);
  const lines = [
    media.mentionUserId ? `<@${media.mentionUserId}> your video is ready.` : undefined,
    header(job),
    `✅ Done in ${took} · ${describeOptions(job.request.options, job.seed)}`,
    media.link ? `🔗 ${media.link}` : undefined,
    media.note ? `ℹ️ ${media.note}` : undefined,
  ].filter(Boolean);
  return {
    content: lines.join("\n"),
    components: resultButtons(job),
    allowed_mentions: media.mentionUserId ? { users: [media.mentionUserId] } : { parse: [] },
  };
}

/** A final failure: says why, with a Retry button (same options, same seed). */
export function renderFailed(job: JobRecord, error: string, mentionUserId?: string): MessageBody {
  const lines = [mentionUserId ? `<@${mentionUserId}>` : undefined, header(job), `❌ The video failed: ${error}`].filter(Boolean);
  const components: APIActionRowComponent<APIButtonComponent>[] = [
    { type: ComponentType.ActionRow, components: [{ type: ComponentType.Button, style: ButtonStyle.Danger, label: "Retry", emoji: { name: "🔁" }, custom_id: buttonId("retry", job.id) }] },
  ];
  return { content: lines.join("\n"), components, allowed_mentions: mentionUserId ? { users: [mentionUserId] } : { parse: [] } };
}

/** A failed attempt the worker will retry by itself. */
export function renderRetrying(job: JobRecord, error: string): MessageBody {
  return { content: `${header(job)}\n⚠️ Attempt ${job.attempts} failed (${error}); trying again…`, components: [], ...noMentions };
}

export function renderCancelled(job: JobRecord): MessageBody {
  return { content: `${header(job)}\n🛑 Cancelled${job.cancelledBy ? ` by ${job.cancelledBy.replace(/^discord:/, "")}` : ""}.`, components: [], ...noMentions };
}

/** A failed submission (image rejected, queue refused…) shown in the deferred response. */
export function renderSubmitError(error: string): MessageBody {
  return { content: `❌ ${error}`, components: [], ...noMentions };
}

const STATUS_ICON: Record<JobRecord["status"], string> = { queued: "⏳", running: "⚙️", succeeded: "✅", failed: "❌", cancelled: "🛑" };

export function renderJobList(jobs: JobRecord[]): string {
  if (jobs.length === 0) return "You have no videos yet. Start one with /video.";
  return jobs
    .map((j) => {
      const p = j.status === "running" && j.progress ? ` ${Math.round(progressFraction(j.progress) * 100)}%` : "";
      const prompt = j.request.prompt.length > 60 ? j.request.prompt.slice(0, 57) + "…" : j.request.prompt;
      return `${STATUS_ICON[j.status]} \`${j.id}\` ${j.status}${p} — ${prompt.replace(/\n/g, " ")}`;
    })
    .join("\n");
}

/** An immediate reply only the caller sees. */
export function ephemeral(content: string): APIInteractionResponse {
  return { type: 4, data: { content, flags: MessageFlags.Ephemeral, allowed_mentions: { parse: [] } } };
}
