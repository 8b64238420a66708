import { describe, expect, it } from "vitest";
import { buttonId, parseButtonId, progressFraction, renderJobList, renderProgress, renderQueued, renderSucceeded } from "../../../bot/discord/render.js";
import { optionsFor } from "../../../bot/discord/components.js";
import { rawVideoCommand, replyToOf, requesterOf } from "../../../bot/discord/to-job.js";
import { generationOptionsSchema, type JobRecord } from "../../../functions/jobs/model.js";
import { fixture } from "./support.js";

const job: JobRecord = {
  id: "01jd0000000000000000000000",
  request: {
    kind: "t2v",
    prompt: "a red fox in snow @everyone",
    options: generationOptionsSchema.parse({ seed: 5 }),
    replyTo: { platform: "web" },
    requester: { platform: "discord", id: "1" },
    idempotencyKey: "k",
  },
  status: "running",
  seed: 5,
  timingsMs: {},
  artifacts: {},
  attempts: 1,
  createdAt: "2026-11-26T12:00:00.000Z",
  updatedAt: "2026-11-26T12:00:00.000Z",
  startedAt: "2026-11-26T12:00:00.000Z",
};

describe("Discord rendering (pure)", () => {
  it("shows progress with a bar, stage, steps and elapsed time, and never pings", () => {
    const body = renderProgress(job, { stage: "denoise", step: 2, total: 4 }, Date.parse("2026-11-26T12:01:05Z"));
    expect(body.content).toContain("📊 ██████░░░░░░ 50% · Sampling (2/4) · ⏱️ 1m05s");
    expect(body.allowed_mentions).toEqual({ parse: [] });
    expect(renderQueued(job, 3).content).toMatch(/⏳ Queued — #3 in the queue\.$/);
  });

  it("progress moves forward through the stages", () => {
    const order = [
      { stage: "load", step: 1, total: 1 },
      { stage: "denoise", step: 1, total: 4 },
      { stage: "denoise", step: 4, total: 4 },
      { stage: "decode", step: 1, total: 2 },
      { stage: "upload", step: 1, total: 1 },
    ] as const;
    const f = order.map((p) => progressFraction(p));
    expect([...f].sort((a, b) => a - b)).toEqual(f);
    expect(f.at(-1)).toBe(1);
  });

  it("result buttons round-trip through custom ids", () => {
    expect(parseButtonId(buttonId("hd", job.id))).toEqual({ action: "hd", jobId: job.id });
    expect(parseButtonId("turbowan:delete:x")).toBeUndefined();
    const ok = renderSucceeded({ ...job, status: "succeeded" }, { attachmentName: "a.mp4" }, Date.now());
    expect((ok.components as any)[0].components.map((c: any) => c.label)).toEqual(["Re-roll", "Same seed at 720p"]);
    const hd = renderSucceeded({ ...job, request: { ...job.request, options: { ...job.request.options, resolution: "720p" } } }, {}, Date.now());
    expect((hd.components as any)[0].components.map((c: any) => c.label)).toEqual(["Re-roll"]);
  });

  it("button options: re-roll drops the seed, 720p and retry keep it", () => {
    expect(optionsFor("reroll", job.request.options, 5).seed).toBeUndefined();
    expect(optionsFor("hd", job.request.options, 5)).toMatchObject({ seed: 5, resolution: "720p" });
    expect(optionsFor("retry", job.request.options, 5)).toEqual({ ...job.request.options, seed: 5 });
  });

  it("lists jobs for /jobs", () => {
    expect(renderJobList([])).toBe("You have no videos yet. Start one with /video.");
    expect(renderJobList([{ ...job, progress: { stage: "denoise", step: 2, total: 4 } }])).toBe(`⚙️ \`${job.id}\` running 50% — a red fox in snow @everyone`);
  });
});

describe("Discord payload → job parts (pure)", () => {
  it("reads the requester, reply target and options from a real-shaped interaction", () => {
    const i = fixture("video-command-image.json");
    expect(requesterOf(i)).toEqual({ platform: "discord", id: "1100000000000000001", name: "Fox Fan", scope: "1200000000000000001" });
    expect(replyToOf(i, 1000)).toEqual({
      platform: "discord",
      applicationId: "1234567890123456789",
      interactionToken: i.token,
      channelId: "1200000000000000002",
      guildId: "1200000000000000001",
      tokenIssuedAt: 1000,
      attachmentSizeLimit: 10485760,
    });
    expect(rawVideoCommand(i)).toEqual({
      prompt: "the lighthouse beam sweeps across the waves",
      image: { url: expect.stringMatching(/^https:\/\/cdn\.discordapp\.com\//), size: 4096, contentType: "image/png", filename: "lighthouse.png" },
      options: { steps: 2 },
    });
  });

  it("DMs have no guild scope", () => {
    const i = fixture("video-command.json");
    delete i.guild_id;
    delete i.guild;
    i.user = i.member.user;
    delete i.member;
    expect(requesterOf(i)).toMatchObject({ id: "1100000000000000001", scope: undefined });
    expect(replyToOf(i, 0).guildId).toBeUndefined();
  });
});
