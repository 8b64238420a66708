// functions/config.ts: defaults, and messages that say what to set.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../functions/config.js";

describe("loadConfig", () => {
  it("has the documented defaults on an empty environment", () => {
    const c = loadConfig({});
    expect(c.dataDir).toBe(path.resolve("./data"));
    expect(c.queue).toEqual({ driver: "sqlite", path: path.resolve("./data/queue.sqlite") });
    expect(c.store).toEqual({ driver: "local", dir: path.resolve("./data/store") });
    expect(c.publicUrl).toBe("http://localhost:8787");
    expect(loadConfig({ TURBOWAN_PORT: "9001" }).publicUrl).toBe("http://localhost:9001");
    expect(c.port).toBe(8787);
    expect(c.modelsDir).toBe(path.resolve("./models"));
    expect(c.models).toEqual(["demo"]);
    expect(c.backend).toBe("auto");
    expect(c.textEncoderWeights).toBe("auto");
    expect(c.discord).toBeUndefined();
    expect(c.github).toBeUndefined();
    expect(c.logLevel).toBe("info");
  });

  it("reads the drivers and lists", () => {
    const c = loadConfig({
      TURBOWAN_QUEUE: "sqs",
      TURBOWAN_SQS_QUEUE_URL: "http://127.0.0.1:9324/000000000000/jobs",
      TURBOWAN_STORE: "s3",
      TURBOWAN_S3_BUCKET: "artifacts",
      AWS_REGION: "us-east-1",
      TURBOWAN_MODELS: "demo, wan2.1-t2v-1.3b",
      TURBOWAN_PORT: "9000",
      TURBOWAN_PUBLIC_URL: "https://tw.example.com/",
    });
    expect(c.queue).toMatchObject({ driver: "sqs", queueUrl: "http://127.0.0.1:9324/000000000000/jobs", region: "us-east-1" });
    expect(c.store).toMatchObject({ driver: "s3", bucket: "artifacts", prefix: "" });
    expect(c.models).toEqual(["demo", "wan2.1-t2v-1.3b"]);
    expect(c.port).toBe(9000);
    expect(c.publicUrl).toBe("https://tw.example.com");
  });

  it.each([
    [{ TURBOWAN_QUEUE: "sqs" }, /set TURBOWAN_SQS_QUEUE_URL/],
    [{ TURBOWAN_QUEUE: "redis" }, /set TURBOWAN_QUEUE to sqlite/],
    [{ TURBOWAN_STORE: "s3" }, /set TURBOWAN_S3_BUCKET/],
    [{ TURBOWAN_PORT: "http" }, /set TURBOWAN_PORT/],
    [{ TURBOWAN_MODELS: "demo,sora" }, /set TURBOWAN_MODELS to a comma list/],
    [{ TURBOWAN_BACKEND: "metal" }, /set TURBOWAN_BACKEND/],
    [{ TURBOWAN_TEXT_ENCODER_WEIGHTS: "fp8" }, /set TURBOWAN_TEXT_ENCODER_WEIGHTS to auto/],
    [{ TURBOWAN_PUBLIC_URL: "localhost" }, /set TURBOWAN_PUBLIC_URL/],
    [{ DISCORD_APPLICATION_ID: "1" }, /DISCORD_PUBLIC_KEY/],
    [{ GITHUB_APP_ID: "1" }, /GITHUB_WEBHOOK_SECRET/],
    [{ LOG_LEVEL: "loud" }, /set LOG_LEVEL/],
  ])("%o is refused with a message that says what to set", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it.each(["bf16", "int8", "auto"] as const)("reads TURBOWAN_TEXT_ENCODER_WEIGHTS=%s", (w) => {
    expect(loadConfig({ TURBOWAN_TEXT_ENCODER_WEIGHTS: w }).textEncoderWeights).toBe(w);
  });

  it("lists every problem at once", () => {
    try {
      loadConfig({ TURBOWAN_QUEUE: "sqs", TURBOWAN_STORE: "s3" });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/TURBOWAN_SQS_QUEUE_URL[\s\S]*TURBOWAN_S3_BUCKET/);
    }
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig({ TURBOWAN_PORT: "", TURBOWAN_QUEUE: "" }).port).toBe(8787);
  });

  it("reads the frontends' limits and GitHub allowlists, and says what is wrong with them", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const pem = "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----";
    const gh = { GITHUB_APP_ID: "1", GITHUB_PRIVATE_KEY: pem, GITHUB_WEBHOOK_SECRET: "s" };
    const c = loadConfig({
      ...gh,
      GITHUB_ALLOWED_ASSOCIATIONS: "owner, member",
      GITHUB_ALLOWED_LOGINS: "octocat,hubot",
      GITHUB_ALLOWED_REPOS: "acme/*",
      TURBOWAN_LIMITS: JSON.stringify({ maxConcurrentPerUser: 1, maxResolution: "480p", scopes: { "acme/site": { maxFrames: 49 } } }),
    });
    expect(c.github).toMatchObject({ allowedAssociations: ["OWNER", "MEMBER"], allowedLogins: ["octocat", "hubot"], allowedRepos: ["acme/*"] });
    expect(c.limits).toMatchObject({ maxConcurrentPerUser: 1, maxResolution: "480p", scopes: { "acme/site": { maxFrames: 49 } } });
    expect(c.limits?.userRate).toEqual({ burst: 5, perMinute: 1 }); // defaults fill the rest

    const file = path.join(mkdtempSync(path.join(tmpdir(), "tw-limits-")), "limits.json");
    writeFileSync(file, JSON.stringify({ maxFrames: 33 }));
    expect(loadConfig({ TURBOWAN_LIMITS_FILE: file }).limits?.maxFrames).toBe(33);

    expect(() => loadConfig({ TURBOWAN_LIMITS: "{nope" })).toThrow(/TURBOWAN_LIMITS is not valid JSON/);
    expect(() => loadConfig({ TURBOWAN_LIMITS: JSON.stringify({ maxResolution: "4k" }) })).toThrow(/TURBOWAN_LIMITS: maxResolution:/);
    expect(() => loadConfig({ TURBOWAN_LIMITS_FILE: "/nonexistent/limits.json" })).toThrow(/TURBOWAN_LIMITS_FILE/);
    expect(() => loadConfig({ ...gh, GITHUB_ALLOWED_ASSOCIATIONS: "OWNER,BOSS" })).toThrow(/GITHUB_ALLOWED_ASSOCIATIONS.*BOSS/);
  });
});
