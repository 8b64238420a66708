// Discord request verification: Ed25519 over `timestamp + raw body` with the application's public
// key (node:crypto, no dependency), plus a freshness window so a captured request cannot be
// replayed later.
import { createPublicKey, verify, type KeyObject } from "node:crypto";

// SubjectPublicKeyInfo DER header for an Ed25519 key; the raw 32-byte key follows it.
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function ed25519PublicKey(hex: string): KeyObject {
  const raw = Buffer.from(hex, "hex");
  if (raw.length !== 32) throw new Error("set DISCORD_PUBLIC_KEY to the application's public key (64 hex characters).");
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

export type VerifyResult = { ok: true } | { ok: false; reason: "missing" | "bad-signature" | "stale" };

export interface DiscordVerifier {
  (signatureHex: string | undefined, timestamp: string | undefined, rawBody: string | Uint8Array): VerifyResult;
}

/** maxSkewSeconds: how far the signed timestamp may be from our clock, either way. */
export function createDiscordVerifier(publicKeyHex: string, options: { clock?: () => number; maxSkewSeconds?: number } = {}): DiscordVerifier {
  const key = ed25519PublicKey(publicKeyHex);
  const clock = options.clock ?? Date.now;
  const maxSkew = options.maxSkewSeconds ?? 300;
  return function verifyDiscordRequest(signatureHex, timestamp, rawBody) {
    if (!signatureHex || !timestamp) return { ok: false, reason: "missing" };
    if (!/^[0-9a-f]{128}$/i.test(signatureHex) || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "bad-signature" };
    const body = typeof rawBody === "string" ? Buffer.from(rawBody, "utf8") : Buffer.from(rawBody);
    const message = Buffer.concat([Buffer.from(timestamp, "utf8"), body]);
    if (!verify(null, message, key, Buffer.from(signatureHex, "hex"))) return { ok: false, reason: "bad-signature" };
    // Checked after the signature, so an attacker cannot probe our clock with unsigned requests.
    if (Math.abs(clock() / 1000 - Number(timestamp)) > maxSkew) return { ok: false, reason: "stale" };
    return { ok: true };
  };
}
