// The GitHub App webhook endpoint (mounted at /github/webhooks). Verifies X-Hub-Signature-256
// with @octokit/webhooks, routes issue_comment.created through it, and answers 2xx at once: the
// 👀 reaction, image download and replies run after the response. A redelivery (same
// X-GitHub-Delivery, or the same comment) never makes a second job: the job's idempotency key is
// the comment id.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { EmitterWebhookEvent } from "@octokit/webhooks";
import type { JobService } from "../../functions/jobs/service.js";
import { JobRejectedError } from "../../functions/jobs/service.js";
import { silentLogger, type BotLogger, type GitHubConfigInput } from "../config.js";
import { downloadImage } from "../download.js";
import { GITHUB_IMAGE_HOSTS } from "../grammar.js";
import { createLimits, type Limits } from "../limits.js";
import { createGitHubClient, type GitHubClient } from "./client.js";
import { renderRejectedComment } from "./render.js";
import { decideComment, toJobRequest, type CommentDecision, type CommentTarget } from "./to-job.js";

export interface GitHubDeps {
  jobs: JobService;
  config: GitHubConfigInput;
  logger?: BotLogger;
  /** Same as logger (the name the CLI's wiring passes). */
  log?: BotLogger;
  limits?: Limits;
  clock?: () => number;
  client?: GitHubClient;
  /** Used to download images attached to comments (tests point it at a stand-in). */
  fetchImpl?: typeof fetch;
  waitUntil?: (task: Promise<unknown>) => void;
}

export interface Outcome {
  status: 200 | 202;
  message: string;
  jobId?: string;
}

export interface GitHubReceiver {
  /** Routes one verified delivery (skips HTTP: tests and replays call it directly). */
  receive(delivery: { id: string; name: string; payload: unknown }): Promise<Outcome>;
  idle(): Promise<void>;
  readonly client: GitHubClient;
}

/** Remembers the last `size` keys (delivery ids, comment ids) handled by this process. */
function recentSet(size: number) {
  const keys = new Set<string>();
  return {
    has: (k: string) => keys.has(k),
    add(k: string) {
      keys.add(k);
      if (keys.size > size) keys.delete(keys.values().next().value!);
    },
  };
}

