// Pure rendering of GitHub comments: the result (preview inline, mp4 link), a failure that says
// why, a refused command. Comments never contain a `/turbowan` line, so they cannot trigger us.
import type { JobRecord } from "../../functions/jobs/model.js";
import { describeOptions } from "../grammar.js";

function quote(text: string): string {
  const short = text.length > 500 ? text.slice(0, 497) + "…" : text;
  return short
    .split("\n")
    .map((l) => `> ${l}`)
    .join("\n");
}

/** Keeps user text from pinging people or closing our markdown. */
function neutral(text: string): string {
  return text.replace(/@/g, "@\u200b").replace(/^\/turbowan/gm, "/\u200bturbowan");
}

export function renderResultComment(job: JobRecord, urls: { video: string; poster?: string; preview?: string }, mention: string): string {
  const image = urls.preview ?? urls.poster;
  const secs = job.finishedAt && job.startedAt ? ` in ${((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000).toFixed(1)} s` : "";
  return [
    `@${mention} your video is ready${secs}.`,
    "",
    quote(neutral(job.request.prompt)),
    "",
    image ? `[![video preview](${image})](${urls.video})` : undefined,
    image ? "" : undefined,
    `🎬 **[Download the mp4](${urls.video})** · ${describeOptions(job.request.options, job.seed)} · job \`${job.id}\``,
  ]
    .filter((l) => l !== undefined)
    .join("\n");
}

export function renderFailureComment(job: JobRecord, error: string, mention: string): string {
  return [
    `@${mention} the video failed: ${neutral(error)}`,
    "",
    quote(neutral(job.request.prompt)),
    "",
    "Post the command again to retry, or change it first if the reason above asks for that.",
    `<sub>job \`${job.id}\`</sub>`,
  ].join("\n");
}

export function renderCancelledComment(job: JobRecord, mention: string): string {
  return `@${mention} the video was cancelled.\n\n${quote(neutral(job.request.prompt))}\n\n<sub>job \`${job.id}\`</sub>`;
}

export function renderRejectedComment(error: string, mention: string): string {
  return `@${mention} ${neutral(error)}\n\nExample: \`/turbowan "a red fox in snow" --aspect 9:16 --steps 4\``;
}
