// Discord end to end: signed interactions into the HTTP sub-app, through the real job service
// (SQLite queue + local store), a stand-in GPU walking the job, and the notifier answering the
// stand-in Discord API (discord.js REST pointed at it).
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createDiscordApp } from "../../../bot/discord/app.js";
import { createGatewayBot, createGatewayListener } from "../../../bot/discord/gateway.js";
import { createInteractionHandler } from "../../../bot/discord/handler.js";
import { createDiscordApi } from "../../../bot/discord/api.js";
import { createLimits, type LimitsConfigInput } from "../../../bot/limits.js";
import { createPlatformNotifier, type PlatformNotifier } from "../../../bot/notifier.js";
import { registerCommands } from "../../../functions/cli/commands/register-commands.js";
import { startDiscordStandIn, type DiscordStandIn } from "../support/discord-standin.js";
import { hostMappingFetch } from "../support/http.js";
import { startStack, type Stack } from "../support/stack.js";
import { interaction, newSigner, withOptions } from "./support.js";

const APP_ID = "1234567890123456789";
const BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.Gabcde.bot-token-for-tests";
const signer = newSigner();
let discord: DiscordStandIn;
let stack: Stack;
const open: Stack[] = [];

beforeAll(async () => {
  discord = await startDiscordStandIn({ botToken: BOT_TOKEN });
});
afterAll(async () => {
  await discord.close();
});
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

interface Setup {
  clockOffsetMs?: number;
  progressIntervalMs?: number;
  limits?: LimitsConfigInput;
  botToken?: string | null;
}

async function setup(opts: Setup = {}) {
  stack = await startStack();
  open.push(stack);
  const clock = { offset: opts.clockOffsetMs ?? 0 };
  const now = () => Date.now() + clock.offset;
  const config = {
    applicationId: APP_ID,
    publicKey: signer.publicKeyHex,
    ...(opts.botToken === null ? {} : { botToken: opts.botToken ?? BOT_TOKEN }),
    apiBase: discord.apiBase,
    progressIntervalMs: opts.progressIntervalMs ?? 300,
  };
  const notifier: PlatformNotifier = createPlatformNotifier({ discord: config, store: stack.store, clock: now });
  stack.setSink(notifier);
  const limits = createLimits(opts.limits ?? { userRate: { burst: 50, perMinute: 60 } }, { jobs: stack.jobs });
  const app = createDiscordApp({ jobs: stack.jobs, config, limits, fetchImpl: hostMappingFetch(discord.base) });
  async function post(body: any, o: { timestamp?: number; headers?: Record<string, string>; register?: boolean } = {}) {
    if (o.register !== false && body.token) discord.registerInteraction(body.token, body.application_id, body.attachment_size_limit);
    const text = JSON.stringify(body);
    const res = await app.request("/", { method: "POST", headers: { ...signer.headers(text, o.timestamp), ...o.headers }, body: text });
    const json = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
    await app.handler.idle();
    return { status: res.status, json: json as any };
  }
  return { app, notifier, post, clock };
}

const requestsFor = (token: string) => discord.requests.filter((r) => r.path.includes(`/${token}`));
const edits = (token: string) => requestsFor(token).filter((r) => r.method === "PATCH" && r.path.endsWith("/messages/@original"));