export function createGitHubReceiver(deps: GitHubDeps): GitHubReceiver {
  const client = deps.client ?? createGitHubClient(deps.config);
  const config = client.config;
  const log = deps.logger ?? deps.log ?? silentLogger;
  const limits = deps.limits ?? createLimits(undefined, { jobs: deps.jobs, clock: deps.clock });
  const deliveries = recentSet(5000);
  const comments = recentSet(5000);
  const pending = new Set<Promise<void>>();
  const outcomes = new Map<string, Outcome>();

  const later = (name: string, work: () => Promise<void>) => {
    const task = new Promise<void>((r) => setImmediate(r))
      .then(work)
      .catch((err: unknown) => log.warn({ err, task: name }, "github: background work failed"));
    pending.add(task);
    void task.finally(() => pending.delete(task));
    deps.waitUntil?.(task);
  };

  const reply = (t: CommentTarget, mention: string, error: string) =>
    later("reply", async () => {
      await client.comment(t.installationId, t.owner, t.repo, t.issueNumber, renderRejectedComment(error, mention));
      await client.react(t.installationId, t.owner, t.repo, t.commentId, "confused");
    });

  async function alreadySubmitted(d: Extract<CommentDecision, { action: "job" }>) {
    if (comments.has(d.idempotencyKey)) return true;
    // Another process (or a restart) may have taken this comment: look among the author's jobs.
    const recent = await deps.jobs.list({ requesterId: d.requester.id, limit: 100 });
    return recent.some((j) => j.request.idempotencyKey === d.idempotencyKey);
  }

  async function submit(d: Extract<CommentDecision, { action: "job" }>): Promise<string | undefined> {
    let imageKey: string | undefined;
    if (d.command.image) {
      const bytes = await downloadImage(d.command.image.url, {
        allowedHosts: GITHUB_IMAGE_HOSTS,
        maxBytes: 10 * 1024 * 1024,
        fetchImpl: deps.fetchImpl,
      });
      const size = limits.checkImageBytes(bytes.byteLength);
      if (!size.ok) throw new JobRejectedError(size.error, "limit");
      imageKey = await deps.jobs.putInputImage(bytes);
    }
    const result = await deps.jobs.submit(toJobRequest(d, imageKey));
    log.info({ jobId: result.job.id, created: result.created, commentId: d.target.commentId }, "github: job submitted");
    return result.job.id;
  }

  async function onComment(event: EmitterWebhookEvent<"issue_comment">): Promise<Outcome> {
    const decision = decideComment({ action: event.payload.action, payload: event.payload }, config, { appId: config.appId });
    if (decision.action === "ignore") {
      log.debug({ delivery: event.id, reason: decision.reason }, "github: comment ignored");
      return { status: 200, message: `ignored: ${decision.reason}` };
    }
    if (decision.action === "reject") {
      if (comments.has(`reject:${decision.target.commentId}`)) return { status: 200, message: "already answered" };
      comments.add(`reject:${decision.target.commentId}`);
      reply(decision.target, decision.requester.id, decision.error);
      return { status: 202, message: "rejected: " + decision.error };
    }
    if (await alreadySubmitted(decision)) return { status: 200, message: "already handled this comment" };
    comments.add(decision.idempotencyKey);

    const admitted = await limits.admit(decision.requester, decision.command);
    if (!admitted.ok) {
      reply(decision.target, decision.requester.id, admitted.error);
      return { status: 202, message: "refused: " + admitted.error };
    }
    const t = decision.target;
    const eyes = () => client.react(t.installationId, t.owner, t.repo, t.commentId, "eyes");
    const failed = (err: unknown) => {
      const sentence =
        err instanceof JobRejectedError || (err instanceof Error && err.name === "DownloadError")
          ? err.message
          : "Something went wrong while queueing the video; post the command again in a minute.";
      if (!(err instanceof JobRejectedError)) log.error({ err, commentId: t.commentId }, "github: submit failed");
      reply(t, decision.requester.id, sentence);
    };
    if (!decision.command.image) {
      // Text only: queue before answering, so an accepted delivery is never lost.
      try {
        const jobId = await submit(decision);
        later("eyes", eyes);
        return { status: 202, message: "queued", jobId };
      } catch (err) {
        failed(err);
        return { status: 202, message: "could not queue" };
      }
    }
    later("image job", async () => {
      await eyes();
      try {
        await submit(decision);
      } catch (err) {
        failed(err);
      }
    });
    return { status: 202, message: "accepted" };
  }

  client.app.webhooks.on("issue_comment", async (event) => {
    outcomes.set(event.id, await onComment(event));
  });

  return {
    client,
    async receive(delivery) {
      if (delivery.id && deliveries.has(delivery.id)) return { status: 200, message: "duplicate delivery" };
      if (delivery.id) deliveries.add(delivery.id);
      if (delivery.name === "ping") return { status: 200, message: "pong" };
      if (delivery.name !== "issue_comment") return { status: 200, message: `ignored: ${delivery.name} events` };
      await client.app.webhooks.receive({ id: delivery.id, name: "issue_comment", payload: delivery.payload as never });
      const outcome = outcomes.get(delivery.id) ?? { status: 200, message: "ignored" };
      outcomes.delete(delivery.id);
      return outcome;
    },
    async idle() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}

export function createGitHubApp(deps: GitHubDeps & { receiver?: GitHubReceiver }): Hono & { receiver: GitHubReceiver } {
  const receiver = deps.receiver ?? createGitHubReceiver(deps);
  const log = deps.logger ?? deps.log ?? silentLogger;
  const app = new Hono();
  // GitHub caps webhook payloads at 25 MB.
  app.post("/", bodyLimit({ maxSize: 25 * 1024 * 1024, onError: (c) => c.text("request body too large", 413) }), async (c) => {
    const raw = await c.req.text();
    const signature = c.req.header("x-hub-signature-256");
    const name = c.req.header("x-github-event");
    const id = c.req.header("x-github-delivery") ?? "";
    if (!signature || !(await receiver.client.app.webhooks.verify(raw, signature).catch(() => false))) {
      log.warn({ delivery: id }, "github: rejected a webhook with a bad signature");
      return c.text("signature does not match: set GITHUB_WEBHOOK_SECRET to the App's webhook secret", 401);
    }
    if (!name) return c.text("missing X-GitHub-Event", 400);
    let payload: unknown;
    try {
      payload = JSON.parse(raw);
    } catch {
      return c.text("body is not JSON", 400);
    }
    const outcome = await receiver.receive({ id, name, payload });
    return c.json(outcome, outcome.status);
  });
  return Object.assign(app, { receiver });
}
