// Pure: an issue_comment webhook payload → what to do with it. Ignored (not for us, not allowed),
// rejected (a sentence to reply with), or a JobRequest to submit. No I/O.
import type { EmitterWebhookEvent } from "@octokit/webhooks";
import type { JobRequestInput, Requester } from "../../functions/jobs/model.js";
import type { GitHubConfig } from "../config.js";
import { parseGitHubComment, type ParsedCommand } from "../grammar.js";

type IssueCommentEvent = EmitterWebhookEvent<"issue_comment">["payload"];
type IssueCommentCreatedEvent = EmitterWebhookEvent<"issue_comment.created">["payload"];

export type CommentDecision =
  | { action: "ignore"; reason: string }
  | { action: "reject"; error: string; target: CommentTarget; requester: Requester }
  | { action: "job"; command: ParsedCommand; target: CommentTarget; requester: Requester; idempotencyKey: string };

export interface CommentTarget {
  installationId: number;
  owner: string;
  repo: string;
  issueNumber: number;
  commentId: number;
}

export const idempotencyKeyOf = (commentId: number) => `github:comment:${commentId}`;

export function decideComment(
  event: { action: string; payload: IssueCommentEvent },
  config: Pick<GitHubConfig, "allowedAssociations" | "allowedLogins" | "allowedRepos">,
  self: { appId?: string | number; login?: string },
): CommentDecision {
  if (event.action !== "created") return { action: "ignore", reason: `comment ${event.action}` };
  const payload = event.payload as IssueCommentCreatedEvent;
  const { comment, repository, issue } = payload;
  const user = comment.user;
  if (!user || user.type === "Bot") return { action: "ignore", reason: "comment by a bot" };
  if (comment.performed_via_github_app && self.appId !== undefined && String(comment.performed_via_github_app.id) === String(self.appId)) {
    return { action: "ignore", reason: "our own comment" };
  }
  if (self.login && user.login === self.login) return { action: "ignore", reason: "our own comment" };
  const parsed = parseGitHubComment(comment.body ?? "");
  if (!parsed) return { action: "ignore", reason: "no /turbowan line" };

  const fullName = repository.full_name;
  const owner = repository.owner.login;
  if (config.allowedRepos && !config.allowedRepos.includes(fullName) && !config.allowedRepos.includes(`${owner}/*`)) {
    return { action: "ignore", reason: `repository ${fullName} is not in the allowlist` };
  }
  const association = comment.author_association;
  if (!config.allowedAssociations.includes(association as never) && !config.allowedLogins.includes(user.login)) {
    return { action: "ignore", reason: `${user.login} is ${association}, not allowed to start jobs` };
  }
  if (!payload.installation) return { action: "ignore", reason: "no installation in the payload" };

  const target: CommentTarget = {
    installationId: payload.installation.id,
    owner,
    repo: repository.name,
    issueNumber: issue.number,
    commentId: comment.id,
  };
  const requester: Requester = { platform: "github", id: user.login, name: user.login, scope: fullName };
  if (!parsed.ok) return { action: "reject", error: parsed.error, target, requester };
  return { action: "job", command: parsed.command, target, requester, idempotencyKey: idempotencyKeyOf(comment.id) };
}

export function toJobRequest(decision: Extract<CommentDecision, { action: "job" }>, imageKey?: string): JobRequestInput {
  return {
    kind: decision.command.kind,
    prompt: decision.command.prompt,
    ...(imageKey ? { imageKey } : {}),
    options: decision.command.options,
    replyTo: { platform: "github", ...decision.target },
    requester: decision.requester,
    idempotencyKey: decision.idempotencyKey,
  };
}