describe("Discord HTTP interactions", () => {
  it("answers PING with PONG", async () => {
    const { post } = await setup();
    expect(await post(interaction("ping.json"), { register: false })).toEqual({ status: 200, json: { type: 1 } });
  });

  it("rejects forged and replayed requests with 401 and enqueues nothing", async () => {
    const { app, post } = await setup();
    const body = interaction("video-command.json");
    const text = JSON.stringify(body);
    const before = discord.requests.length;
    // Signed by another key.
    const forger = newSigner();
    let res = await app.request("/", { method: "POST", headers: forger.headers(text), body: text });
    expect(res.status).toBe(401);
    // Signed, then the body changed.
    const headers = signer.headers(text);
    res = await app.request("/", { method: "POST", headers, body: text.replace("red fox", "red cat") });
    expect(res.status).toBe(401);
    // No signature at all.
    res = await app.request("/", { method: "POST", headers: { "content-type": "application/json" }, body: text });
    expect(res.status).toBe(401);
    // Properly signed, but captured 10 minutes ago (replay) or dated in the future.
    expect((await post(body, { timestamp: Math.floor(Date.now() / 1000) - 600 })).status).toBe(401);
    expect((await post(body, { timestamp: Math.floor(Date.now() / 1000) + 600 })).status).toBe(401);
    // An oversized body is refused before any verification work.
    const huge = JSON.stringify({ ...body, padding: "x".repeat(2 * 1024 * 1024) });
    res = await app.request("/", { method: "POST", headers: signer.headers(huge), body: huge });
    expect(res.status).toBe(413);
    expect(await stack.jobs.list()).toEqual([]);
    expect(await stack.queuedCount()).toBe(0);
    expect(discord.requests.length).toBe(before);
  });

  it("/video: deferred at once, queued → throttled progress → mp4 attached with buttons", async () => {
    // A 1 s interval: the 12 progress writes must land inside one interval even on a loaded 2-core
    // CI box (at 300 ms they once spread over two and made a 4th edit).
    const { post, notifier } = await setup({ progressIntervalMs: 1000 });
    const body = interaction("video-command.json");
    const res = await post(body);
    expect(res).toEqual({ status: 200, json: { type: 5 } });

    const [job] = await stack.jobs.list();
    expect(job).toMatchObject({
      status: "queued",
      request: {
        kind: "t2v",
        prompt: "a red fox running through fresh snow, golden hour",
        idempotencyKey: `discord:interaction:${body.id}`,
        requester: { platform: "discord", id: "1100000000000000001", scope: "1200000000000000001" },
        replyTo: { platform: "discord", applicationId: APP_ID, interactionToken: body.token, channelId: "1200000000000000002", attachmentSizeLimit: 10485760 },
        options: { model: "wan2.1-t2v-1.3b", resolution: "480p", aspectRatio: "16:9", frames: 81, steps: 4 },
      },
    });
    await notifier.idle();
    expect(edits(body.token).map((r) => (r.json as any).content)).toEqual([expect.stringContaining("⏳ Queued — #1 in the queue")]);
    expect(edits(body.token)[0]!.authorization).toBeUndefined();

    const startedAt = Date.now();
    await stack.runNext({ progressSteps: 12, videoBytes: 300_000, beforeResult: () => new Promise((r) => setTimeout(r, 1200)) });
    await notifier.idle();
    const all = edits(body.token);
    // queued, then (started + 12 progress events within one interval) coalesced into one edit, then the result.
    expect(all.length).toBe(3);
    expect((all[1]!.json as any).content).toMatch(/📊 .* Sampling \(12\/12\)/);
    // One interval apart (1000 ms), less the first request's connection set-up.
    expect(all[1]!.at - all[0]!.at).toBeGreaterThanOrEqual(900);
    expect(all[1]!.at).toBeGreaterThan(startedAt);
    const result = all[2]!;
    expect(result.files).toEqual([{ field: "files[0]", name: `turbowan-${job!.id}.mp4`, size: 300_000, contentType: "video/mp4" }]);
    expect((result.json as any).content).toMatch(/✅ Done/);
    const buttons = (result.json as any).components[0].components.map((c: any) => c.custom_id);
    expect(buttons).toEqual([`turbowan:reroll:${job!.id}`, `turbowan:hd:${job!.id}`]);
    expect(discord.interactions.get(body.token)!.original!.attachments).toEqual([`turbowan-${job!.id}.mp4`]);
  });

  it("a redelivered interaction makes no second job", async () => {
    const { post } = await setup();
    const body = interaction("video-command.json");
    await post(body);
    await post(body);
    expect((await stack.jobs.list()).length).toBe(1);
    expect(await stack.queuedCount()).toBe(1);
  });

  it.each([
    [{ name: "steps", type: 4, value: 9 }, "steps must be between 1 and 4."],
    [{ name: "frames", type: 4, value: 80 }, "frames must be 4k+1 (for example 17, 49 or 81)."],
    [{ name: "seed", type: 4, value: -5 }, "seed must be between 0 and 4294967295."],
    [{ name: "sigma_max", type: 10, value: 0.5 }, "sigma_max must be between 1 and 5000."],
    [{ name: "topk", type: 10, value: 0 }, "topk must be above 0 and at most 1."],
    [{ name: "resolution", type: 3, value: "1080p" }, "resolution must be 480p or 720p."],
    [{ name: "aspect", type: 3, value: "2:1" }, "aspect must be one of 16:9, 9:16, 1:1, 4:3, 3:4."],
    [{ name: "attention", type: 3, value: "flash" }, "attention must be original, sla or sagesla."],
    [{ name: "model", type: 3, value: "sora" }, "model must be one of wan2.1-t2v-1.3b, wan2.1-t2v-14b, wan2.2-i2v-a14b, demo."],
    [{ name: "ode", type: 3, value: "maybe" }, "ode must be true or false."],
    [{ name: "fps", type: 4, value: 24 }, expect.stringMatching(/^Unknown option --fps\. Valid options: --prompt, --image, --model/)],
  ])("bad option %j → ephemeral sentence, nothing queued", async (option, sentence) => {
    const { post } = await setup();
    const res = await post(withOptions(interaction("video-command.json"), [option]));
    expect(res.json).toEqual({ type: 4, data: { content: sentence, flags: 64, allowed_mentions: { parse: [] } } });
    expect(await stack.queuedCount()).toBe(0);
  });

  it("every option reaches the job with the grammar's meaning", async () => {
    const { post } = await setup();
    await post(
      withOptions(interaction("video-command.json"), [
        { name: "model", type: 3, value: "wan2.1-t2v-14b" },
        { name: "resolution", type: 3, value: "720p" },
        { name: "aspect", type: 3, value: "9:16" },
        { name: "frames", type: 4, value: 49 },
        { name: "steps", type: 4, value: 2 },
        { name: "seed", type: 4, value: 1234 },
        { name: "sigma_max", type: 10, value: 80 },
        { name: "attention", type: 3, value: "sla" },
        { name: "topk", type: 10, value: 0.2 },
        { name: "ode", type: 5, value: true },
      ]),
    );
    const [job] = await stack.jobs.list();
    expect(job!.request.options).toEqual({ model: "wan2.1-t2v-14b", resolution: "720p", aspectRatio: "9:16", frames: 49, steps: 2, seed: 1234, sigmaMax: 80, attention: "sla", topk: 0.2, ode: true });
    expect(job!.seed).toBe(1234);
  });

  it("image attachment → image-to-video with the image in the store", async () => {
    const { post } = await setup();
    const png = await sharp({ create: { width: 128, height: 96, channels: 3, background: "#335577" } }).png().toBuffer();
    const body = interaction("video-command-image.json");
    const att = Object.values(body.data.resolved.attachments)[0] as any;
    att.size = png.length;
    discord.hosted.add(att.url, png, "image/png");
    expect((await post(body)).json).toEqual({ type: 5 });
    const [job] = await stack.jobs.list();
    expect(job!.request).toMatchObject({ kind: "i2v", options: { model: "wan2.2-i2v-a14b", steps: 2 } });
    expect(await stack.store.exists(job!.request.imageKey!)).toBe(true);
  });

  it("image problems are told in the deferred response (bad host, not an image, too big)", async () => {
    const { post } = await setup();
    const offsite = interaction("video-command-image.json", (i) => {
      (Object.values(i.data.resolved.attachments)[0] as any).url = "https://evil.example/x.png";
    });
    await post(offsite);
    expect((edits(offsite.token).at(-1)!.json as any).content).toMatch(/^❌ The image link points outside/);

    const notImage = interaction("video-command-image.json");
    const att = Object.values(notImage.data.resolved.attachments)[0] as any;
    discord.hosted.add(att.url, Buffer.from("definitely not a png"), "image/png");
    await post(notImage);
    expect((edits(notImage.token).at(-1)!.json as any).content).toMatch(/^❌ The file is not an image/);

    const huge = interaction("video-command-image.json", (i) => {
      (Object.values(i.data.resolved.attachments)[0] as any).size = 30 * 1024 * 1024;
    });
    expect((await post(huge)).json.data.content).toBe("The image is 30 MB; images up to 10 MB are accepted.");
    expect(await stack.queuedCount()).toBe(0);
  });

  it("sends a link when the mp4 is over attachment_size_limit, or the smaller copy when the job made one", async () => {
    const { post, notifier } = await setup();
    const big = interaction("video-command.json", (i) => (i.attachment_size_limit = 1024 * 1024));
    await post(big);
    const job = await stack.runNext({ videoBytes: 2 * 1024 * 1024 });
    await notifier.idle();
    const last = edits(big.token).at(-1)!;
    expect(last.files).toEqual([]);
    expect((last.json as any).content).toContain(`🔗 http://turbowan.test/files/jobs/${job.id}/video.mp4`);
    expect((last.json as any).content).toContain("over this channel's 1.0 MB upload limit");

    const withSmall = interaction("video-command.json", (i) => (i.attachment_size_limit = 1024 * 1024));
    await post(withSmall);
    const job2 = await stack.runNext({ videoBytes: 2 * 1024 * 1024, smallVideoBytes: 500_000 });
    await notifier.idle();
    const last2 = edits(withSmall.token).at(-1)!;
    expect(last2.files.map((f) => [f.name, f.size])).toEqual([[`turbowan-${job2.id}-small.mp4`, 500_000]]);
    expect((last2.json as any).content).toContain("A smaller copy");
  });

  it("falls back to a link when Discord refuses the upload as too large", async () => {
    const { post, notifier } = await setup();
    const body = interaction("video-command.json");
    await post(body, { register: false });
    discord.registerInteraction(body.token, APP_ID, 100_000); // the channel's real limit is lower than announced
    await stack.runNext({ videoBytes: 300_000 });
    await notifier.idle();
    const patches = edits(body.token);
    expect(patches.at(-2)!.files.length).toBe(1); // tried the upload…
    expect(patches.at(-1)!.files).toEqual([]); // …then the link
    expect((patches.at(-1)!.json as any).content).toContain("🔗 http://turbowan.test/files/");
    expect(discord.interactions.get(body.token)!.original!.content).toContain("🔗");
  });

  it("after the 15-minute token window the result goes to the channel with the bot token", async () => {
    const { post, notifier, clock } = await setup();
    const body = interaction("video-command.json");
    await post(body);
    await notifier.idle();
    clock.offset = 16 * 60_000;
    const job = await stack.runNext({ videoBytes: 100_000 });
    await notifier.idle();
    expect(edits(body.token).length).toBe(1); // only "queued", nothing after the window
    const msg = discord.channelMessages.at(-1)!;
    expect(msg.channelId).toBe("1200000000000000002");
    expect(msg.files.map((f) => f.name)).toEqual([`turbowan-${job.id}.mp4`]);
    expect(msg.json.content).toMatch(/^<@1100000000000000001> your video is ready/);
    expect(msg.json.allowed_mentions).toEqual({ users: ["1100000000000000001"] });
    const channelPost = discord.requests.filter((r) => r.path === "/api/v10/channels/1200000000000000002/messages").at(-1)!;
    expect(channelPost.authorization).toBe(`Bot ${BOT_TOKEN}`);
  });

  it("when Discord says the token is gone early, the result still reaches the channel", async () => {
    const { post, notifier } = await setup();
    const body = interaction("video-command.json");
    await post(body);
    discord.expire(body.token);
    const before = discord.channelMessages.length;
    await stack.runNext({ fail: { error: "The GPU ran out of memory.", retryable: false } });
    await notifier.idle();
    expect(discord.channelMessages.length).toBe(before + 1);
    const msg = discord.channelMessages.at(-1)!;
    expect(msg.json.content).toContain("❌ The video failed: The GPU ran out of memory.");
    expect(msg.json.components[0].components[0].custom_id).toMatch(/^turbowan:retry:/);
  });

  it("when the original response was deleted, the result comes as a follow-up", async () => {
    const { post, notifier } = await setup();
    const body = interaction("video-command.json");
    await post(body);
    await notifier.idle();
    discord.deleteOriginal(body.token);
    const job = await stack.runNext({ progressSteps: 0 });
    await notifier.idle();
    const followUp = discord.followUps.find((f) => f.token === body.token)!;
    expect(followUp.files.map((f) => f.name)).toEqual([`turbowan-${job.id}.mp4`]);
    expect(followUp.json.content).toMatch(/✅ Done/);
  });

  it("a retryable failure is shown as a retry in progress, not as the end", async () => {
    const { post, notifier } = await setup({ progressIntervalMs: 0 });
    const body = interaction("video-command.json");
    await post(body);
    const channelBefore = discord.channelMessages.length;
    await stack.runNext({ progressSteps: 0, fail: { error: "The GPU ran out of memory.", retryable: true } });
    await notifier.idle();
    expect((edits(body.token).at(-1)!.json as any).content).toMatch(/⚠️ Attempt 1 failed \(The GPU ran out of memory\.\); trying again…$/);
    expect(discord.channelMessages.length).toBe(channelBefore);
    expect((await stack.jobs.list())[0]!.status).toBe("queued");
  });

  it("buttons: re-roll gets a new seed, 720p keeps the seed, retry repeats a failed job", async () => {
    const { post, notifier } = await setup();
    await post(withOptions(interaction("video-command.json"), [{ name: "seed", type: 4, value: 77 }]));
    const first = await stack.runNext();
    await notifier.idle();

    const reroll = interaction("button-reroll.json", (i) => (i.data.custom_id = `turbowan:reroll:${first.id}`));
    expect((await post(reroll)).json).toEqual({ type: 5 });
    const hd = interaction("button-reroll.json", (i) => (i.data.custom_id = `turbowan:hd:${first.id}`));
    expect((await post(hd)).json).toEqual({ type: 5 });
    const jobs = await stack.jobs.list();
    const byKey = (i: any) => jobs.find((j) => j.request.idempotencyKey === `discord:interaction:${i.id}`)!;
    expect(byKey(reroll).request).toMatchObject({ prompt: first.request.prompt, requester: { id: "1100000000000000002" }, options: { resolution: "480p" } });
    expect(byKey(reroll).request.replyTo).toMatchObject({ interactionToken: reroll.token });
    expect(byKey(hd).seed).toBe(77);
    expect(byKey(hd).request.options.resolution).toBe("720p");

    await stack.runNext({ fail: { error: "Decoding failed.", retryable: false } });
    const failed = (await stack.jobs.list()).find((j) => j.error === "Decoding failed.")!;
    const retry = interaction("button-reroll.json", (i) => (i.data.custom_id = `turbowan:retry:${failed.id}`));
    await post(retry);
    const retried = (await stack.jobs.list()).find((j) => j.request.idempotencyKey === `discord:interaction:${retry.id}`)!;
    expect(retried.seed).toBe(failed.seed);
    expect(retried.request.options).toEqual(failed.request.options);

    const unknown = interaction("button-reroll.json", (i) => (i.data.custom_id = "turbowan:reroll:00000000000000000000000000"));
    expect((await post(unknown)).json.data.content).toBe("That video is no longer known; start a new one with /video.");
  });

  it("/jobs lists the caller's videos and /cancel stops the latest unfinished one", async () => {
    const { post, notifier } = await setup();
    await post(interaction("video-command.json"));
    const jobsCmd = interaction("video-command.json", (i) => (i.data = { id: "1", name: "jobs", type: 1 }));
    const list = await post(jobsCmd);
    expect(list.json.data.flags).toBe(64);
    expect(list.json.data.content).toMatch(/^⏳ `[0-9a-z]{26}` queued — a red fox running/);

    const cancel = interaction("video-command.json", (i) => (i.data = { id: "2", name: "cancel", type: 1 }));
    const [job] = await stack.jobs.list();
    expect((await post(cancel)).json.data.content).toBe(`Cancelled \`${job!.id}\`.`);
    expect((await stack.jobs.get(job!.id))!.status).toBe("cancelled");
    await notifier.idle();
    expect((edits(JSON.parse(JSON.stringify(job!.request.replyTo)).interactionToken).at(-1)!.json as any).content).toMatch(/🛑 Cancelled/);
    expect((await post(cancel)).json.data.content).toBe("You have no unfinished video to cancel.");
  });

  it("limits: concurrent-job cap names the queue position; rate limit says when to retry", async () => {
    const { post } = await setup({ limits: { maxConcurrentPerUser: 2, userRate: { burst: 3, perMinute: 1 } } });
    await post(interaction("video-command.json"));
    await post(interaction("video-command.json"));
    const third = await post(interaction("video-command.json"));
    expect(third.json.data.content).toBe("You already have 2 videos in progress (your next one is #1 in the queue); wait for one to finish or cancel one, then try again.");
    await stack.runNext();
    await post(interaction("video-command.json"));
    await stack.runNext();
    const fifth = await post(interaction("video-command.json"));
    expect(fifth.json.data.content).toMatch(/^Slow down: you can start 3 videos in a row, then 1 a minute\. Try again in \d+ s\.$/);
    expect(await stack.queuedCount()).toBe(1);
  });

  it("caps resolution per guild", async () => {
    const { post } = await setup({ limits: { scopes: { "1200000000000000001": { maxResolution: "480p" } } } });
    const res = await post(withOptions(interaction("video-command.json"), [{ name: "resolution", type: 3, value: "720p" }]));
    expect(res.json.data.content).toBe("720p is not enabled here; use resolution 480p.");
  });
});

