import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderFailureComment, renderRejectedComment, renderResultComment } from "../../../bot/github/render.js";
import { decideComment, toJobRequest } from "../../../bot/github/to-job.js";
import { githubConfigSchema } from "../../../bot/config.js";
import { generationOptionsSchema, jobRequestSchema, type JobRecord } from "../../../functions/jobs/model.js";

const payload = () => JSON.parse(readFileSync(new URL("../../fixtures/github/issue_comment.created.json", import.meta.url), "utf8"));
const config = githubConfigSchema.pick({ allowedAssociations: true, allowedLogins: true, allowedRepos: true }).parse({});

const job = {
  id: "01jd0000000000000000000000",
  request: { kind: "t2v", prompt: "ping @someone\n/turbowan again", options: generationOptionsSchema.parse({}), replyTo: { platform: "web" }, requester: { platform: "github", id: "octocat" }, idempotencyKey: "k" },
  seed: 9,
  startedAt: "2026-11-26T12:00:00.000Z",
  finishedAt: "2026-11-26T12:00:04.500Z",
} as unknown as JobRecord;

describe("GitHub comments (pure)", () => {
  it("a result comment shows the preview inline, links the mp4, and cannot ping or re-trigger", () => {
    const body = renderResultComment(job, { video: "https://x/v.mp4", poster: "https://x/p.png", preview: "https://x/p.webp" }, "octocat");
    expect(body).toContain("@octocat your video is ready in 4.5 s.");
    expect(body).toContain("[![video preview](https://x/p.webp)](https://x/v.mp4)");
    expect(body).toContain("@\u200bsomeone");
    expect(body).not.toMatch(/^\s*\/turbowan/m);
    expect(renderFailureComment(job, "Out of memory.", "octocat")).toMatch(/^@octocat the video failed: Out of memory\./);
    expect(renderRejectedComment("steps must be between 1 and 4.", "octocat")).toMatch(/^@octocat steps must be between 1 and 4\.\n\nExample: `\/turbowan/);
  });
});

describe("issue_comment → decision (pure)", () => {
  it("turns a member's command into a valid JobRequest keyed by the comment id", () => {
    const d = decideComment({ action: "created", payload: payload() }, config, { appId: 1 });
    expect(d.action).toBe("job");
    if (d.action !== "job") return;
    const request = jobRequestSchema.parse(toJobRequest(d));
    expect(request.idempotencyKey).toBe("github:comment:2500000001");
    expect(request.replyTo).toEqual({ platform: "github", installationId: 55500001, owner: "octo-org", repo: "showcase", issueNumber: 42, commentId: 2500000001 });
  });

  it("honours a configured association list", () => {
    const p = payload();
    p.comment.author_association = "CONTRIBUTOR";
    const cfg = { ...config, allowedAssociations: ["CONTRIBUTOR" as const] };
    expect(decideComment({ action: "created", payload: p }, cfg, {}).action).toBe("job");
    expect(decideComment({ action: "created", payload: p }, config, {})).toMatchObject({ action: "ignore", reason: "octocat is CONTRIBUTOR, not allowed to start jobs" });
  });

  it("config says what to set, and accepts escaped newlines in the key", () => {
    expect(() => githubConfigSchema.parse({ appId: "1", privateKey: "nope", webhookSecret: "s" })).toThrow(/set GITHUB_PRIVATE_KEY/);
    const c = githubConfigSchema.parse({ appId: "1", privateKey: "-----BEGIN RSA PRIVATE KEY-----\\nabc\\n-----END RSA PRIVATE KEY-----", webhookSecret: "s" });
    expect(c.privateKey).toContain("\nabc\n");
    expect(c.apiBase).toBe("https://api.github.com");
  });
});
