// The GitHub App client: JWT → installation tokens via @octokit/app (cached per installation),
// REST calls through @octokit/core pointed at config.apiBase, and webhook verification with the
// App's secret (@octokit/webhooks).
import { App } from "@octokit/app";
import { Octokit } from "@octokit/core";
import { githubConfigSchema, type GitHubConfig, type GitHubConfigInput } from "../config.js";

export type Reaction = "eyes" | "rocket" | "confused" | "+1" | "-1" | "heart" | "hooray" | "laugh";

export interface GitHubClient {
  readonly app: App;
  readonly config: GitHubConfig;
  react(installationId: number, owner: string, repo: string, commentId: number, content: Reaction): Promise<void>;
  comment(installationId: number, owner: string, repo: string, issueNumber: number, body: string): Promise<{ id: number; html_url?: string }>;
}

export function createGitHubClient(input: GitHubConfigInput | GitHubConfig): GitHubClient {
  const config = githubConfigSchema.parse(input);
  const app = new App({
    appId: config.appId,
    privateKey: config.privateKey,
    webhooks: { secret: config.webhookSecret },
    Octokit: Octokit.defaults({ baseUrl: config.apiBase.replace(/\/+$/, ""), userAgent: "turbowan" }),
  });
  return {
    app,
    config,
    async react(installationId, owner, repo, commentId, content) {
      const octokit = await app.getInstallationOctokit(installationId);
      await octokit.request("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", {
        owner,
        repo,
        comment_id: commentId,
        content,
      });
    },
    async comment(installationId, owner, repo, issueNumber, body) {
      const octokit = await app.getInstallationOctokit(installationId);
      const res = await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", {
        owner,
        repo,
        issue_number: issueNumber,
        body,
      });
      return res.data as { id: number; html_url?: string };
    },
  };
}