describe("Discord gateway mode and registration", () => {
  it("the gateway listener answers through the interaction callback with the same handler", async () => {
    const { notifier } = await setup();
    const handler = createInteractionHandler({
      jobs: stack.jobs,
      config: { applicationId: APP_ID, publicKey: signer.publicKeyHex, botToken: BOT_TOKEN, apiBase: discord.apiBase },
    });
    const onInteraction = createGatewayListener(handler);
    const body = interaction("video-command.json");
    discord.registerInteraction(body.token, APP_ID);
    await onInteraction(body);
    await handler.idle();
    expect(discord.interactions.get(body.token)!.respondedWith).toEqual({ type: 5 });
    const callback = discord.requests.find((r) => r.path === `/api/v10/interactions/${body.id}/${body.token}/callback`)!;
    expect(callback.authorization).toBeUndefined();
    expect((await stack.jobs.list())[0]!.request.idempotencyKey).toBe(`discord:interaction:${body.id}`);
    await notifier.idle();
    expect(edits(body.token).length).toBe(1);

    const bad = withOptions(interaction("video-command.json"), [{ name: "steps", type: 4, value: 0 }]);
    discord.registerInteraction(bad.token, APP_ID);
    await onInteraction(bad);
    expect(discord.interactions.get(bad.token)!.respondedWith).toMatchObject({ type: 4, data: { content: "steps must be between 1 and 4.", flags: 64 } });
  });

  it("the discord.js Client routes INTERACTION_CREATE dispatches into that listener", async () => {
    await setup();
    const config = { applicationId: APP_ID, publicKey: signer.publicKeyHex, apiBase: discord.apiBase };
    expect(() => createGatewayBot({ jobs: stack.jobs, config })).toThrow(/gateway mode needs DISCORD_BOT_TOKEN/);
    const bot = createGatewayBot({ jobs: stack.jobs, config: { ...config, botToken: BOT_TOKEN } });
    const body = interaction("video-command.json");
    discord.registerInteraction(body.token, APP_ID);
    bot.client.ws.emit("INTERACTION_CREATE", body, 0); // what the shard does for each dispatch
    await expect.poll(() => discord.interactions.get(body.token)!.respondedWith).toEqual({ type: 5 });
    await bot.stop();
    expect((await stack.jobs.list()).length).toBe(1);
  });

  it("register-commands bulk-overwrites the same list (guild and global) with the bot token", async () => {
    const api = createDiscordApi({ apiBase: discord.apiBase, botToken: BOT_TOKEN });
    const names = await registerCommands({ api, applicationId: APP_ID, guildId: "1200000000000000001" });
    expect(names).toEqual(["video", "jobs", "cancel"]);
    const first = discord.commands.get("guild:1200000000000000001");
    await registerCommands({ api, applicationId: APP_ID, guildId: "1200000000000000001" });
    const second = discord.commands.get("guild:1200000000000000001") as any[];
    expect(second.map((c) => c.name)).toEqual((first as any[]).map((c) => c.name));
    const puts = discord.requests.filter((r) => r.method === "PUT");
    expect(puts.map((r) => r.path)).toEqual([
      `/api/v10/applications/${APP_ID}/guilds/1200000000000000001/commands`,
      `/api/v10/applications/${APP_ID}/guilds/1200000000000000001/commands`,
    ]);
    expect(puts.every((r) => r.authorization === `Bot ${BOT_TOKEN}`)).toBe(true);
    const video = (puts[0]!.json as any[])[0];
    expect(video.options.map((o: any) => o.name)).toEqual(["prompt", "image", "model", "resolution", "aspect", "frames", "steps", "seed", "sigma_max", "attention", "topk", "ode"]);
    await registerCommands({ api, applicationId: APP_ID });
    expect(discord.commands.get("global")!.length).toBe(3);
    await expect(registerCommands({ api: createDiscordApi({ apiBase: discord.apiBase, botToken: "wrong" }), applicationId: APP_ID })).rejects.toThrow(/Unauthorized/);
  });
});
