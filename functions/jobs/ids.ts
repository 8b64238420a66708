// Job ids and seeds.
import { randomBytes, randomInt } from "node:crypto";

// Crockford base32, as ULID uses: sorts in time order as a plain string, no ambiguous letters.
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

let lastTime = 0;
let lastRandom = 0n;

/** A 26-character ULID-style id: 10 chars of ms timestamp + 16 random chars. Ids made later sort
 * later (within one process, also within the same millisecond), so listing newest-first is a
 * reverse sort by id and S3/directory listings come back in creation order. */
export function newJobId(now = Date.now()): string {
  let random: bigint;
  if (now <= lastTime) {
    // Same millisecond (or a clock step back): keep the time, bump the random part so order holds.
    now = lastTime;
    random = lastRandom + 1n;
  } else {
    random = BigInt("0x" + randomBytes(10).toString("hex"));
  }
  lastTime = now;
  lastRandom = random;
  return encode(BigInt(now), 10) + encode(random & ((1n << 80n) - 1n), 16);
}

function encode(value: bigint, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

export const JOB_ID = /^[0-9a-hjkmnp-tv-z]{26}$/;

/** A uniformly random 32-bit seed (the range the model schema accepts). */
export function randomSeed(): number {
  return randomInt(0, 0x1_0000_0000);
}
