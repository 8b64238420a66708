// The whole local stack as `turbowan serve` builds it (loadConfig → startLocalStack: ingress over
// HTTP, SQLite queue, local store, platform notifier), answering a signed Discord interaction and
// a signed GitHub webhook, with progress and the final video going back to each stand-in.
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Webhooks } from "@octokit/webhooks";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loadConfig } from "../../functions/config.js";
import { startLocalStack, type LocalStack } from "../../functions/cli/stack.js";
import { markRunning, markSucceeded, updateProgress } from "../../functions/jobs/records.js";
import { startDiscordStandIn, type DiscordStandIn } from "./support/discord-standin.js";
import { startGitHubStandIn, type GitHubStandIn } from "./support/github-standin.js";
import { interaction, newSigner } from "./discord/support.js";

const BOT_TOKEN = "local-stack-bot-token";
const signer = newSigner();
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
let discord: DiscordStandIn;
let github: GitHubStandIn;
let stack: LocalStack;
let dir: string;

beforeAll(async () => {
  discord = await startDiscordStandIn({ botToken: BOT_TOKEN });
  github = await startGitHubStandIn({ appId: "4242", publicKey: rsa.publicKey });
  dir = await mkdtemp(path.join(tmpdir(), "turbowan-local-"));
  const config = loadConfig({
    TURBOWAN_DATA_DIR: dir,
    TURBOWAN_PORT: "0",
    TURBOWAN_PUBLIC_URL: "http://127.0.0.1:9",
    DISCORD_APPLICATION_ID: "1234567890123456789",
    DISCORD_PUBLIC_KEY: signer.publicKeyHex,
    DISCORD_BOT_TOKEN: BOT_TOKEN,
    DISCORD_API_BASE: discord.apiBase,
    GITHUB_APP_ID: "4242",
    GITHUB_PRIVATE_KEY: rsa.privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    GITHUB_WEBHOOK_SECRET: "local-secret",
    GITHUB_API_BASE: github.apiBase,
  });
  stack = await startLocalStack(config, { log: pino({ level: "silent" }), worker: false, hostname: "127.0.0.1" });
});

afterAll(async () => {
  await stack?.close();
  await discord?.close();
  await github?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function runJob(jobId: string) {
  const ctx = { store: stack.core.store, events: stack.jobs.events };
  await markRunning(ctx, jobId);
  await updateProgress(ctx, jobId, { stage: "denoise", step: 2, total: 4 });
  return ctx;
}

async function finish(ctx: Awaited<ReturnType<typeof runJob>>, jobId: string) {
  await stack.core.store.putArtifact(`jobs/${jobId}/video.mp4`, Buffer.alloc(64_000, 1), "video/mp4");
  await stack.core.store.putArtifact(`jobs/${jobId}/poster.png`, Buffer.from("png"), "image/png");
  await markSucceeded(ctx, jobId, { video: `jobs/${jobId}/video.mp4`, poster: `jobs/${jobId}/poster.png`, videoBytes: 64_000 });
}

it("accepts a signed Discord interaction and answers the stand-in with progress and the video", async () => {
  const body = interaction("video-command.json");
  discord.registerInteraction(body.token, body.application_id);
  const text = JSON.stringify(body);
  const forged = await fetch(`${stack.url}/discord/interactions`, { method: "POST", headers: newSigner().headers(text), body: text });
  expect(forged.status).toBe(401);
  const res = await fetch(`${stack.url}/discord/interactions`, { method: "POST", headers: signer.headers(text), body: text });
  expect(await res.json()).toEqual({ type: 5 });

  const job = await until("the job", async () => (await stack.jobs.list()).find((j) => j.request.idempotencyKey === `discord:interaction:${body.id}`));
  const patches = () => discord.requests.filter((r) => r.method === "PATCH" && r.path.includes(body.token));
  await until("the queued edit", () => patches().length >= 1 || undefined);
  const ctx = await runJob(job.id);
  await until("a progress edit", () => patches().some((r) => /📊/.test((r.json as any).content)) || undefined);
  await finish(ctx, job.id);
  const last = await until("the video upload", () => patches().find((r) => r.files.length === 1));
  expect(last.files[0]).toMatchObject({ name: `turbowan-${job.id}.mp4`, size: 64_000 });
});

it("accepts a signed GitHub webhook and answers the stand-in with 👀, the result comment and 🚀", async () => {
  const payload = JSON.parse(readFileSync(new URL("../fixtures/github/issue_comment.created.json", import.meta.url), "utf8"));
  const text = JSON.stringify(payload);
  const headers = { "content-type": "application/json", "x-github-event": "issue_comment", "x-github-delivery": "local-1" };
  const forged = await fetch(`${stack.url}/github/webhooks`, { method: "POST", headers: { ...headers, "x-hub-signature-256": await new Webhooks({ secret: "nope" }).sign(text) }, body: text });
  expect(forged.status).toBe(401);
  const res = await fetch(`${stack.url}/github/webhooks`, { method: "POST", headers: { ...headers, "x-hub-signature-256": await new Webhooks({ secret: "local-secret" }).sign(text) }, body: text });
  expect(res.status).toBe(202);
  const job = await until("the job", async () => (await stack.jobs.list()).find((j) => j.request.idempotencyKey === `github:comment:${payload.comment.id}`));
  await until("👀", () => github.reactions.some((r) => r.content === "eyes") || undefined);
  await finish(await runJob(job.id), job.id);
  const comment = await until("the result comment", () => github.comments.find((c) => c.body.includes("your video is ready")));
  expect(comment.body).toContain(`/files/jobs/${job.id}/video.mp4`);
  await until("🚀", () => github.reactions.some((r) => r.content === "rocket") || undefined);
});
