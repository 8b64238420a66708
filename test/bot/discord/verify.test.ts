import { describe, expect, it } from "vitest";
import { createDiscordVerifier, ed25519PublicKey } from "../../../bot/discord/verify.js";
import { newSigner } from "./support.js";

describe("Discord request verification", () => {
  const signer = newSigner();
  const now = 1_764_158_400_000; // a fixed clock
  const verify = createDiscordVerifier(signer.publicKeyHex, { clock: () => now, maxSkewSeconds: 300 });
  const body = '{"type":1}';
  const at = (s: number) => signer.headers(body, Math.floor(now / 1000) + s);

  it("accepts a fresh, correctly signed body", () => {
    const h = at(0);
    expect(verify(h["x-signature-ed25519"], h["x-signature-timestamp"], body)).toEqual({ ok: true });
    expect(verify(h["x-signature-ed25519"], h["x-signature-timestamp"], new TextEncoder().encode(body))).toEqual({ ok: true });
  });

  it("rejects a changed body, timestamp or key, and missing headers", () => {
    const h = at(0);
    expect(verify(h["x-signature-ed25519"], h["x-signature-timestamp"], '{"type":2}')).toEqual({ ok: false, reason: "bad-signature" });
    expect(verify(h["x-signature-ed25519"], String(Number(h["x-signature-timestamp"]) + 1), body)).toEqual({ ok: false, reason: "bad-signature" });
    const other = newSigner().headers(body, Math.floor(now / 1000));
    expect(verify(other["x-signature-ed25519"], other["x-signature-timestamp"], body)).toEqual({ ok: false, reason: "bad-signature" });
    expect(verify(undefined, h["x-signature-timestamp"], body)).toEqual({ ok: false, reason: "missing" });
    expect(verify("zz", h["x-signature-timestamp"], body)).toEqual({ ok: false, reason: "bad-signature" });
  });

  it("rejects stale (replayed) and future timestamps outside the window", () => {
    for (const s of [-301, -3600, 301]) {
      const h = at(s);
      expect(verify(h["x-signature-ed25519"], h["x-signature-timestamp"], body)).toEqual({ ok: false, reason: "stale" });
    }
    for (const s of [-299, 299]) {
      const h = at(s);
      expect(verify(h["x-signature-ed25519"], h["x-signature-timestamp"], body)).toEqual({ ok: true });
    }
  });

  it("says what to set when the public key is malformed", () => {
    expect(() => ed25519PublicKey("abcd")).toThrow(/DISCORD_PUBLIC_KEY/);
  });
});
