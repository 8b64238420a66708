import { describe, expect, it } from "vitest";
import { createLimits } from "../../bot/limits.js";
import { parseCommand, type ParsedCommand } from "../../bot/grammar.js";
import type { JobRecord, Requester } from "../../functions/jobs/model.js";

// The limits read active jobs through JobService.list only; this fixed list stands in for it here
// (the end-to-end suites run the limits over the real job service).
function jobsOf(records: Partial<JobRecord>[]) {
  return {
    async list(filter?: { status?: JobRecord["status"] }) {
      return records.filter((r) => !filter?.status || r.status === filter.status) as JobRecord[];
    },
  };
}
const job = (id: string, status: JobRecord["status"], requester: Requester, createdAt: string): Partial<JobRecord> =>
  ({ id, status, createdAt, request: { requester } as JobRecord["request"] });

function cmd(options: Record<string, unknown> = {}, prompt = "a fox"): ParsedCommand {
  const r = parseCommand({ prompt, options });
  if (!r.ok) throw new Error(r.error);
  return r.command;
}
const alice: Requester = { platform: "discord", id: "111", scope: "guild-1" };
const bob: Requester = { platform: "discord", id: "222", scope: "guild-1" };

describe("limits", () => {
  it("rate-limits per user with a token bucket and says when to retry", async () => {
    let now = 0;
    const limits = createLimits({ userRate: { burst: 2, perMinute: 1 } }, { jobs: jobsOf([]), clock: () => now });
    expect(await limits.admit(alice, cmd())).toEqual({ ok: true });
    expect(await limits.admit(alice, cmd())).toEqual({ ok: true });
    expect(await limits.admit(alice, cmd())).toEqual({ ok: false, error: expect.stringMatching(/^Slow down: .* Try again in 60 s\.$/) });
    expect(await limits.admit(bob, cmd())).toEqual({ ok: true }); // buckets are per user
    now = 30_000;
    expect(await limits.admit(alice, cmd())).toMatchObject({ error: expect.stringMatching(/Try again in 30 s/) });
    now = 60_000;
    expect(await limits.admit(alice, cmd())).toEqual({ ok: true });
  });

  it("rate-limits per guild/repo", async () => {
    const limits = createLimits({ scopeRate: { burst: 1, perMinute: 2 } }, { jobs: jobsOf([]), clock: () => 0 });
    expect((await limits.admit(alice, cmd())).ok).toBe(true);
    expect(await limits.admit(bob, cmd())).toEqual({ ok: false, error: "This server is starting videos too fast. Try again in 30 s." });
    expect((await limits.admit({ ...bob, scope: "guild-2" }, cmd())).ok).toBe(true);
  });

  it("caps concurrent jobs per user, naming the queue position", async () => {
    const jobs = jobsOf([
      job("a", "running", alice, "2026-01-01T00:00:00Z"),
      job("b", "queued", bob, "2026-01-01T00:00:01Z"),
      job("c", "queued", alice, "2026-01-01T00:00:02Z"),
    ]);
    const limits = createLimits({}, { jobs });
    expect(await limits.admit(alice, cmd())).toEqual({
      ok: false,
      error: "You already have 2 videos in progress (your next one is #2 in the queue); wait for one to finish or cancel one, then try again.",
    });
    expect((await limits.admit(bob, cmd())).ok).toBe(true);
    const perScope = createLimits({ maxConcurrentPerScope: 3 }, { jobs });
    expect(await perScope.admit({ ...bob, id: "333" }, cmd())).toMatchObject({ error: expect.stringMatching(/This server already has 3 videos in progress \(the limit is 3\)/) });
  });

  it("caps resolution and frames per guild or repo", async () => {
    const limits = createLimits({ maxFrames: 81, scopes: { "guild-1": { maxResolution: "480p", maxFrames: 49 } } }, { jobs: jobsOf([]) });
    expect(await limits.admit(alice, cmd({ resolution: "720p" }))).toEqual({ ok: false, error: "720p is not enabled here; use resolution 480p." });
    expect(await limits.admit(alice, cmd({ frames: 81 }))).toEqual({ ok: false, error: "frames is capped at 49 here; choose 49 or fewer." });
    const elsewhere = { ...alice, scope: "guild-9" };
    expect((await limits.admit(elsewhere, cmd({ resolution: "720p", frames: 81 }))).ok).toBe(true);
    expect((await limits.admit(elsewhere, cmd({ frames: 161 }))).ok).toBe(false);
  });

  it("limits prompt length and image size", async () => {
    const limits = createLimits({ maxPromptChars: 10, maxImageBytes: 1024 * 1024 }, { jobs: jobsOf([]) });
    expect(await limits.admit(alice, cmd({}, "x".repeat(11)))).toEqual({ ok: false, error: "The prompt is too long: keep it under 10 characters." });
    const withImage = { ...cmd({}, "x"), kind: "i2v" as const, image: { url: "u", size: 3 * 1024 * 1024 } };
    expect(await limits.admit(alice, withImage)).toEqual({ ok: false, error: "The image is 3 MB; images up to 1 MB are accepted." });
    expect(limits.checkImageBytes(1024)).toEqual({ ok: true });
  });

  it("applies optional allowlists of users and guilds/repos", async () => {
    const limits = createLimits({ allowUsers: ["111", "octocat"], allowScopes: ["guild-1", "octo-org/*"] }, { jobs: jobsOf([]) });
    expect((await limits.admit(alice, cmd())).ok).toBe(true);
    expect(await limits.admit(bob, cmd())).toMatchObject({ error: expect.stringMatching(/not enabled for you here/) });
    expect(limits.isAllowed({ platform: "github", id: "octocat", scope: "octo-org/any" })).toBe(true);
    expect(limits.isAllowed({ platform: "github", id: "octocat", scope: "other/any" })).toBe(false);
    expect(limits.isAllowed({ platform: "discord", id: "111" })).toBe(false); // DMs have no scope
  });
});
