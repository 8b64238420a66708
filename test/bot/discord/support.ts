// Builds signed interaction requests with a real Ed25519 key generated for the test.
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";

export interface Signer {
  publicKeyHex: string;
  privateKey: KeyObject;
  headers(body: string, timestamp?: number): Record<string, string>;
}

export function newSigner(): Signer {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const x = publicKey.export({ format: "jwk" }).x!;
  const publicKeyHex = Buffer.from(x, "base64url").toString("hex");
  return {
    publicKeyHex,
    privateKey,
    headers(body, timestamp = Math.floor(Date.now() / 1000)) {
      const ts = String(timestamp);
      const signature = sign(null, Buffer.from(ts + body), privateKey).toString("hex");
      return { "content-type": "application/json", "x-signature-ed25519": signature, "x-signature-timestamp": ts };
    },
  };
}

const FIXTURES = new URL("../../fixtures/discord/", import.meta.url);

export function fixture(name: string): any {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), "utf8"));
}

let counter = 0;
/** A fixture with a fresh interaction id and token (each real interaction has its own). */
export function interaction(name: string, edit?: (i: any) => void): any {
  const i = fixture(name);
  counter++;
  i.id = String(BigInt(i.id) + BigInt(counter * 1000));
  i.token = `${i.token}-${counter}`;
  edit?.(i);
  return i;
}

export function withOptions(i: any, options: { name: string; type: number; value: unknown }[]): any {
  i.data.options = [{ name: "prompt", type: 3, value: "a red fox in snow" }, ...options];
  return i;
}
