// Delivers a job's end to the GitHub issue it came from: a comment with the preview inline and
// the mp4 link plus 🚀 on the command comment, or a comment that says why it failed plus 😕.
// Progress is not posted: GitHub counts every comment against content-creation limits.
import type { JobEvent } from "../../functions/jobs/model.js";
import { silentLogger, type BotLogger } from "../config.js";
import type { GitHubClient } from "./client.js";
import { renderCancelledComment, renderFailureComment, renderResultComment } from "./render.js";

export function createGitHubDelivery(deps: { client: GitHubClient; logger?: BotLogger }) {
  const log = deps.logger ?? silentLogger;
  const pending = new Set<Promise<void>>();

  async function post(event: JobEvent): Promise<void> {
    const r = event.job.request.replyTo;
    if (r.platform !== "github") return;
    const who = event.job.request.requester.id;
    const { client } = deps;
    if (event.type === "succeeded") {
      await client.comment(r.installationId, r.owner, r.repo, r.issueNumber, renderResultComment(event.job, event.urls, who));
      await client.react(r.installationId, r.owner, r.repo, r.commentId, "rocket");
    } else if (event.type === "failed" && !event.retryable) {
      // A retryable failure is not the end: the worker tries again, so nothing is posted yet.
      await client.comment(r.installationId, r.owner, r.repo, r.issueNumber, renderFailureComment(event.job, event.error, who));
      await client.react(r.installationId, r.owner, r.repo, r.commentId, "confused");
    } else if (event.type === "cancelled") {
      await client.comment(r.installationId, r.owner, r.repo, r.issueNumber, renderCancelledComment(event.job, who));
    }
  }

  return {
    async deliver(event: JobEvent): Promise<void> {
      const task = post(event).catch((err: unknown) =>
        log.warn({ err, jobId: event.job.id, event: event.type }, "github: could not post the result"),
      );
      pending.add(task);
      try {
        await task;
      } finally {
        pending.delete(task);
      }
    },
    async idle(): Promise<void> {
      await Promise.all([...pending]);
    },
  };
}
