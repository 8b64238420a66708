// GitHub end to end: webhooks signed with the App's secret (@octokit/webhooks) into the sub-app,
// through the real job service (SQLite queue + local store), installation tokens minted by a
// stand-in GitHub API from a real RS256 App JWT, and the notifier posting reactions and comments.
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { Webhooks } from "@octokit/webhooks";
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createGitHubApp } from "../../../bot/github/app.js";
import { createGitHubClient } from "../../../bot/github/client.js";
import { createLimits, type LimitsConfigInput } from "../../../bot/limits.js";
import { createPlatformNotifier } from "../../../bot/notifier.js";
import type { GitHubConfigInput } from "../../../bot/config.js";
import { startGitHubStandIn, type GitHubStandIn } from "../support/github-standin.js";
import { hostMappingFetch } from "../support/http.js";
import { startStack, type Stack } from "../support/stack.js";

const APP_ID = "987654";
const SECRET = "webhook-secret-for-tests";
const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PRIVATE_PEM = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const signer = new Webhooks({ secret: SECRET });
let github: GitHubStandIn;
let stack: Stack;
const open: Stack[] = [];

beforeAll(async () => {
  github = await startGitHubStandIn({ appId: APP_ID, publicKey });
});
afterAll(async () => {
  await github.close();
});
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

let counter = 0;
function comment(edit?: (p: any) => void): any {
  const p = JSON.parse(readFileSync(new URL("../../fixtures/github/issue_comment.created.json", import.meta.url), "utf8"));
  p.comment.id += ++counter;
  edit?.(p);
  return p;
}

async function setup(opts: { config?: Partial<GitHubConfigInput>; limits?: LimitsConfigInput } = {}) {
  stack = await startStack();
  open.push(stack);
  const config: GitHubConfigInput = { appId: APP_ID, privateKey: PRIVATE_PEM, webhookSecret: SECRET, apiBase: github.apiBase, ...opts.config };
  const client = createGitHubClient(config);
  const notifier = createPlatformNotifier({ githubClient: client, store: stack.store });
  stack.setSink(notifier);
  const limits = createLimits(opts.limits ?? { userRate: { burst: 50, perMinute: 60 } }, { jobs: stack.jobs });
  const app = createGitHubApp({ jobs: stack.jobs, config, client, limits, fetchImpl: hostMappingFetch(github.base) });
  async function deliver(payload: any, o: { delivery?: string; event?: string; signature?: string } = {}) {
    const body = JSON.stringify(payload);
    const res = await app.request("/", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": o.event ?? "issue_comment",
        "x-github-delivery": o.delivery ?? crypto.randomUUID(),
        "x-hub-signature-256": o.signature ?? (await signer.sign(body)),
        "user-agent": "GitHub-Hookshot/abc123",
      },
      body,
    });
    await app.receiver.idle();
    await notifier.idle();
    return { status: res.status, body: res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text() };
  }
  return { app, deliver, notifier };
}

const apiCalls = () => github.requests.filter((r) => !r.path.startsWith("/__host"));
const reactionsOn = (id: number) => github.reactions.filter((r) => r.commentId === id).map((r) => r.content);

