import { describe, expect, it } from "vitest";
import { loadSecretsIntoEnv, type SecretReader } from "../../../functions/cloud/secrets.js";

const reader = (text: string): SecretReader & { ids: string[] } => {
  const ids: string[] = [];
  return { ids, read: async (id) => (ids.push(id), text) };
};

describe("loadSecretsIntoEnv", () => {
  it("sets each key of the JSON secret, keeping variables already set and skipping empty values", async () => {
    const env: Record<string, string | undefined> = { DISCORD_PUBLIC_KEY: "local-override" };
    const r = reader(JSON.stringify({ DISCORD_PUBLIC_KEY: "cloud", DISCORD_BOT_TOKEN: "tok", GITHUB_APP_ID: "" }));
    const set = await loadSecretsIntoEnv("turbowan/app", env, r);
    expect(r.ids).toEqual(["turbowan/app"]);
    expect(set).toEqual(["DISCORD_BOT_TOKEN"]);
    expect(env).toEqual({ DISCORD_PUBLIC_KEY: "local-override", DISCORD_BOT_TOKEN: "tok" });
  });

  it("does nothing without a secret id", async () => {
    const r = reader("{}");
    expect(await loadSecretsIntoEnv(undefined, {}, r)).toEqual([]);
    expect(r.ids).toEqual([]);
  });

  it("says how to store the secret when it is not a JSON object of strings", async () => {
    await expect(loadSecretsIntoEnv("s", {}, reader("plain"))).rejects.toThrow(/not JSON/);
    await expect(loadSecretsIntoEnv("s", {}, reader("[1]"))).rejects.toThrow(/JSON object/);
    await expect(loadSecretsIntoEnv("s", {}, reader('{"lower": "x"}'))).rejects.toThrow(/environment variable name/);
    await expect(loadSecretsIntoEnv("s", {}, reader('{"A": 1}'))).rejects.toThrow(/must be a string/);
  });
});