describe("GitHub App webhooks", () => {
  it("a /turbowan comment from a member: 👀, a job, then the result comment and 🚀", async () => {
    const { deliver } = await setup();
    const tokensBefore = github.tokensIssued;
    const payload = comment();
    const res = await deliver(payload);
    expect(res.status).toBe(202);
    const [job] = await stack.jobs.list();
    expect(job!.request).toMatchObject({
      kind: "t2v",
      prompt: "a red fox in snow",
      options: { aspectRatio: "9:16", steps: 4 },
      idempotencyKey: `github:comment:${payload.comment.id}`,
      requester: { platform: "github", id: "octocat", scope: "octo-org/showcase" },
      replyTo: { platform: "github", installationId: 55500001, owner: "octo-org", repo: "showcase", issueNumber: 42, commentId: payload.comment.id },
    });
    expect(reactionsOn(payload.comment.id)).toEqual(["eyes"]);
    const tokenCall = github.requests.find((r) => r.path === "/app/installations/55500001/access_tokens")!;
    expect(tokenCall.authorization).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/i);
    const reactionCall = github.requests.find((r) => r.path.endsWith(`/comments/${payload.comment.id}/reactions`))!;
    expect(reactionCall.authorization).toMatch(/^token ghs_/);

    const done = await stack.runNext();
    const posted = github.comments.at(-1)!;
    expect(posted).toMatchObject({ owner: "octo-org", repo: "showcase", issue: 42 });
    expect(posted.body).toContain("@octocat your video is ready");
    expect(posted.body).toContain(`[![video preview](http://turbowan.test/files/jobs/${done.id}/poster.png)](http://turbowan.test/files/jobs/${done.id}/video.mp4)`);
    expect(posted.body).toContain(`**[Download the mp4](http://turbowan.test/files/jobs/${done.id}/video.mp4)**`);
    expect(posted.body).not.toMatch(/^\/turbowan/m);
    expect(reactionsOn(payload.comment.id)).toEqual(["eyes", "rocket"]);
    expect(github.tokensIssued - tokensBefore).toBe(1); // one installation token, cached for all three calls
  });

  it("a failed job gets a comment that says why and 😕", async () => {
    const { deliver } = await setup();
    const payload = comment();
    await deliver(payload);
    await stack.runNext({ fail: { error: "The model weights are missing on the worker.", retryable: false } });
    expect(github.comments.at(-1)!.body).toMatch(/^@octocat the video failed: The model weights are missing on the worker\./);
    expect(reactionsOn(payload.comment.id)).toEqual(["eyes", "confused"]);
  });

  it("forged signatures get 401 and enqueue nothing", async () => {
    const { deliver } = await setup();
    const before = apiCalls().length;
    const payload = comment();
    const forged = await new Webhooks({ secret: "not-the-secret" }).sign(JSON.stringify(payload));
    expect((await deliver(payload, { signature: forged })).status).toBe(401);
    expect((await deliver(payload, { signature: "sha256=" + "0".repeat(64) })).status).toBe(401);
    expect((await deliver(payload, { signature: "" })).status).toBe(401);
    expect(await stack.jobs.list()).toEqual([]);
    expect(await stack.queuedCount()).toBe(0);
    expect(apiCalls().length).toBe(before);
  });

  it("redeliveries (same delivery id, or same comment) never make a second job or reply", async () => {
    const { deliver } = await setup();
    const payload = comment();
    await deliver(payload, { delivery: "d-1" });
    expect(await deliver(payload, { delivery: "d-1" })).toMatchObject({ status: 200, body: { message: "duplicate delivery" } });
    expect(await deliver(payload, { delivery: "d-2" })).toMatchObject({ status: 200, body: { message: "already handled this comment" } });
    expect((await stack.jobs.list()).length).toBe(1);
    expect(await stack.queuedCount()).toBe(1);
    expect(reactionsOn(payload.comment.id)).toEqual(["eyes"]);
  });

  it("a redelivery reaching a fresh process finds the job by comment id", async () => {
    const first = await setup();
    const payload = comment();
    await first.deliver(payload);
    const jobsBefore = await stack.jobs.list();
    // A second app over the same job service: no memory of the first delivery.
    const second = createGitHubApp({
      jobs: stack.jobs,
      config: { appId: APP_ID, privateKey: PRIVATE_PEM, webhookSecret: SECRET, apiBase: github.apiBase },
    });
    const body = JSON.stringify(payload);
    const res = await second.request("/", {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "issue_comment", "x-github-delivery": "other", "x-hub-signature-256": await signer.sign(body) },
      body,
    });
    expect(res.status).toBe(200);
    expect(await stack.jobs.list()).toEqual(jobsBefore);
  });

  it.each([
    ["NONE", "a stranger"],
    ["CONTRIBUTOR", "a past contributor"],
    ["FIRST_TIME_CONTRIBUTOR", "a first-time contributor"],
  ])("ignores %s (%s) by default: no job, no reaction", async (association) => {
    const { deliver } = await setup();
    const before = apiCalls().length;
    const payload = comment((p) => (p.comment.author_association = association));
    const res = await deliver(payload);
    expect(res.status).toBe(200);
    expect((res.body as any).message).toMatch(/not allowed to start jobs/);
    expect(await stack.jobs.list()).toEqual([]);
    expect(apiCalls().length).toBe(before);
  });

  it("the allowlist admits named logins and limits repositories", async () => {
    const { deliver } = await setup({ config: { allowedLogins: ["friendly-stranger"], allowedRepos: ["octo-org/*"] } });
    await deliver(comment((p) => {
      p.comment.author_association = "NONE";
      p.comment.user.login = "friendly-stranger";
    }));
    expect((await stack.jobs.list()).length).toBe(1);
    const elsewhere = await deliver(comment((p) => {
      p.repository.full_name = "someone/else";
      p.repository.owner.login = "someone";
    }));
    expect((elsewhere.body as any).message).toMatch(/not in the allowlist/);
    expect((await stack.jobs.list()).length).toBe(1);
  });

  it("ignores edits, deletions, bots, its own comments and comments without /turbowan", async () => {
    const { deliver } = await setup();
    const before = apiCalls().length;
    const cases = [
      comment((p) => (p.action = "edited")),
      comment((p) => (p.action = "deleted")),
      comment((p) => (p.comment.user.type = "Bot")),
      comment((p) => (p.comment.performed_via_github_app = { id: Number(APP_ID), slug: "turbowan", name: "turbowan" })),
      comment((p) => (p.comment.body = "Looks great! We should try /turbowan later.")),
    ];
    for (const payload of cases) expect((await deliver(payload)).status).toBe(200);
    expect((await deliver(comment(), { event: "issues" })).body).toMatchObject({ message: "ignored: issues events" });
    expect((await deliver({ zen: "Keep it logically awesome.", hook_id: 1 }, { event: "ping" })).body).toMatchObject({ message: "pong" });
    expect(await stack.jobs.list()).toEqual([]);
    expect(apiCalls().length).toBe(before);
  });

  it.each([
    ['/turbowan "a fox" --steps 9', "steps must be between 1 and 4."],
    ['/turbowan "a fox" --frames=80', "frames must be 4k+1 (for example 17, 49 or 81)."],
    ['/turbowan "a fox" --speed 3', "Unknown option --speed. Valid options: --prompt, --image, --model, --resolution, --aspect, --frames, --steps, --seed, --sigma_max, --attention, --topk, --ode."],
    ["/turbowan", "The prompt is empty: describe the video you want."],
    ["/turbowan animate this\n![cat](https://i.imgur.com/cat.png)", "The image must be attached to the comment on GitHub"],
  ])("bad command %j → a comment with the sentence and 😕, no job", async (body, sentence) => {
    const { deliver } = await setup();
    const payload = comment((p) => (p.comment.body = body));
    expect((await deliver(payload)).status).toBe(202);
    expect(github.comments.at(-1)!.body).toContain(`@octocat ${sentence}`);
    expect(reactionsOn(payload.comment.id)).toEqual(["confused"]);
    expect(await stack.jobs.list()).toEqual([]);
  });

  it("image attached on GitHub (user-attachments → private-user-images) makes an image-to-video job", async () => {
    const { deliver } = await setup();
    const png = await sharp({ create: { width: 96, height: 96, channels: 3, background: "#aa3300" } }).png().toBuffer();
    const asset = "https://github.com/user-attachments/assets/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    const signed = "https://private-user-images.githubusercontent.com/583231/1-0f1e2d3c.png?jwt=eyJ0eXAi";
    github.hosted.redirect(asset, signed);
    github.hosted.add(signed, png, "image/png");
    const payload = comment((p) => (p.comment.body = `/turbowan "the embers drift upward" --steps 2\n\n![fire](${asset})`));
    expect((await deliver(payload)).status).toBe(202);
    const [job] = await stack.jobs.list();
    expect(job!.request).toMatchObject({ kind: "i2v", options: { model: "wan2.2-i2v-a14b", steps: 2 } });
    expect(await stack.store.exists(job!.request.imageKey!)).toBe(true);
    expect(reactionsOn(payload.comment.id)).toEqual(["eyes"]);
  });

  it("an attachment that redirects off GitHub's hosts is not followed", async () => {
    const { deliver } = await setup();
    const asset = "https://github.com/user-attachments/assets/11111111-2222-3333-4444-555555555555";
    github.hosted.redirect(asset, "https://evil.example/steal.png");
    const payload = comment((p) => (p.comment.body = `/turbowan move\n![x](${asset})`));
    await deliver(payload);
    expect(github.comments.at(-1)!.body).toMatch(/The image link points outside the platform's attachment hosts/);
    expect(github.requests.some((r) => r.path.includes("evil.example"))).toBe(false);
    expect(await stack.jobs.list()).toEqual([]);
  });

  it("per-repo limits: caps and rate limits answer with a sentence", async () => {
    const { deliver } = await setup({ limits: { scopes: { "octo-org/showcase": { maxFrames: 49 } }, scopeRate: { burst: 1, perMinute: 1 } } });
    await deliver(comment((p) => (p.comment.body = "/turbowan a fox --frames 81")));
    expect(github.comments.at(-1)!.body).toContain("frames is capped at 49 here; choose 49 or fewer.");
    await deliver(comment((p) => (p.comment.body = "/turbowan a fox --frames 49")));
    await deliver(comment((p) => (p.comment.body = "/turbowan a fox --frames 17")));
    expect(github.comments.at(-1)!.body).toMatch(/This repository is starting videos too fast\. Try again in \d+ s\./);
    expect((await stack.jobs.list()).length).toBe(1);
  });
});
